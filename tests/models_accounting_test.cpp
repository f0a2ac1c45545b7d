// The nine networks' accounting against the study's profiler output,
// ../shared/reference/param_flops.csv (found through PTQBENCH_SHARED; skipped when absent).
//
// The reference lists the profiled modules in forward order with the study's module names; our
// graph has the same names and order plus layers the profiler does not list (flatten, residual
// add, concat: 0 parameters and 0 MACs). Every listed row must match by name, kind, parameters
// and MACs, and each model's totals too, within the profiler's printed rounding.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "models/model_desc.h"

namespace ptq {
namespace {

struct RefRow {
  std::string model, layer, kind;
  double params = 0, macs = 0;
};

// Reads model,layer,kind,params,params_pct,macs,macs_pct; empty when the file is absent.
std::vector<RefRow> read_reference(std::string& path) {
  const char* shared = std::getenv("PTQBENCH_SHARED");
  path = std::string(shared ? shared : "../shared") + "/reference/param_flops.csv";
  std::ifstream in(path);
  std::vector<RefRow> rows;
  std::string line;
  if (!in || !std::getline(in, line)) return rows;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string cell; std::getline(ss, cell, ',');) f.push_back(cell);
    if (f.size() != 7) ADD_FAILURE() << "malformed reference line: " << line;
    if (f.size() != 7) continue;
    rows.push_back({f[0], f[1], f[2], std::stod(f[3]), std::stod(f[5])});
  }
  return rows;
}

// ptflops printed a count in the unit its size falls in (G, M, k, or none) with two decimals,
// so a printed value differs from the exact count by at most half of 0.01 of that unit.
bool within_printed_rounding(std::int64_t exact, double printed) {
  const double v = static_cast<double>(exact);
  const double unit = v >= 1e9 ? 1e9 : v >= 1e6 ? 1e6 : v >= 1e3 ? 1e3 : 1.0;
  constexpr double kHalfLastDigit = 0.005;  // analytic: half of the second decimal
  return std::abs(v - printed) <= kHalfLastDigit * unit * (1 + 1e-9);
}

// The profiler's module class for each of our kinds it lists; flatten, add, concat are not listed.
const std::map<std::string, LayerKind> kProfilerKinds = {
    {"Conv2d", LayerKind::kConv},       {"BatchNorm2d", LayerKind::kBatchNorm},
    {"ReLU", LayerKind::kRelu},         {"ReLU6", LayerKind::kRelu6},
    {"MaxPool2d", LayerKind::kMaxPool}, {"AdaptiveAvgPool2d", LayerKind::kAvgPool},
    {"Linear", LayerKind::kLinear},     {"Dropout", LayerKind::kDropout}};

bool profiler_lists(LayerKind k) {
  return k != LayerKind::kFlatten && k != LayerKind::kAdd && k != LayerKind::kConcat;
}

TEST(ModelsAccounting, RoundingRuleAcceptsThePrintedFormsOfKnownCounts) {
  EXPECT_TRUE(within_printed_rounding(917504, 917500));  // "917.5 k"
  EXPECT_TRUE(within_printed_rounding(18496, 18500));    // "18.5 k"
  EXPECT_TRUE(within_printed_rounding(896, 896));        // printed as is below 1000
  EXPECT_FALSE(within_printed_rounding(897, 896));
  EXPECT_FALSE(within_printed_rounding(4740000, 4730000));   // "4.74 M" is not "4.73 M"
  EXPECT_TRUE(within_printed_rounding(1463741450, 1.46e9));  // "1.46 G"
}

TEST(ModelsAccounting, EveryModelMatchesTheProfilerRowByRowAndInTotal) {
  std::string path;
  const std::vector<RefRow> ref = read_reference(path);
  if (ref.empty()) GTEST_SKIP() << "reference not found: " << path;
  int models_matched = 0;
  for (const std::string& model : model_names()) {
    SCOPED_TRACE(model);
    const NetworkDesc desc = build_network_desc(model);
    std::vector<RefRow> rows;
    const RefRow* total = nullptr;
    for (const RefRow& r : ref) {
      if (r.model != model) continue;
      if (r.kind == "Model")
        total = &r;
      else
        rows.push_back(r);
    }
    ASSERT_NE(total, nullptr) << "no TOTAL row";
    std::vector<const Layer*> listed;
    for (const Layer& l : desc.layers) {
      if (profiler_lists(l.kind)) listed.push_back(&l);
    }
    ASSERT_EQ(listed.size(), rows.size());
    bool all_rows = true;
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const Layer& l = *listed[i];
      const LayerCost c = layer_cost(l);
      const RefRow& r = rows[i];
      const bool same = l.name == r.layer && kProfilerKinds.count(r.kind) &&
                        kProfilerKinds.at(r.kind) == l.kind &&
                        within_printed_rounding(c.params, r.params) &&
                        within_printed_rounding(c.macs, r.macs);
      EXPECT_TRUE(same) << "row " << i << ": reference " << r.layer << " " << r.kind << " "
                        << r.params << " params " << r.macs << " MACs; ours " << l.name << " "
                        << layer_kind_name(l.kind) << " " << c.params << " params " << c.macs
                        << " MACs";
      all_rows = all_rows && same;
    }
    const LayerCost t = network_cost(desc);
    EXPECT_TRUE(within_printed_rounding(t.params, total->params))
        << t.params << " vs " << total->params;
    EXPECT_TRUE(within_printed_rounding(t.macs, total->macs)) << t.macs << " vs " << total->macs;
    if (all_rows && within_printed_rounding(t.params, total->params) &&
        within_printed_rounding(t.macs, total->macs)) {
      ++models_matched;
    }
  }
  EXPECT_EQ(models_matched, 9);
}

}  // namespace
}  // namespace ptq
