// The memory-bound layer kernels (kernels/elementwise.cuh) against their CPU references, bit for
// bit: hand-checked edge values (+-0, the ReLU6 ceiling and its neighbours, +-Inf, NaN,
// subnormals), sizes 0, 1, odd and not a multiple of a block, arrays off 16-byte alignment (the
// one-float path), beta 0 over a destination of NaNs (never read), and the study's concatenations.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>
#include <random>
#include <stdexcept>
#include <vector>

#include "gpu/device_buffer.h"
#include "gpu/gpu_context.h"
#include "kernels/elementwise.cuh"
#include "kernels/elementwise_ref.h"
#include "tests/gpu_test_util.h"
#include "tests/test_inputs.h"

namespace ptq {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

std::uint32_t bits(float v) {
  std::uint32_t b;
  std::memcpy(&b, &v, sizeof b);
  return b;
}

// Equal bits, or both NaN (a NaN made on the device and one made on the host differ in sign).
void expect_same(const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(want[i]) && std::isnan(got[i])) continue;
    ASSERT_EQ(bits(got[i]), bits(want[i])) << "at " << i << ": " << got[i] << " vs " << want[i];
  }
}

// Normal values scaled to cover the ReLU6 ceiling, with the edge values spread over the array.
std::vector<float> inputs(std::size_t n, std::mt19937_64& rng) {
  std::vector<float> v = test::normal_values(n, 4.0f, rng);
  const float edges[] = {0.0f,
                         -0.0f,
                         6.0f,
                         std::nextafter(6.0f, 0.0f),
                         std::nextafter(6.0f, 7.0f),
                         kInf,
                         -kInf,
                         kNaN,
                         std::numeric_limits<float>::denorm_min(),
                         -std::numeric_limits<float>::denorm_min(),
                         1e30f,
                         -1e30f};
  for (std::size_t k = 0; k < std::size(edges) && k < n; ++k) v[(k * 7919) % n] = edges[k];
  return v;
}

// Device copy of h at `shift` floats past a 16-byte boundary (1: the one-float path).
struct Shifted {
  DeviceBuffer<float> buffer;
  std::size_t shift;
  Shifted(const std::vector<float>& h, std::size_t shift_) : buffer(h.size() + 4), shift(shift_) {
    std::vector<float> padded(h.size() + 4, kNaN);
    for (std::size_t i = 0; i < h.size(); ++i) padded[shift + i] = h[i];
    buffer.upload(padded);
  }
  float* data() { return buffer.data() + shift; }
  std::vector<float> to_host(std::size_t n) const {
    const std::vector<float> all = buffer.to_host();
    return {all.begin() + static_cast<std::ptrdiff_t>(shift),
            all.begin() + static_cast<std::ptrdiff_t>(shift + n)};
  }
};

// The last is above one pass of the grid-stride loops in float4s (at most 4 waves of 2048
// threads on each of an H200's 132 multiprocessors: 4.3 M floats).
const std::size_t kCounts[] = {0, 1, 3, 4, 5, 255, 1025, 4 * 1024 + 3, 9 * 1000 * 1000 + 2};

TEST(ActivationRef, HandCheckedEdges) {
  std::vector<float> y;
  activation_forward_ref(Activation::kRelu6, {-1.0f, -0.0f, 0.0f, 5.5f, 6.0f, 7.0f, kInf, kNaN}, y);
  const std::vector<float> want = {0.0f, -0.0f, 0.0f, 5.5f, 6.0f, 6.0f, 6.0f, kNaN};
  expect_same(y, want);
  activation_forward_ref(Activation::kRelu, {-kInf, 7.0f, kInf}, y);
  expect_same(y, {0.0f, 7.0f, kInf});
  // The gradient passes strictly inside (0, ceiling): not at 0, not at 6 for ReLU6.
  std::vector<float> dx = {1.0f, 1.0f, 1.0f, 1.0f};
  activation_backward_ref(Activation::kRelu6, {0.0f, 3.0f, 6.0f, kNaN}, {2.0f, 2.0f, 2.0f, 2.0f},
                          0.5f, dx);
  expect_same(dx, {0.5f, 2.5f, 0.5f, 0.5f});
  activation_backward_ref(Activation::kRelu, {6.0f, kInf, 0.0f}, {2.0f, 2.0f, 2.0f}, 0.0f, dx);
  expect_same(dx, {2.0f, 2.0f, 0.0f});
}

