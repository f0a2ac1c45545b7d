// Optimiser steps: the CPU reference against hand computations (runs in CI), and the CUDA kernels
// against the reference over several steps on fresh random parameters and gradients.
#include <gtest/gtest.h>

#include <cmath>

#include "gpu/device_buffer.h"
#include "kernels/optimizer.cuh"
#include "kernels/optimizer_ref.h"
#include "tests/gpu_test_util.h"
#include "tests/test_inputs.h"

namespace ptq {
namespace {

// float32 kernel vs double reference, a few steps: each step adds a few float roundings of values
// of order |p|, so the bound is a small multiple of float epsilon times the magnitudes (analytic,
// with margin).
constexpr float kAbsTol = 1e-6f;
constexpr float kRelTol = 1e-5f;

TEST(SgdStepRef, MatchesAHandComputedNesterovStep) {
  // p = 1, g = 0.5, wd = 0.1 -> g' = 0.6; first step buf = 0.6; nesterov d = 0.6 + 0.9 * 0.6 = 1.14
  // p = 1 - 0.01 * 1.14 = 0.9886. Second step with g = 0.5: g' = 0.5 + 0.09886 = 0.59886,
  // buf = 0.9 * 0.6 + 0.59886 = 1.13886, d = 0.59886 + 0.9 * 1.13886 = 1.623834,
  // p = 0.9886 - 0.01623834 = 0.97236166.
  float p = 1.0f, g = 0.5f, buf = 0.0f;
  const SgdConfig c{0.01f, 0.9f, 0.1f, true};
  sgd_step_ref(&p, &g, &buf, 1, c, true);
  EXPECT_NEAR(p, 0.9886f, 1e-7f);
  EXPECT_NEAR(buf, 0.6f, 1e-7f);
  sgd_step_ref(&p, &g, &buf, 1, c, false);
  EXPECT_NEAR(p, 0.97236166f, 1e-7f);
}

TEST(AdamStepRef, MatchesAHandComputedFirstStep) {
  // Step 1: m = 0.1 g, v = 0.001 g^2, bias-corrected m / c1 = g, v / c2 = g^2, so
  // p = p - lr * g / (|g| + eps) = 2 - 0.001 * 0.25 / (0.25 + 1e-8).
  float p = 2.0f, g = 0.25f, m = 0.0f, v = 0.0f;
  adam_step_ref(&p, &g, &m, &v, 1, AdamConfig{}, 1);
  EXPECT_NEAR(p, 2.0f - 0.001f * 0.25f / (0.25f + 1e-8f), 1e-7f);
  // The betas are float32 (0.999f = 0.99900001...), so 1 - beta2 is off by 1.3e-5 relative.
  EXPECT_NEAR(m, 0.025f, 1e-8f);
  EXPECT_NEAR(v, 0.001f * 0.0625f, 1e-9f);
}

void expect_close(const std::vector<float>& got, const std::vector<float>& want, const char* what) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    ASSERT_NEAR(got[i], want[i], kAbsTol + std::fabs(want[i]) * kRelTol) << what << " at " << i;
  }
}

TEST(SgdStep, MatchesReferenceForEveryVariant) {
  PTQ_REQUIRE_GPU();
  std::mt19937_64 rng(test::kSeed);
  const std::size_t n = 100003;
  for (const SgdConfig& c :
       {SgdConfig{0.005f, 0.0f, 0.0f, false}, SgdConfig{0.005f, 0.9f, 1e-4f, false},
        SgdConfig{0.005f, 0.95f, 1e-4f, true}}) {
    std::vector<float> p = test::normal_values(n, 0.1f, rng), buf(n, 0.0f);
    DeviceBuffer<float> d_p, d_g, d_buf;
    d_p.upload(p);
    d_buf.upload(buf);
    for (int step = 0; step < 3; ++step) {
      const std::vector<float> g = test::normal_values(n, 0.01f, rng);
      d_g.upload(g);
      sgd_step(d_p.data(), d_g.data(), d_buf.data(), n, c, step == 0, nullptr);
      sgd_step_ref(p.data(), g.data(), buf.data(), n, c, step == 0);
    }
    expect_close(d_p.to_host(), p, "params");
    if (c.momentum > 0) expect_close(d_buf.to_host(), buf, "momentum");
  }
}

TEST(AdamStep, MatchesReferenceOverSeveralSteps) {
  PTQ_REQUIRE_GPU();
  std::mt19937_64 rng(test::kSeed + 1);
  const std::size_t n = 65537;
  const AdamConfig c{0.001f, 0.9f, 0.999f, 1e-8f, 1e-4f};
  std::vector<float> p = test::normal_values(n, 0.1f, rng), m(n, 0.0f), v(n, 0.0f);
  DeviceBuffer<float> d_p, d_g, d_m, d_v;
  d_p.upload(p);
  d_m.upload(m);
  d_v.upload(v);
  for (int step = 1; step <= 4; ++step) {
    const std::vector<float> g = test::normal_values(n, 0.01f, rng);
    d_g.upload(g);
    adam_step(d_p.data(), d_g.data(), d_m.data(), d_v.data(), n, c, step, nullptr);
    adam_step_ref(p.data(), g.data(), m.data(), v.data(), n, c, step);
  }
  expect_close(d_p.to_host(), p, "params");
  expect_close(d_m.to_host(), m, "m");
}

}  // namespace
}  // namespace ptq
