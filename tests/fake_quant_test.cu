// The fused quantize-dequantize kernels against the brute-force reference, bit for bit, on every
// format, on random and adversarial inputs, at awkward sizes and alignments.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "gpu/device_buffer.h"
#include "kernels/fake_quant.cuh"
#include "kernels/fake_quant_ref.h"
#include "tests/gpu_test_util.h"
#include "tests/test_inputs.h"

namespace ptq {
namespace {

// Index of the first element whose bits differ, or -1. Any NaN matches any NaN: the GPU's
// arithmetic returns its canonical NaN, the host keeps the payload.
long first_mismatch(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) && std::isnan(b[i])) continue;
    if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0) return static_cast<long>(i);
  }
  return -1;
}

// Runs fake_quant (or quantize) on the device over h_x starting `offset` floats into the buffer,
// with the output poisoned beforehand so unwritten elements show.
std::vector<float> run_on_device(const std::vector<float>& h_x, float scale, const QuantFormat& f,
                                 bool dequantize, std::size_t offset = 0) {
  DeviceBuffer<float> d_x(h_x.size() + offset + 1), d_y(h_x.size() + offset + 1);
  if (!h_x.empty()) {
    CUDA_CHECK(cudaMemcpy(d_x.data() + offset, h_x.data(), h_x.size() * sizeof(float),
                          cudaMemcpyHostToDevice));
  }
  CUDA_CHECK(cudaMemset(d_y.data(), 0xFF, d_y.bytes()));  // NaN poison
  if (dequantize) {
    fake_quant(d_x.data() + offset, d_y.data() + offset, h_x.size(), scale, f, nullptr);
  } else {
    quantize(d_x.data() + offset, d_y.data() + offset, h_x.size(), scale, f, nullptr);
  }
  CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<float> out(h_x.size());
  if (!out.empty()) {
    CUDA_CHECK(cudaMemcpy(out.data(), d_y.data() + offset, out.size() * sizeof(float),
                          cudaMemcpyDeviceToHost));
  }
  return out;
}

std::vector<float> reference(const std::vector<float>& h_x, float scale, const QuantFormat& f,
                             bool dequantize) {
  std::vector<float> out(h_x.size());
  if (dequantize) {
    fake_quant_ref(h_x.data(), out.data(), h_x.size(), scale, f);
  } else {
    quantize_ref(h_x.data(), out.data(), h_x.size(), scale, f);
  }
  return out;
}

TEST(FakeQuant, MatchesBruteForceNearestOnEveryFormat) {
  PTQ_REQUIRE_GPU();
  std::mt19937_64 rng(test::kSeed);
  for (const QuantFormat& f : test::all_formats()) {
    for (float scale : {1.0f, 0.25f, 0.0123f}) {
      std::vector<float> x = test::adversarial_values(f, scale);
      const std::vector<float> r = test::normal_values(50001, scale * 30.0f, rng);
      x.insert(x.end(), r.begin(), r.end());
      for (bool dequantize : {true, false}) {
        const long bad = first_mismatch(run_on_device(x, scale, f, dequantize),
                                        reference(x, scale, f, dequantize));
        ASSERT_EQ(bad, -1) << format_name(f) << " scale " << scale << " x=" << x[bad]
                           << (dequantize ? " fake_quant" : " quantize");
      }
    }
  }
}

TEST(FakeQuant, HandlesEverySizeAndAlignment) {
  PTQ_REQUIRE_GPU();
  std::mt19937_64 rng(test::kSeed + 1);
  const QuantFormat f = parse_format("FLOAT_6_E3");
  for (std::size_t n : {0u, 1u, 3u, 4u, 5u, 255u, 1023u, 4097u, 1000003u}) {
    for (std::size_t offset : {0u, 1u, 2u}) {
      const std::vector<float> x = test::normal_values(n, 1.0f, rng);
      EXPECT_EQ(
          first_mismatch(run_on_device(x, 0.01f, f, true, offset), reference(x, 0.01f, f, true)),
          -1)
          << "n=" << n << " offset=" << offset;
    }
  }
}

TEST(FakeQuant, LargeTensorMatchesReference) {
  PTQ_REQUIRE_GPU();
  std::mt19937_64 rng(test::kSeed + 2);
  const std::vector<float> x = test::normal_values((1u << 24) + 7, 0.05f, rng);
  for (const char* name : {"INT_8", "POT_5", "FLOAT_8_E4"}) {
    const QuantFormat f = parse_format(name);
    const float scale = scale_from_range(f, -0.25f, 0.25f);
    EXPECT_EQ(first_mismatch(run_on_device(x, scale, f, true), reference(x, scale, f, true)), -1)
        << name;
  }
}

TEST(FakeQuant, RunsInPlace) {
  PTQ_REQUIRE_GPU();
  std::mt19937_64 rng(test::kSeed + 3);
  const QuantFormat f = parse_format("INT_4");
  const std::vector<float> x = test::normal_values(10007, 1.0f, rng);
  DeviceBuffer<float> d;
  d.upload(x);
  fake_quant(d.data(), d.data(), x.size(), 0.3f, f, nullptr);
  EXPECT_EQ(first_mismatch(d.to_host(), reference(x, 0.3f, f, true)), -1);
}

TEST(FakeQuant, ZeroScaleGivesZerosNeverNaN) {
  PTQ_REQUIRE_GPU();
  const std::vector<float> zeros(1001, 0.0f);
  for (const QuantFormat& f : test::all_formats()) {
    for (float y : run_on_device(zeros, 0.0f, f, true)) {
      ASSERT_EQ(y, 0.0f) << format_name(f);
      ASSERT_FALSE(std::signbit(y));
    }
  }
}

TEST(FakeQuant, RejectsANegativeOrNonFiniteScale) {
  PTQ_REQUIRE_GPU();
  DeviceBuffer<float> d(16);
  const QuantFormat f = parse_format("INT_8");
  for (float bad : {-1.0f, std::numeric_limits<float>::infinity(), std::nanf("")}) {
    EXPECT_THROW(fake_quant(d.data(), d.data(), 16, bad, f, nullptr), std::invalid_argument);
  }
}

}  // namespace
}  // namespace ptq
