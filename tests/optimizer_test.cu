// Optimiser steps: the CPU reference against hand computations (runs in CI), and the CUDA kernels
// against hand computations (two parameters, two steps) and against the reference over several
// steps on fresh random parameters and gradients.
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

// The kernels on two parameters against values worked out by hand (exact decimals); float32 puts
// them within a few ulp of numbers below 2.1, so 1e-6 absolute (analytic: ~4 ulp at 2).
constexpr float kHandTol = 1e-6f;

TEST(SgdStep, TwoNesterovStepsWithTheStudysSettingsMatchAHandComputation) {
  PTQ_REQUIRE_GPU();
  // lr 0.05, momentum 0.95, Nesterov, weight decay 1e-4; p = (1, -2).
  // Step 1, grad (0.5, 0.25):  g' = grad + 1e-4 p = (0.5001, 0.2498) = buf;
  //   d = g' + 0.95 buf = 1.95 g' = (0.975195, 0.48711);  p -= 0.05 d -> (0.95124025, -2.0243555).
  // Step 2, grad (-0.5, 0.125):  g' = (-0.499904875975, 0.12479756445);
  //   buf = 0.95 buf + g' = (0.475095 - 0.499904875975, 0.23731 + 0.12479756445)
  //       = (-0.024809875975, 0.36210756445);
  //   d = g' + 0.95 buf = (-0.52347425815125, 0.4687997506775);
  //   p -= 0.05 d -> (0.9774139629075625, -2.047795487533875).
  const SgdConfig c{0.05f, 0.95f, 1e-4f, true};
  DeviceBuffer<float> d_p, d_g, d_buf(2);
  d_p.upload(std::vector<float>{1.0f, -2.0f});
  d_g.upload(std::vector<float>{0.5f, 0.25f});
  sgd_step(d_p.data(), d_g.data(), d_buf.data(), 2, c, true, nullptr);
  CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<float> p = d_p.to_host();
  EXPECT_NEAR(p[0], 0.95124025f, kHandTol);
  EXPECT_NEAR(p[1], -2.0243555f, kHandTol);
  d_g.upload(std::vector<float>{-0.5f, 0.125f});
  sgd_step(d_p.data(), d_g.data(), d_buf.data(), 2, c, false, nullptr);
  CUDA_CHECK(cudaDeviceSynchronize());
  p = d_p.to_host();
  const std::vector<float> buf = d_buf.to_host();
  EXPECT_NEAR(p[0], 0.97741396f, kHandTol);
  EXPECT_NEAR(p[1], -2.0477955f, kHandTol);
  EXPECT_NEAR(buf[0], -0.024809876f, kHandTol);
  EXPECT_NEAR(buf[1], 0.36210756f, kHandTol);
}

TEST(AdamStep, TwoStepsWithWeightDecayMatchAHandComputation) {
  PTQ_REQUIRE_GPU();
  // lr 0.001, betas 0.9 / 0.999, eps 1e-8, weight decay 0.01; p = (0.5, -1.5).
  // Step 1, grad (0.1, -0.02): g' = (0.105, -0.035); m = 0.1 g' = (0.0105, -0.0035),
  //   v = 0.001 g'^2 = (1.1025e-5, 1.225e-6); bias correction gives m^ = g', sqrt(v^) = |g'|,
  //   so p -= 0.001 g' / (|g'| + 1e-8) -> (0.49900000009524, -1.49900000028571).
  // Step 2, grad (-0.05, 0.04): g' = grad + 0.01 p = (-0.04500999999905, 0.02500999999714);
  //   m = 0.9 m + 0.1 g' = (0.004949, -0.000649) (to 1e-13); v = 0.999 v + 0.001 g'^2
  //   = (1.303987510e-5, 1.849275100e-6); c1 = 1 - 0.9^2 = 0.19, c2 = 1 - 0.999^2 = 0.001999;
  //   m^ = m / c1 = (0.0260473684, -0.0034157895), sqrt(v / c2) = (0.0807663244, 0.0304154582);
  //   p -= 0.001 m^ / (sqrt(v^) + 1e-8) -> (0.49867749730, -1.49888769593). Note m[1] changed
  //   sign while p[1] keeps rising: the momentum of step 1 still dominates.
  const AdamConfig c{0.001f, 0.9f, 0.999f, 1e-8f, 0.01f};
  DeviceBuffer<float> d_p, d_g, d_m, d_v;
  d_p.upload(std::vector<float>{0.5f, -1.5f});
  d_m.upload(std::vector<float>{0.0f, 0.0f});
  d_v.upload(std::vector<float>{0.0f, 0.0f});
  d_g.upload(std::vector<float>{0.1f, -0.02f});
  adam_step(d_p.data(), d_g.data(), d_m.data(), d_v.data(), 2, c, 1, nullptr);
  CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<float> p = d_p.to_host();
  EXPECT_NEAR(p[0], 0.49900000f, kHandTol);
  EXPECT_NEAR(p[1], -1.49900000f, kHandTol);
  d_g.upload(std::vector<float>{-0.05f, 0.04f});
  adam_step(d_p.data(), d_g.data(), d_m.data(), d_v.data(), 2, c, 2, nullptr);
  CUDA_CHECK(cudaDeviceSynchronize());
  p = d_p.to_host();
  const std::vector<float> m = d_m.to_host();
  EXPECT_NEAR(p[0], 0.49867750f, kHandTol);
  EXPECT_NEAR(p[1], -1.49888770f, kHandTol);
  // Moments are ~1e-3 and below: a relative bound of 1e-5 (float rounding of 0.9f, 0.1f and g').
  EXPECT_NEAR(m[0], 0.004949f, 0.004949f * 1e-5f);
  EXPECT_NEAR(m[1], -0.000649f, 0.000649f * 1e-5f);
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
