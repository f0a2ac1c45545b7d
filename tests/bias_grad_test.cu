// Bias gradients through cuBLAS (kernels/bias_grad.cuh) against their CPU reference: linear rows
// (plane 1) and convolution planes of the study's sizes and odd ones, edge values, NaN.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <random>
#include <vector>

#include "gpu/device_buffer.h"
#include "gpu/gpu_context.h"
#include "kernels/bias_grad.cuh"
#include "kernels/bias_grad_ref.h"
#include "tests/gpu_test_util.h"
#include "tests/test_inputs.h"

namespace ptq {
namespace {

// A float32 sum of n terms, in any order, is within n * 2^-24 of the sum of their magnitudes
// (analytic); the two SGEMVs add plane then batch terms per channel.
double tolerance(const std::vector<float>& dy, int batch, int channels, int plane, int c) {
  double magnitude = 0;
  for (int n = 0; n < batch; ++n)
    for (int p = 0; p < plane; ++p)
      magnitude += std::abs(dy[(static_cast<std::size_t>(n) * channels + c) * plane + p]);
  return (plane + batch) * std::ldexp(1.0, -24) * magnitude + 1e-30;
}

struct Case {
  int batch, channels, plane;
};

std::vector<float> run(GpuContext& ctx, const std::vector<float>& dy, const Case& c) {
  DeviceBuffer<float> d_dy, d_ones, d_partial(static_cast<std::size_t>(c.batch) * c.channels),
      d_db(static_cast<std::size_t>(c.channels));
  d_dy.upload(dy);
  d_ones.upload(std::vector<float>(static_cast<std::size_t>(std::max(c.batch, c.plane)), 1.0f));
  bias_gradient(ctx.cublas(), d_dy.data(), c.batch, c.channels, c.plane, d_ones.data(),
                d_partial.data(), d_db.data());
  ctx.synchronize();
  return d_db.to_host();
}

TEST(BiasGradient, MatchesTheReferenceOnLinearRowsAndConvolutionPlanes) {
  PTQ_REQUIRE_GPU();
  GpuContext ctx;
  std::mt19937_64 rng(test::kSeed);
  const Case cases[] = {
      {1, 1, 1},       {3, 10, 1},      {128, 4096, 1},  // linear layers (VGG's 4096, the logits)
      {1, 1, 7},       {2, 3, 35},      {7, 5, 16},      // odd planes and counts
      {128, 32, 1024}, {256, 64, 1024}, {256, 2048, 16}, {128, 256, 64}};  // the study's
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::Message() << c.batch << " x " << c.channels << " x " << c.plane);
    std::vector<float> dy =
        test::normal_values(static_cast<std::size_t>(c.batch) * c.channels * c.plane, 1.0f, rng);
    // Edge values where there is room: +-0 and a subnormal; large values of both signs.
    if (dy.size() >= 8) {
      dy[0] = 0.0f, dy[1] = -0.0f, dy[2] = std::numeric_limits<float>::denorm_min();
      dy[3] = 3e30f, dy[dy.size() - 1] = -3e30f, dy[dy.size() / 2] = 1e20f;
    }
    std::vector<float> want;
    bias_gradient_ref(dy, c.batch, c.channels, c.plane, want);
    const std::vector<float> got = run(ctx, dy, c);
    ASSERT_EQ(got.size(), want.size());
    for (int k = 0; k < c.channels; ++k) {
      ASSERT_NEAR(got[k], want[k], tolerance(dy, c.batch, c.channels, c.plane, k))
          << "channel " << k;
    }
  }
}

TEST(BiasGradient, ANaNReachesItsChannelOnly) {
  PTQ_REQUIRE_GPU();
  GpuContext ctx;
  std::mt19937_64 rng(test::kSeed + 1);
  for (const Case& c : {Case{4, 6, 1}, Case{4, 6, 9}}) {
    SCOPED_TRACE(::testing::Message() << "plane " << c.plane);
    std::vector<float> dy =
        test::normal_values(static_cast<std::size_t>(c.batch) * c.channels * c.plane, 1.0f, rng);
    dy[(static_cast<std::size_t>(2) * c.channels + 3) * c.plane] =
        std::numeric_limits<float>::quiet_NaN();  // image 2, channel 3
    const std::vector<float> got = run(ctx, dy, c);
    for (int k = 0; k < c.channels; ++k) EXPECT_EQ(std::isnan(got[k]), k == 3) << "channel " << k;
  }
}

}  // namespace
}  // namespace ptq
