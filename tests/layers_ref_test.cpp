// The convolution backward references (models/layers_ref.h), on the CPU: both are the adjoints of
// conv2d_ref, so <conv(x, w), dy> = <x, dx(dy, w)> = <w, dw(x, dy)> for any x, w, dy (sums in
// double of float products); and a hand-worked one-row case of all three. Runs everywhere (CI too).
//
// Test: ctest --test-dir build -R LayersRef
#include "models/layers_ref.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "tests/test_inputs.h"

namespace ptq {
namespace {

// The three inner products sum the same products in different orders, each term a product of two
// floats (exact in double), each reference output rounded once to float: relative to the sum of
// |terms| the sides differ by at most ~2^-24 per rounded output (analytic); 1e-6 leaves room.
constexpr double kAdjointRelTol = 1e-6;

double dot(const std::vector<float>& a, const std::vector<float>& b, double* magnitude) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    s += static_cast<double>(a[i]) * b[i];
    *magnitude += std::fabs(static_cast<double>(a[i]) * b[i]);
  }
  return s;
}

struct Geometry {
  int n, c, h, w, out_c, kernel, stride, padding, groups;
};

TEST(LayersRef, ConvBackwardPassesAreTheAdjointsOfTheForward) {
  const Geometry cases[] = {{2, 4, 7, 7, 6, 3, 1, 1, 1},
                            {1, 6, 8, 5, 4, 3, 2, 1, 2},
                            {3, 5, 4, 4, 5, 1, 1, 0, 5},
                            {2, 3, 9, 9, 2, 5, 2, 2, 1}};
  std::mt19937_64 rng(test::kSeed);
  for (const Geometry& g : cases) {
    SCOPED_TRACE(testing::Message() << "c " << g.c << " k " << g.kernel << " s " << g.stride
                                    << " groups " << g.groups);
    const TensorShape in{g.c, g.h, g.w};
    const std::vector<float> x = test::normal_values(g.n * in.count(), 1.0f, rng);
    const std::vector<float> w =
        test::normal_values(g.out_c * (g.c / g.groups) * g.kernel * g.kernel, 1.0f, rng);
    std::vector<float> y, dx, dw;
    conv2d_ref(x, g.n, in, w, nullptr, g.out_c, g.kernel, g.stride, g.padding, g.groups, y);
    const std::vector<float> dy = test::normal_values(y.size(), 1.0f, rng);
    conv2d_backward_data_ref(dy, g.n, in, w, g.out_c, g.kernel, g.stride, g.padding, g.groups, dx);
    conv2d_backward_filter_ref(x, g.n, in, dy, g.out_c, g.kernel, g.stride, g.padding, g.groups,
                               dw);
    ASSERT_EQ(dx.size(), x.size());
    ASSERT_EQ(dw.size(), w.size());
    double m0 = 0, m1 = 0, m2 = 0;
    const double forward = dot(y, dy, &m0), data = dot(x, dx, &m1), filter = dot(w, dw, &m2);
    EXPECT_NEAR(data, forward, kAdjointRelTol * (m0 + m1));
    EXPECT_NEAR(filter, forward, kAdjointRelTol * (m0 + m2));
  }
}

TEST(LayersRef, ConvAndItsBackwardOfAOneRowStridedCaseAreTheHandResults) {
  // One image, one channel, a 1 x 4 input, a 3 x 3 kernel whose middle row is (w0, w1, w2),
  // stride 2, padding 1: the output is 1 x 2 and only the kernel's middle row meets the input,
  // y0 = w1 x0 + w2 x1 (window columns -1..1), y1 = w0 x1 + w1 x2 + w2 x3 (columns 1..3).
  const TensorShape in{1, 1, 4};
  const std::vector<float> x = {1, 2, 3, 4}, dy = {10, 100};
  const float w0 = 0.5f, w1 = 2, w2 = 3;
  const std::vector<float> w = {0, 0, 0, w0, w1, w2, 0, 0, 0};
  std::vector<float> y, dx, dw;
  const float bias = 0.25f;
  conv2d_ref(x, 1, in, w, &bias, 1, 3, 2, 1, 1, y);
  EXPECT_EQ(y, (std::vector<float>{bias + w1 * 1 + w2 * 2, bias + w0 * 2 + w1 * 3 + w2 * 4}));
  conv2d_backward_data_ref(dy, 1, in, w, 1, 3, 2, 1, 1, dx);
  EXPECT_EQ(dx, (std::vector<float>{w1 * 10, w2 * 10 + w0 * 100, w1 * 100, w2 * 100}));
  conv2d_backward_filter_ref(x, 1, in, dy, 1, 3, 2, 1, 1, dw);
  EXPECT_EQ(dw,
            (std::vector<float>{0, 0, 0, 100 * 2, 10 * 1 + 100 * 3, 10 * 2 + 100 * 4, 0, 0, 0}));
}

}  // namespace
}  // namespace ptq
