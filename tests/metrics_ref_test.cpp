// CPU checks of the metric references and the arithmetic they share with the kernels: the bin
// rule, the JS term, and the references' values on inputs whose answer is known by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kernels/histogram_metrics_ref.h"
#include "kernels/metric_math.h"
#include "kernels/softmax_js_ref.h"
#include "tests/test_inputs.h"

namespace ptq {
namespace {

// js_term in float against the double formula: a handful of float roundings per term (analytic,
// ~10 ulp) and the direct branch's cancellation eps / |r| with |r| >= tanh(1/4).
constexpr double kJsTermRelTol = 2e-6;
// Sums of a few thousand double terms in two orders (analytic: n eps).
constexpr double kDoubleSumRelTol = 1e-12;

TensorSegment segment(const std::vector<float>& v, std::vector<std::int64_t> shape,
                      const char* name = "t") {
  return TensorSegment{name, v.data(), std::move(shape)};
}

TEST(BinRule, PutsTheMaximumInTheLastBinAndAnAllEqualRangeInBinZero) {
  const BinRule r = make_bin_rule(-1.0f, 3.0f, 8);
  EXPECT_EQ(bin_of(-1.0f, r), 0);
  EXPECT_EQ(bin_of(3.0f, r), 7);
  EXPECT_EQ(bin_of(0.0f, r), 2);
  EXPECT_EQ(bin_of(0.4999f, r), 2);
  EXPECT_EQ(bin_of(0.5f, r), 3);
  const BinRule flat = make_bin_rule(2.5f, 2.5f, 2048);
  EXPECT_EQ(bin_of(2.5f, flat), 0);
  EXPECT_EQ(bin_of(std::nanf(""), r), 7);  // stays in range; the launchers refuse NaN anyway
}

TEST(JsTerm, MatchesTheDoubleFormulaFromIdenticalToDisjoint) {
  for (double p : {1e-30, 1e-7, 2.4e-4, 0.01, 0.3}) {
    for (double d : {-30.0, -3.0, -0.6, -0.5, -0.49, -0.1, -1e-3, -1e-6, 0.0, 1e-7, 1e-4, 0.2,
                     0.4999, 0.5, 0.8, 5.0, 40.0}) {
      const double q = p * std::exp(d);
      // m f(r) / 2 with log1p in long double: relative error eps / r, not the eps / r^2 of
      // p log(p/m) + q log(q/m).
      const long double pl = p, ql = pl * std::exp(static_cast<long double>(d));
      const long double r = std::expm1(static_cast<long double>(d)) / (2 + std::expm1(static_cast<long double>(d)));
      const double want = static_cast<double>(
          (pl + ql) / 4 * ((1 - r) * std::log1p(-r) + (1 + r) * std::log1p(r)));
      const float got = js_term(static_cast<float>(p), static_cast<float>(q), static_cast<float>(d));
      if (!(static_cast<float>(q) >= 1.2e-38f && static_cast<float>(q) < 1e38f)) continue;
      EXPECT_NEAR(got, want, std::fabs(want) * kJsTermRelTol + 1e-45) << "p=" << p << " d=" << d;
    }
  }
  EXPECT_EQ(js_term(0.0f, 0.0f, 0.0f), 0.0f);
  EXPECT_NEAR(js_term(0.0f, 0.25f, 100.0f), 0.125 * std::log(2.0), 1e-8);  // 0 log 0 = 0
}

TEST(SoftmaxJsRef, IsZeroForIdenticalTensorsAndMatchesAHandComputedRow) {
  const std::vector<float> x = {0.0f, std::log(3.0f)};  // softmax (1/4, 3/4)
  const std::vector<float> y = {std::log(3.0f), 0.0f};  // softmax (3/4, 1/4)
  EXPECT_EQ(softmax_js_ref(segment(x, {2}), segment(x, {2})), 0.0);
  // JS((1/4, 3/4), (3/4, 1/4)): m = (1/2, 1/2), KL = 1/4 ln(1/2) + 3/4 ln(3/2) for both.
  const double want = 0.25 * std::log(0.5) + 0.75 * std::log(1.5);
  EXPECT_NEAR(softmax_js_ref(segment(x, {2}), segment(y, {2})), want, 1e-7);
}

TEST(SoftmaxJsRef, RunsOverDimensionOneOfConvWeights) {
  // (out=1, in=2, kh=1, kw=2): rows are (x[0], x[2]) and (x[1], x[3]).
  const std::vector<float> x = {0.0f, 5.0f, std::log(3.0f), 5.0f};
  const std::vector<float> y = {std::log(3.0f), 5.0f, 0.0f, 5.0f};
  const double want = 0.25 * std::log(0.5) + 0.75 * std::log(1.5);  // second row: identical
  EXPECT_NEAR(softmax_js_ref(segment(x, {1, 2, 1, 2}), segment(y, {1, 2, 1, 2})), want, 1e-7);
}

TEST(SoftmaxJsRef, RefusesNaNAndInfNamingTheTensor) {
  const std::vector<float> x = {1.0f, std::nanf("")};
  const std::vector<float> y = {1.0f, 2.0f};
  try {
    softmax_js_ref(segment(x, {2}, "fc.bias"), segment(y, {2}));
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("fc.bias"), std::string::npos) << e.what();
  }
}

TEST(HistogramMetricsRef, GivesLn2ForDisjointSupportsAndZeroForIdenticalTensors) {
  const std::vector<float> x = {-1.0f, -0.9f, -0.8f};
  const std::vector<float> y = {0.8f, 0.9f, 1.0f};
  const CoverageSpec spec{parse_format("INT_8"), 1.0f / 127};
  const HistogramMetrics d = histogram_metrics_ref(segment(x, {3}), segment(y, {3}), spec).metrics;
  EXPECT_NEAR(d.js, std::log(2.0), 1e-15);
  EXPECT_EQ(d.cosine, 0.0);
  const HistogramMetrics s = histogram_metrics_ref(segment(x, {3}), segment(x, {3}), spec).metrics;
  EXPECT_EQ(s.js, 0.0);
  EXPECT_NEAR(s.cosine, 1.0, 1e-15);
  EXPECT_NEAR(s.pearson, 1.0, 1e-15);
  EXPECT_EQ(s.mse, 0.0);
  EXPECT_EQ(s.sqnr_db, INFINITY);
}

TEST(HistogramMetricsRef, CoverageCountsElementsInBinsHoldingAScaledGridValue) {
  // Range [0, 4] in 4 bins of width 1; INT_2 grid {-1, 0, 1} at scale 2 -> values -2, 0, 2:
  // bins 0 (holds 0) and 2 (holds 2) are covered.
  const std::vector<float> x = {0.0f, 0.5f, 1.5f, 2.5f, 2.6f, 3.5f, 4.0f};
  const HistogramMetricsRef r =
      histogram_metrics_ref(segment(x, {7}), segment(x, {7}), {parse_format("INT_2"), 2.0f}, 4);
  EXPECT_EQ(r.histograms.full_own, (std::vector<std::uint32_t>{2, 1, 2, 2}));
  EXPECT_EQ(r.metrics.covered_bins, 2u);
  EXPECT_EQ(r.metrics.covered_elements, 4u);
  EXPECT_DOUBLE_EQ(r.metrics.coverage, 4.0 / 7);
}

TEST(HistogramMetricsRef, HasTheMseAndSqnrOfItsDefinition) {
  std::mt19937_64 rng(test::kSeed);
  const std::vector<float> x = test::normal_values(5000, 0.1f, rng);
  std::vector<float> y = x;
  for (float& v : y) v = std::round(v * 64) / 64;
  double diff2 = 0, full2 = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    diff2 += (double(x[i]) - y[i]) * (double(x[i]) - y[i]);
    full2 += double(x[i]) * x[i];
  }
  const HistogramMetrics m =
      histogram_metrics_ref(segment(x, {5000}), segment(y, {5000}), {parse_format("INT_4"), 0.1f})
          .metrics;
  EXPECT_NEAR(m.mse, diff2 / 5000, diff2 / 5000 * kDoubleSumRelTol);
  EXPECT_NEAR(m.sqnr_db, 10 * std::log10(full2 / diff2), 1e-9);
  EXPECT_GT(m.js, 0.0);
  EXPECT_LE(m.js, std::log(2.0));
}

}  // namespace
}  // namespace ptq
