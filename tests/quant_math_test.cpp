// The arithmetic nearest of kernels/quant_math.h, compiled for the host, against the brute-force
// grid search of kernels/fake_quant_ref.h. Runs without a GPU, so CI checks the maths the kernels
// use; tests/fake_quant_test.cu checks the kernels themselves on a device.
#include "kernels/quant_math.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "kernels/fake_quant_ref.h"
#include "tests/test_inputs.h"

namespace ptq {
namespace {

std::uint32_t bits_of(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

TEST(QuantizeValue, MatchesBruteForceNearestOnEveryFormat) {
  std::mt19937_64 rng(test::kSeed);
  for (const QuantFormat& f : test::all_formats()) {
    const FormatParams p = make_format_params(f);
    for (float scale : {1.0f, 0.125f, 4.0f, 0.0371f, 3.0e-5f}) {
      std::vector<float> x = test::adversarial_values(f, scale);
      const std::vector<float> r = test::normal_values(2000, scale * 40.0f, rng);
      x.insert(x.end(), r.begin(), r.end());
      for (float v : x) {
        const float got = quantize_value(v, scale, p);
        const float want = quantize_value_ref(v, scale, f);
        ASSERT_EQ(bits_of(got), bits_of(want)) << format_name(f) << " x=" << v << " scale=" << scale
                                               << " got " << got << " want " << want;
      }
    }
  }
}

TEST(QuantizeValue, BreaksTiesByTheDocumentedRules) {
  const FormatParams i8 = make_format_params(make_int(8));
  EXPECT_EQ(quantize_value(2.5f, 1.0f, i8), 2.0f);  // half to even
  EXPECT_EQ(quantize_value(3.5f, 1.0f, i8), 4.0f);
  EXPECT_EQ(quantize_value(-2.5f, 1.0f, i8), -2.0f);
  const FormatParams pot = make_format_params(make_pot(3));  // {0, 1/4, 1/2, 1}
  EXPECT_EQ(quantize_value(0.75f, 1.0f, pot), 1.0f);         // half away from zero
  EXPECT_EQ(quantize_value(0.375f, 1.0f, pot), 0.5f);
  EXPECT_EQ(quantize_value(0.125f, 1.0f, pot), 0.25f);
  EXPECT_EQ(quantize_value(-0.375f, 1.0f, pot), -0.5f);
  const FormatParams fp = make_format_params(make_float(4, 2));  // 0, .5, 1, 1.5, 2, 3, 4, 6
  EXPECT_EQ(quantize_value(1.25f, 1.0f, fp), 1.0f);              // even mantissa code
  EXPECT_EQ(quantize_value(1.75f, 1.0f, fp), 2.0f);
  EXPECT_EQ(quantize_value(2.5f, 1.0f, fp), 2.0f);
  EXPECT_EQ(quantize_value(5.0f, 1.0f, fp), 4.0f);
  EXPECT_EQ(quantize_value(0.25f, 1.0f, fp), 0.0f);
  EXPECT_EQ(quantize_value(0.75f, 1.0f, fp), 1.0f);
}

TEST(QuantizeValue, HandlesTheEdgeValuesAsDocumented) {
  const FormatParams p = make_format_params(make_float(8, 4));
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(quantize_value(inf, 0.5f, p), 480.0f);  // saturates to qmax
  EXPECT_EQ(quantize_value(-inf, 0.5f, p), -480.0f);
  EXPECT_TRUE(std::isnan(quantize_value(std::nanf(""), 0.5f, p)));
  EXPECT_EQ(bits_of(quantize_value(-0.0f, 0.5f, p)), bits_of(-0.0f));
  EXPECT_EQ(bits_of(quantize_value(-1e-30f, 0.5f, p)), bits_of(-0.0f));  // sign kept on zero
  EXPECT_EQ(quantize_value(3.0f, 0.0f, p), 0.0f);                        // zero range
  EXPECT_EQ(quantize_value(inf, 0.0f, p), 0.0f);
}

}  // namespace
}  // namespace ptq
