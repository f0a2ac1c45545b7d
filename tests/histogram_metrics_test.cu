#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "gpu/device_buffer.h"
#include "kernels/fake_quant_ref.h"
#include "kernels/histogram_metrics.cuh"
#include "kernels/histogram_metrics_ref.h"
#include "tests/gpu_test_util.h"
#include "tests/test_inputs.h"

namespace ptq {
namespace {

// Analytic: the same double terms summed in another order, each log within an ulp or two
// (<= bins terms of size <= 1 at 2^-52 relative).
constexpr double kHistogramSumAbsTol = 1e-12;
constexpr double kHistogramSumRelTol = 1e-10;

bool near(double got, double want) {
  if (std::isinf(want)) return got == want;
  return std::fabs(got - want) <= kHistogramSumAbsTol + std::fabs(want) * kHistogramSumRelTol;
}

bool same_rule(const BinRule& a, const BinRule& b) {
  return std::memcmp(&a, &b, sizeof a) == 0;
}

struct Pair {
  std::string name;
  std::vector<std::int64_t> shape;
  std::vector<float> x, y;
  CoverageSpec spec;
};

// x ~ normal(sigma); y = fake_quant(x) with f at its per-tensor scale, or an independent draw.
Pair make_pair(const std::string& name, std::vector<std::int64_t> shape, float sigma,
               const char* format, std::mt19937_64& rng) {
  std::size_t n = 1;
  for (auto d : shape) n *= static_cast<std::size_t>(d);
  Pair p{name, std::move(shape), test::normal_values(n, sigma, rng), {}, {}};
  const QuantFormat f = parse_format(format ? format : "INT_8");
  float amax = 0.0f;
  for (float v : p.x) amax = std::max(amax, std::fabs(v));
  p.spec = {f, scale_from_range(f, -amax, amax)};
  if (format) {
    p.y.resize(n);
    fake_quant_ref(p.x.data(), p.y.data(), n, p.spec.scale, f);
  } else {
    p.y = test::normal_values(n, sigma, rng);
  }
  return p;
}

// Runs every pair as one list on the GPU and compares each with the reference: counts, rules and
// coverage exactly, sums within the tolerances above.
void expect_matches_reference(const std::vector<Pair>& pairs, int bins) {
  std::vector<float> h_x, h_y;
  std::vector<std::size_t> offsets;
  for (const Pair& p : pairs) {
    offsets.push_back(h_x.size());
    h_x.insert(h_x.end(), p.x.begin(), p.x.end());
    h_y.insert(h_y.end(), p.y.begin(), p.y.end());
  }
  DeviceBuffer<float> d_x, d_y;
  d_x.upload(h_x);
  d_y.upload(h_y);
  TensorList full, quant;
  std::vector<CoverageSpec> specs;
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    full.push_back({pairs[i].name, d_x.data() + offsets[i], pairs[i].shape});
    quant.push_back({pairs[i].name + ".q", d_y.data() + offsets[i], pairs[i].shape});
    specs.push_back(pairs[i].spec);
  }
  HistogramMetricsPlan plan(full, quant, specs, bins);
  plan.enqueue(nullptr);
  const std::vector<HistogramMetrics> got = plan.results(nullptr);
  const std::vector<TensorHistograms> hist = plan.histograms(nullptr);
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    const Pair& p = pairs[i];
    const HistogramMetricsRef want = histogram_metrics_ref(
        {p.name, p.x.data(), p.shape}, {p.name + ".q", p.y.data(), p.shape}, p.spec, bins);
    const std::string what = p.name + " bins=" + std::to_string(bins) + " " +
                             format_name(p.spec.format);
    EXPECT_TRUE(same_rule(hist[i].shared, want.histograms.shared)) << what;
    EXPECT_TRUE(same_rule(hist[i].own, want.histograms.own)) << what;
    EXPECT_EQ(hist[i].full, want.histograms.full) << what;
    EXPECT_EQ(hist[i].quant, want.histograms.quant) << what;
    EXPECT_EQ(hist[i].full_own, want.histograms.full_own) << what;
    EXPECT_EQ(got[i].covered_elements, want.metrics.covered_elements) << what;
    EXPECT_EQ(got[i].covered_bins, want.metrics.covered_bins) << what;
    EXPECT_EQ(got[i].coverage, want.metrics.coverage) << what;
    EXPECT_PRED2(near, got[i].js, want.metrics.js) << what;
    EXPECT_PRED2(near, got[i].pearson, want.metrics.pearson) << what;
    EXPECT_PRED2(near, got[i].cosine, want.metrics.cosine) << what;
    EXPECT_PRED2(near, got[i].mse, want.metrics.mse) << what;
    EXPECT_PRED2(near, got[i].sqnr_db, want.metrics.sqnr_db) << what;
    EXPECT_GE(got[i].js, 0.0) << what;
    EXPECT_LE(got[i].js, std::log(2.0) + kHistogramSumAbsTol) << what;
  }
}

