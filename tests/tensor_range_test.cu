#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "gpu/device_buffer.h"
#include "kernels/tensor_range.cuh"
#include "kernels/tensor_range_ref.h"
#include "tests/gpu_test_util.h"
#include "tests/test_inputs.h"

namespace ptq {
namespace {

TensorRange range_on_device(const std::vector<float>& h_x) {
  DeviceBuffer<float> d;
  d.upload(h_x);
  return tensor_range(d.data(), h_x.size(), nullptr);
}

void expect_same(const TensorRange& got, const TensorRange& want, const std::string& what) {
  EXPECT_EQ(got.min_value, want.min_value) << what;
  EXPECT_EQ(got.max_value, want.max_value) << what;
  EXPECT_EQ(got.nan_count, want.nan_count) << what;
  EXPECT_EQ(got.inf_count, want.inf_count) << what;
}

TEST(TensorRange, MatchesReferenceOnRandomTensorsOfEverySize) {
  PTQ_REQUIRE_GPU();
  std::mt19937_64 rng(test::kSeed);
  for (std::size_t n : {0u, 1u, 2u, 255u, 257u, 65537u, 3000001u}) {
    const std::vector<float> x = test::normal_values(n, 2.0f, rng);
    expect_same(range_on_device(x), tensor_range_ref(x.data(), n), "n=" + std::to_string(n));
  }
}

TEST(TensorRange, CountsNaNAndInfAndIgnoresNaNInTheRange) {
  PTQ_REQUIRE_GPU();
  std::vector<float> x = {
      1.0f, std::nanf(""), -3.0f, std::numeric_limits<float>::infinity(), std::nanf(""), 0.5f};
  const TensorRange r = range_on_device(x);
  EXPECT_EQ(r.min_value, -3.0f);
  EXPECT_EQ(r.max_value, std::numeric_limits<float>::infinity());
  EXPECT_EQ(r.nan_count, 2u);
  EXPECT_EQ(r.inf_count, 1u);
  const std::vector<float> nans(5, std::nanf(""));
  expect_same(range_on_device(nans), tensor_range_ref(nans.data(), 5), "all NaN");
}

TEST(TensorScale, IsTheLargerMagnitudeOverQmaxAndRefusesNonFiniteTensors) {
  PTQ_REQUIRE_GPU();
  const QuantFormat f = parse_format("INT_8");
  DeviceBuffer<float> d;
  d.upload(std::vector<float>{0.5f, -2.54f, 1.0f});
  EXPECT_FLOAT_EQ(tensor_scale(d.data(), 3, f, nullptr), 2.54f / 127);
  d.upload(std::vector<float>{0.0f, 0.0f});
  EXPECT_EQ(tensor_scale(d.data(), 2, f, nullptr), 0.0f);
  d.upload(std::vector<float>{1.0f, std::nanf("")});
  EXPECT_THROW(tensor_scale(d.data(), 2, f, nullptr), std::invalid_argument);
}

}  // namespace
}  // namespace ptq
