#include <gtest/gtest.h>

#include <cmath>

#include "gpu/device_buffer.h"
#include "kernels/cross_entropy.cuh"
#include "kernels/cross_entropy_ref.h"
#include "tests/gpu_test_util.h"
#include "tests/test_inputs.h"

namespace ptq {
namespace {

// float32 exp/log on logits of order 10 vs double: relative error of a few float epsilons per
// sample (observed well under 1e-6); the summed loss over n samples keeps that relative bound.
constexpr double kLossRelTol = 1e-5;
constexpr float kGradAbsTol = 1e-6f;

TEST(SoftmaxCrossEntropyRef, MatchesAHandComputedSample) {
  // logits (0, ln 3): softmax (1/4, 3/4); label 0 -> loss ln 4, argmax 1 (wrong).
  const float logits[2] = {0.0f, std::log(3.0f)};
  const int label = 0;
  float grad[2];
  LossTotals t{};
  softmax_cross_entropy_ref(logits, &label, 1, 2, 1.0f, grad, &t);
  EXPECT_NEAR(t.loss_sum, std::log(4.0), 1e-7);
  EXPECT_EQ(t.correct, 0u);
  EXPECT_EQ(t.count, 1u);
  EXPECT_NEAR(grad[0], 0.25f - 1.0f, 1e-7f);
  EXPECT_NEAR(grad[1], 0.75f, 1e-7f);
}

TEST(SoftmaxCrossEntropy, MatchesReferenceAndAccumulatesOverBatches) {
  PTQ_REQUIRE_GPU();
  std::mt19937_64 rng(test::kSeed);
  for (int classes : {10, 2, 32}) {
    for (int n : {1, 7, 128, 1000}) {
      const std::vector<float> logits =
          test::normal_values(static_cast<std::size_t>(n) * classes, 4.0f, rng);
      std::vector<int> labels(n);
      for (int& l : labels) l = static_cast<int>(rng() % classes);
      DeviceBuffer<float> d_logits, d_grad(logits.size());
      DeviceBuffer<int> d_labels;
      DeviceBuffer<LossTotals> d_totals(1);
      d_logits.upload(logits);
      d_labels.upload(labels);
      CUDA_CHECK(cudaMemset(d_totals.data(), 0, sizeof(LossTotals)));
      // Two calls: totals accumulate.
      for (int rep = 0; rep < 2; ++rep) {
        softmax_cross_entropy(d_logits.data(), d_labels.data(), n, classes, 1.0f / n, d_grad.data(),
                              d_totals.data(), nullptr);
      }
      LossTotals want{};
      std::vector<float> want_grad(logits.size());
      for (int rep = 0; rep < 2; ++rep) {
        softmax_cross_entropy_ref(logits.data(), labels.data(), n, classes, 1.0f / n,
                                  want_grad.data(), &want);
      }
      const LossTotals got = d_totals.to_host()[0];
      EXPECT_NEAR(got.loss_sum, want.loss_sum, want.loss_sum * kLossRelTol);
      EXPECT_EQ(got.correct, want.correct) << "classes " << classes << " n " << n;
      EXPECT_EQ(got.count, want.count);
      const std::vector<float> grad = d_grad.to_host();
      for (std::size_t i = 0; i < grad.size(); ++i) {
        ASSERT_NEAR(grad[i], want_grad[i], kGradAbsTol) << i;
      }
    }
  }
}

}  // namespace
}  // namespace ptq