TEST(ActivationForward, MatchesTheReferenceBitForBit) {
  PTQ_REQUIRE_GPU();
  GpuContext ctx;
  std::mt19937_64 rng(test::kSeed);
  for (const Activation act : {Activation::kRelu, Activation::kRelu6}) {
    for (const std::size_t n : kCounts) {
      for (const std::size_t shift : {0, 1}) {
        SCOPED_TRACE(::testing::Message() << "relu" << (act == Activation::kRelu6 ? "6" : "")
                                          << ", " << n << " floats, shift " << shift);
        const std::vector<float> x = inputs(n, rng);
        std::vector<float> want;
        activation_forward_ref(act, x, want);
        Shifted d_x(x, shift), d_y(std::vector<float>(n, kNaN), shift);
        activation_forward(act, d_x.data(), n, d_y.data(), ctx.stream());
        ctx.synchronize();
        expect_same(d_y.to_host(n), want);
      }
    }
  }
}

TEST(ActivationBackward, MatchesTheReferenceForEveryBeta) {
  PTQ_REQUIRE_GPU();
  GpuContext ctx;
  std::mt19937_64 rng(test::kSeed + 1);
  for (const Activation act : {Activation::kRelu, Activation::kRelu6}) {
    for (const std::size_t n : kCounts) {
      for (const float beta : {0.0f, 1.0f, 0.5f}) {
        for (const std::size_t shift : {0, 1}) {
          SCOPED_TRACE(::testing::Message()
                       << "relu" << (act == Activation::kRelu6 ? "6" : "") << ", " << n
                       << " floats, beta " << beta << ", shift " << shift);
          std::vector<float> y;
          activation_forward_ref(act, inputs(n, rng), y);
          const std::vector<float> dy = inputs(n, rng);
          // beta 0 must not read dx: NaNs there would show.
          std::vector<float> dx = beta == 0.0f ? std::vector<float>(n, kNaN) : inputs(n, rng);
          Shifted d_y(y, shift), d_dy(dy, shift), d_dx(dx, shift);
          activation_backward_ref(act, y, dy, beta, dx);
          activation_backward(act, d_y.data(), d_dy.data(), n, beta, d_dx.data(), ctx.stream());
          ctx.synchronize();
          expect_same(d_dx.to_host(n), dx);
        }
      }
    }
  }
}

TEST(AddTensors, MatchesTheReferenceBitForBit) {
  PTQ_REQUIRE_GPU();
  GpuContext ctx;
  std::mt19937_64 rng(test::kSeed + 2);
  for (const std::size_t n : kCounts) {
    for (const std::size_t shift : {0, 1}) {
      SCOPED_TRACE(::testing::Message() << n << " floats, shift " << shift);
      const std::vector<float> a = inputs(n, rng), b = inputs(n, rng);
      std::vector<float> want;
      add_tensors_ref(a, b, want);
      Shifted d_a(a, shift), d_b(b, 0), d_y(std::vector<float>(n, kNaN), shift);
      add_tensors(d_a.data(), d_b.data(), n, d_y.data(), ctx.stream());
      ctx.synchronize();
      expect_same(d_y.to_host(n), want);
    }
  }
}

// A concatenation of `widths` (floats per image) over `rows` images, forward (into one image
// layout `gap` floats wider than the slices, the gap left untouched) and backward (out of it, with
// beta), against copy_slice_ref on the same host arrays.
void check_concat(GpuContext& ctx, const std::vector<std::size_t>& widths, std::size_t rows,
                  std::size_t gap, float beta, std::mt19937_64& rng) {
  std::size_t stride = gap;
  for (const std::size_t w : widths) stride += w;
  SCOPED_TRACE(::testing::Message() << widths.size() << " slices, " << rows << " rows of " << stride
                                    << " floats, beta " << beta);
  std::vector<std::vector<float>> parts;
  std::vector<DeviceBuffer<float>> d_parts;
  for (const std::size_t w : widths) {
    parts.push_back(inputs(w * rows, rng));
    d_parts.emplace_back();
    d_parts.back().upload(parts.back());
  }
  // Forward: every slice into the image layout, over NaNs (beta 0 must not read them; the gap keeps
  // them).
  std::vector<float> image(stride * rows, kNaN);
  DeviceBuffer<float> d_image;
  d_image.upload(image);
  std::vector<SliceCopy> slices;
  std::size_t offset = 0;
  for (std::size_t k = 0; k < widths.size(); ++k) {
    copy_slice_ref(parts[k].data(), widths[k], image.data() + offset, stride, widths[k], rows,
                   0.0f);
    slices.push_back(
        {d_parts[k].data(), widths[k], d_image.data() + offset, stride, widths[k], 0.0f});
    offset += widths[k];
  }
  copy_slices(slices.data(), static_cast<int>(slices.size()), rows, ctx.stream());
  ctx.synchronize();
  expect_same(d_image.to_host(), image);
  // Backward: each slice of the image out into (beta 0: over NaNs) or onto its part.
  slices.clear(), offset = 0;
  for (std::size_t k = 0; k < widths.size(); ++k) {
    if (beta == 0.0f) {
      std::fill(parts[k].begin(), parts[k].end(), kNaN);
      d_parts[k].upload(parts[k]);
    }
    copy_slice_ref(image.data() + offset, stride, parts[k].data(), widths[k], widths[k], rows,
                   beta);
    slices.push_back(
        {d_image.data() + offset, stride, d_parts[k].data(), widths[k], widths[k], beta});
    offset += widths[k];
  }
  copy_slices(slices.data(), static_cast<int>(slices.size()), rows, ctx.stream());
  ctx.synchronize();
  for (std::size_t k = 0; k < widths.size(); ++k) {
    SCOPED_TRACE(::testing::Message() << "slice " << k);
    expect_same(d_parts[k].to_host(), parts[k]);
  }
}

