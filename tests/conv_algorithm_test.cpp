// pick_conv_algorithm (models/conv_algorithm.h) on made-up cudnnFind measurements, on the CPU: it
// takes the first usable entry in the order given, and every rule (status, workspace cap, strict
// FP32, determinism, a refused workspace query) removes exactly the entries it names.
//
// Test: ctest --test-dir build -R ConvAlgorithm   (or build/tests/conv_algorithm_test)
#include "models/conv_algorithm.h"

#include <gtest/gtest.h>

#include <cstddef>
#include <optional>
#include <utility>
#include <vector>

namespace ptq {
namespace {

using Perf = cudnnConvolutionBwdFilterAlgoPerf_t;
using Algo = cudnnConvolutionBwdFilterAlgo_t;

Perf perf(Algo algo, std::size_t memory, cudnnMathType_t math = CUDNN_DEFAULT_MATH,
          cudnnDeterminism_t determinism = CUDNN_DETERMINISTIC,
          cudnnStatus_t status = CUDNN_STATUS_SUCCESS) {
  Perf p{};
  p.algo = algo;
  p.status = status;
  p.memory = memory;
  p.mathType = math;
  p.determinism = determinism;
  return p;
}

constexpr ConvAlgoRules kTf32{1000, true, false};
constexpr ConvAlgoRules kFp32{1000, false, false};

// Workspace queries: every algorithm needs `memory` bytes (the measurement), and the math type
// the query was asked for is recorded.
struct Query {
  explicit Query(std::vector<Perf> l = {}) : list(std::move(l)) {}
  std::vector<Perf> list;
  std::vector<cudnnMathType_t> asked;
  std::vector<Algo> refused;
  std::optional<std::size_t> operator()(Algo algo, cudnnMathType_t math) {
    asked.push_back(math);
    for (const Algo r : refused)
      if (r == algo) return std::nullopt;
    for (const Perf& p : list)
      if (p.algo == algo) return p.memory;
    return std::nullopt;
  }
};

std::optional<AlgoChoice<Algo>> pick(Query& q, const ConvAlgoRules& rules) {
  return pick_conv_algorithm(q.list.data(), static_cast<int>(q.list.size()), rules,
                             [&q](Algo a, cudnnMathType_t m) { return q(a, m); });
}

TEST(ConvAlgorithm, TakesTheFirstUsableEntryInTheOrderGiven) {
  Query q{{perf(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1, 10, CUDNN_TENSOR_OP_MATH),
           perf(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT, 5)}};
  const auto c = pick(q, kTf32);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->algo, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1);
  EXPECT_EQ(c->math, CUDNN_TENSOR_OP_MATH);  // TF32 keeps the measured math type
  EXPECT_EQ(c->workspace, 10u);
}

TEST(ConvAlgorithm, SkipsFailedEntriesAndThoseOverTheWorkspaceCap) {
  Query q{{perf(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1, 10, CUDNN_DEFAULT_MATH, CUDNN_DETERMINISTIC,
                CUDNN_STATUS_NOT_SUPPORTED),
           perf(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT, 1001),
           perf(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING, 1000)}};
  const auto c = pick(q, kTf32);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->algo, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING);  // 1000 bytes: at the cap
}

TEST(ConvAlgorithm, StrictFp32SkipsTensorOpEntriesAndPinsFmaMath) {
  Query q{{perf(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1, 10, CUDNN_TENSOR_OP_MATH),
           perf(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT, 10, CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION),
           perf(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3, 20, CUDNN_DEFAULT_MATH)}};
  const auto c = pick(q, kFp32);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->algo, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3);
  EXPECT_EQ(c->math, CUDNN_FMA_MATH);
  ASSERT_EQ(q.asked.size(), 1u);  // the skipped entries were not even queried
  EXPECT_EQ(q.asked[0], CUDNN_FMA_MATH);
}

TEST(ConvAlgorithm, DeterministicSkipsTheAtomicAlgorithmsOnlyWhenAsked) {
  Query q{
      {perf(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0, 10, CUDNN_DEFAULT_MATH, CUDNN_NON_DETERMINISTIC),
       perf(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3, 10, CUDNN_DEFAULT_MATH, CUDNN_NON_DETERMINISTIC),
       perf(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1, 30)}};
  const auto any = pick(q, kTf32);
  ASSERT_TRUE(any.has_value());
  EXPECT_EQ(any->algo, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0);
  ConvAlgoRules deterministic = kTf32;
  deterministic.deterministic = true;
  const auto det = pick(q, deterministic);
  ASSERT_TRUE(det.has_value());
  EXPECT_EQ(det->algo, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1);
  EXPECT_EQ(det->workspace, 30u);
}

TEST(ConvAlgorithm, ARefusedWorkspaceQueryMovesOnAndNothingUsableIsNothing) {
  Query q{{perf(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1, 10),
           perf(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0, 20)}};
  q.refused = {CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1};
  const auto c = pick(q, kTf32);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->algo, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0);

  q.refused.push_back(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0);
  EXPECT_FALSE(pick(q, kTf32).has_value());
  Query empty;
  EXPECT_FALSE(pick(empty, kTf32).has_value());
}

}  // namespace
}  // namespace ptq