TEST(HistogramMetrics, MatchesReferenceOnEveryShapeAndFormatInOneList) {
  PTQ_REQUIRE_GPU();
  std::mt19937_64 rng(test::kSeed);
  std::vector<Pair> pairs = {
      make_pair("one", {1}, 0.1f, "INT_4", rng),
      make_pair("bias64", {64}, 0.05f, "INT_8", rng),
      make_pair("bias4096", {4096}, 0.05f, "POT_4", rng),
      make_pair("odd", {4097}, 1.0f, "FLOAT_8_E4", rng),
      make_pair("conv_first", {64, 3, 3, 3}, 0.2f, "INT_2", rng),
      make_pair("conv_odd", {7, 13, 5, 5}, 0.5f, nullptr, rng),
      make_pair("conv", {512, 512, 3, 3}, 0.02f, "INT_4", rng),
      make_pair("fc", {4096, 4096}, 0.02f, "FLOAT_6_E3", rng),
      make_pair("fc_int16", {10, 1000}, 0.1f, "INT_16", rng),
      make_pair("pot8", {3, 3001}, 0.1f, "POT_8", rng),
  };
  // A bias in the INT_64 bias format at a bias-like scale s_in * s_w.
  Pair bias = make_pair("bias_int64", {500}, 0.05f, "INT_8", rng);
  bias.spec = {parse_format("INT_64"), 3.0e-5f};
  for (std::size_t i = 0; i < bias.x.size(); ++i) {
    bias.y[i] = quantize_value_ref(bias.x[i], bias.spec.scale, bias.spec.format) * bias.spec.scale;
  }
  pairs.push_back(bias);
  expect_matches_reference(pairs, kDefaultBins);
}

TEST(HistogramMetrics, MatchesReferenceForOtherBinCounts) {
  PTQ_REQUIRE_GPU();
  std::mt19937_64 rng(test::kSeed + 2);
  const std::vector<Pair> pairs = {make_pair("a", {1000, 33}, 0.1f, "INT_4", rng),
                                   make_pair("b", {77}, 0.1f, "POT_3", rng)};
  for (int bins : {1, 2, 7, 256, kMaxBins}) expect_matches_reference(pairs, bins);
}