TEST(CopySlices, ConcatenatesTheStudysInceptionBranchesAndOddShapes) {
  PTQ_REQUIRE_GPU();
  GpuContext ctx;
  std::mt19937_64 rng(test::kSeed + 3);
  for (const float beta : {0.0f, 1.0f, 0.5f}) {
    // Inception_BN's first block at 32 x 32 (64 + 128 + 32 + 32 channels), 3 images; its last at
    // 8 x 8 (384 + 384 + 128 + 128).
    check_concat(ctx, {64 * 1024, 128 * 1024, 32 * 1024, 32 * 1024}, 3, 0, beta, rng);
    check_concat(ctx, {384 * 64, 384 * 64, 128 * 64, 128 * 64}, 5, 0, beta, rng);
    // More rows than the launch has row blocks (8 on a 132-multiprocessor GPU, for 4 slices 128
    // blocks wide): Inception_BN's first block over 40 images.
    check_concat(ctx, {64 * 1024, 128 * 1024, 32 * 1024, 32 * 1024}, 40, 0, beta, rng);
    // One launch of a float4 slice (8 wide, stride 16) and one-float slices (odd widths, offsets
    // off 16 bytes); an empty slice among them.
    check_concat(ctx, {8, 3, 0, 5}, 7, 0, beta, rng);
    check_concat(ctx, {3, 8, 5}, 7, 1, beta, rng);  // all one-float: stride 17
    check_concat(ctx, {16, 4}, 9, 4, beta, rng);
    check_concat(ctx, {1}, 1, 0, beta, rng);
    check_concat(ctx, {7, 1, 2, 3, 4, 5, 6, 12}, 33, 0, beta, rng);  // kMaxSlices slices
  }
}

TEST(CopySlices, OneRowIsAPlainCopyOrAccumulation) {
  PTQ_REQUIRE_GPU();
  GpuContext ctx;
  std::mt19937_64 rng(test::kSeed + 4);
  for (const std::size_t n : kCounts) {
    for (const float beta : {0.0f, 1.0f}) {
      for (const std::size_t shift : {0, 1}) {
        SCOPED_TRACE(::testing::Message() << n << " floats, beta " << beta << ", shift " << shift);
        const std::vector<float> src = inputs(n, rng);
        std::vector<float> dst = beta == 0.0f ? std::vector<float>(n, kNaN) : inputs(n, rng);
        Shifted d_src(src, 0), d_dst(dst, shift);
        copy_slice_ref(src.data(), 0, dst.data(), 0, n, 1, beta);
        const SliceCopy s{d_src.data(), 0, d_dst.data(), 0, n, beta};
        copy_slices(&s, 1, 1, ctx.stream());
        ctx.synchronize();
        expect_same(d_dst.to_host(n), dst);
      }
    }
  }
}

TEST(CopySlices, RejectsTooManySlicesAndWidthsAboveTheirStride) {
  PTQ_REQUIRE_GPU();
  GpuContext ctx;
  DeviceBuffer<float> a(64), b(64);
  std::vector<SliceCopy> many(kMaxSlices + 1, SliceCopy{a.data(), 4, b.data(), 4, 4, 0.0f});
  EXPECT_THROW(copy_slices(many.data(), kMaxSlices + 1, 2, ctx.stream()), std::invalid_argument);
  const SliceCopy wide{a.data(), 4, b.data(), 8, 5, 0.0f};
  EXPECT_THROW(copy_slices(&wide, 1, 2, ctx.stream()), std::invalid_argument);
  const SliceCopy none{nullptr, 4, b.data(), 4, 4, 0.0f};
  EXPECT_THROW(copy_slices(&none, 1, 2, ctx.stream()), std::invalid_argument);
  copy_slices(many.data(), 0, 2, ctx.stream());  // nothing to do is not an error
  ctx.synchronize();
}

}  // namespace
}  // namespace ptq