TEST(HistogramMetrics, GivesZeroForIdenticalAndLn2ForDisjointTensors) {
  PTQ_REQUIRE_GPU();
  std::mt19937_64 rng(test::kSeed + 3);
  std::vector<float> x = test::normal_values(100000, 1.0f, rng);
  std::vector<float> y(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) y[i] = std::fabs(x[i]) + 10.0f;  // all above x
  DeviceBuffer<float> d_x, d_y;
  d_x.upload(x);
  d_y.upload(y);
  const CoverageSpec spec{parse_format("INT_8"), 0.05f};
  const TensorList full = {{"w", d_x.data(), {100000}}};
  const std::vector<HistogramMetrics> same = histogram_metrics(full, full, {spec}, 2048, nullptr);
  EXPECT_EQ(same[0].js, 0.0);
  EXPECT_NEAR(same[0].pearson, 1.0, kHistogramSumAbsTol);
  EXPECT_NEAR(same[0].cosine, 1.0, kHistogramSumAbsTol);
  EXPECT_EQ(same[0].mse, 0.0);
  EXPECT_EQ(same[0].sqnr_db, INFINITY);
  const std::vector<HistogramMetrics> apart =
      histogram_metrics(full, {{"w.q", d_y.data(), {100000}}}, {spec}, 2048, nullptr);
  EXPECT_NEAR(apart[0].js, std::log(2.0), kHistogramSumAbsTol);
  EXPECT_EQ(apart[0].cosine, 0.0);
}

TEST(HistogramMetrics, PutsAllEqualTensorsInBinZero) {
  PTQ_REQUIRE_GPU();
  std::vector<Pair> pairs(2);
  pairs[0] = {"flat", {5000}, std::vector<float>(5000, 0.375f), std::vector<float>(5000, 0.375f),
              {parse_format("INT_8"), 0.375f / 127}};
  pairs[1] = {"flat_grid", {300}, std::vector<float>(300, 0.5f), std::vector<float>(300, 0.5f),
              {parse_format("POT_4"), 0.5f}};  // 0.5 = 1 * 0.5 is a grid value: covered
  expect_matches_reference(pairs, kDefaultBins);
  DeviceBuffer<float> d;
  d.upload(pairs[1].x);
  const TensorList t = {{"flat_grid", d.data(), {300}}};
  const std::vector<HistogramMetrics> m = histogram_metrics(t, t, {pairs[1].spec}, 2048, nullptr);
  EXPECT_EQ(m[0].js, 0.0);
  EXPECT_EQ(m[0].coverage, 1.0);
  EXPECT_EQ(m[0].covered_bins, 1u);
}

TEST(HistogramMetrics, RefusesNaNOrInfNamingTheTensor) {
  PTQ_REQUIRE_GPU();
  const float bad_values[] = {std::numeric_limits<float>::quiet_NaN(),
                              -std::numeric_limits<float>::infinity()};
  for (float bad : bad_values) {
    for (bool in_quant : {false, true}) {
      std::vector<float> x(20000, 0.5f), y(20000, 0.5f);
      (in_quant ? y : x)[15000] = bad;
      DeviceBuffer<float> d_x, d_y;
      d_x.upload(x);
      d_y.upload(y);
      const TensorList full = {{"ok", d_x.data(), {10000}},
                               {"fc2.weight", d_x.data() + 10000, {100, 100}}};
      const TensorList quant = {{"ok", d_y.data(), {10000}},
                                {"fc2.weight", d_y.data() + 10000, {100, 100}}};
      const CoverageSpec spec{parse_format("INT_8"), 0.01f};
      try {
        histogram_metrics(full, quant, {spec, spec}, kDefaultBins, nullptr);
        ADD_FAILURE() << "no exception for " << bad;
      } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("fc2.weight"), std::string::npos) << e.what();
      }
    }
  }
}

TEST(HistogramMetrics, RefusesBadBinsAndMissingSpecs) {
  PTQ_REQUIRE_GPU();
  DeviceBuffer<float> d(8);
  const TensorList t = {{"t", d.data(), {8}}};
  const CoverageSpec spec{parse_format("INT_8"), 0.01f};
  EXPECT_THROW(HistogramMetricsPlan(t, t, {spec}, 0), std::invalid_argument);
  EXPECT_THROW(HistogramMetricsPlan(t, t, {spec}, kMaxBins + 1), std::invalid_argument);
  EXPECT_THROW(HistogramMetricsPlan(t, t, {}, kDefaultBins), std::invalid_argument);
}

}  // namespace
}  // namespace ptq
