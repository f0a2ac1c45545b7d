#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "quant/metrics_aggregate.h"

namespace ptq {
namespace {

// param_flops.csv prints MACs and parameters to three significant digits (half a unit of the third
// digit: 0.5% relative) and percentages to three decimals; a share recomputed from the rounded
// counts may differ from the printed one by that much per absorbed row, plus the drift of the
// rounded row sums against the exact totals (observed below 0.6% relative).
constexpr double kShareRelTol = 0.012;
constexpr double kSharePctAbsTol = 0.002;

// Reads ../shared/reference/param_flops.csv, or skips.
std::vector<AccountingRow> reference_rows(std::map<std::string, std::pair<double, double>>* pct) {
  const char* shared = std::getenv("PTQBENCH_SHARED");
  const std::string path = std::string(shared ? shared : "") + "/reference/param_flops.csv";
  std::ifstream in(path);
  if (!shared || !in) return {};
  std::stringstream text;
  text << in.rdbuf();
  // The printed percentages, keyed model/layer, to compare with.
  std::string line;
  std::istringstream lines(text.str());
  std::getline(lines, line);
  while (std::getline(lines, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string x; std::getline(ss, x, ',');) f.push_back(x);
    (*pct)[f[0] + "/" + f[1]] = {std::stod(f[4]), std::stod(f[6])};  // params_pct, macs_pct
  }
  std::istringstream again(text.str());
  return read_accounting_csv(again);
}

void expect_absorbed_shares_match_csv(const std::string& model) {
  std::map<std::string, std::pair<double, double>> pct;
  const std::vector<AccountingRow> all = reference_rows(&pct);
  if (all.empty()) GTEST_SKIP() << "PTQBENCH_SHARED/reference/param_flops.csv not found";
  const std::vector<AccountingRow> rows = model_rows(all, model);
  const std::vector<LayerShare> shares = layer_shares(rows);
  // The CSV's own absorbed shares: a conv plus the bn and relu rows that directly follow it.
  std::map<std::string, std::pair<double, double>> want;
  std::string owner;
  for (const AccountingRow& r : rows) {
    const auto [params_pct, macs_pct] = pct.at(model + "/" + r.layer);
    if (r.kind == LayerKind::kConv || r.kind == LayerKind::kLinear) {
      owner = r.kind == LayerKind::kConv ? r.layer : "";
      want[r.layer] = {params_pct, macs_pct};
    } else if (!owner.empty() && (r.kind == LayerKind::kBatchNorm || r.kind == LayerKind::kRelu ||
                                  r.kind == LayerKind::kRelu6)) {
      want[owner].first += params_pct;
      want[owner].second += macs_pct;
    } else {
      owner.clear();
    }
  }
  ASSERT_EQ(shares.size(), want.size()) << model;
  double macs_total = 0.0;
  for (const LayerShare& s : shares) {
    const auto [params_pct, macs_pct] = want.at(s.layer);
    EXPECT_NEAR(s.macs_pct, macs_pct, kSharePctAbsTol + macs_pct * kShareRelTol) << s.layer;
    EXPECT_NEAR(s.params_pct, params_pct, kSharePctAbsTol + params_pct * kShareRelTol) << s.layer;
    macs_total += s.macs_pct;
  }
  EXPECT_LE(macs_total, 100.0 + 1e-9);
}

TEST(LayerShares, AbsorbBatchNormAndReluForAlexNetBN) { expect_absorbed_shares_match_csv("AlexNet_BN"); }

TEST(LayerShares, AbsorbBatchNormAndReluForResNet18) { expect_absorbed_shares_match_csv("ResNet_18"); }

std::vector<AccountingRow> toy_rows(bool lower_case) {
  // conv(macs 600, params 60) bn(100, 10) relu(100, 0) pool(100, 0) linear(100, 30)
  const char* kinds[2][5] = {{"Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d", "Linear"},
                             {"conv", "bn", "relu", "maxpool", "linear"}};
  const double macs[] = {600, 100, 100, 100, 100};
  const double params[] = {60, 10, 0, 0, 30};
  const char* names[] = {"conv0", "bn0", "relu0", "pool1", "fc2"};
  std::vector<AccountingRow> rows;
  for (int i = 0; i < 5; ++i) {
    rows.push_back({"Toy", names[i], parse_layer_kind(kinds[lower_case][i]), params[i], macs[i]});
  }
  return rows;
}

TEST(LayerShares, ConvAbsorbsFollowingBatchNormAndReluButNotPoolInBothSpellings) {
  for (bool lower : {false, true}) {
    const std::vector<LayerShare> s = layer_shares(toy_rows(lower));
    ASSERT_EQ(s.size(), 2u);
    EXPECT_EQ(s[0].layer, "conv0");
    EXPECT_DOUBLE_EQ(s[0].macs_pct, 80.0);    // (600 + 100 + 100) / 1000
    EXPECT_DOUBLE_EQ(s[0].params_pct, 70.0);  // (60 + 10) / 100
    EXPECT_DOUBLE_EQ(s[1].macs_pct, 10.0);
    EXPECT_DOUBLE_EQ(s[1].params_pct, 30.0);
  }
}

TEST(AggregateMetrics, WeightsLayerDivergencesByHand) {
  const std::vector<AccountingRow> rows = toy_rows(false);
  const std::vector<LayerShare> shares = layer_shares(rows);
  LayerMetrics conv{"conv0", {}, TensorMetrics{}};
  conv.weight.softmax_js = 0.25;
  conv.bias->softmax_js = 0.05;  // counts 1:1
  conv.weight.cosine = 0.9;
  conv.bias->cosine = 0.1;  // similarities: the weight's alone
  LayerMetrics fc{"fc2", {}, std::nullopt};
  fc.weight.softmax_js = 2.0;
  fc.weight.cosine = 0.5;
  const double macs = model_macs(rows);  // 1000 MACs = 0.001 millions
  EXPECT_DOUBLE_EQ(macs, 1000.0);
  const ModelMetrics m = aggregate_metrics(shares, {fc, conv}, 4.0e7);
  // js_flops = 0.30 * 80 + 2.0 * 10 = 44; js_param = 0.30 * 70 + 2.0 * 30 = 81.
  EXPECT_DOUBLE_EQ(m.softmax_js.js_flops, 44.0);
  EXPECT_DOUBLE_EQ(m.softmax_js.js_param, 81.0);
  EXPECT_NEAR(m.softmax_js.js_flops_wt_log, 44.0 * std::log10(40.0), 1e-12);
  EXPECT_NEAR(m.softmax_js.js_flops_wt_cbrt, 44.0 * std::cbrt(40.0), 1e-12);
  EXPECT_DOUBLE_EQ(m.cosine.js_flops, 0.9 * 80 + 0.5 * 10);
  EXPECT_THROW(aggregate_metrics(shares, {conv}, 4.0e7), std::invalid_argument);
  EXPECT_THROW(aggregate_metrics(shares, {conv, fc, LayerMetrics{"bn0", {}, {}}}, 4.0e7),
               std::invalid_argument);
}

TEST(AccountingCsv, ReadsEitherSpellingAndRefusesUnknownKinds) {
  std::istringstream ok("model,layer,kind,params,macs\nM,c,conv,10,100\nM,r,ReLU,0,5\n");
  const std::vector<AccountingRow> rows = read_accounting_csv(ok);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1].kind, LayerKind::kRelu);
  std::istringstream bad("model,layer,kind,params,macs\nM,c,Conv3d,10,100\n");
  EXPECT_THROW(read_accounting_csv(bad), std::invalid_argument);
  std::istringstream no_column("model,layer,params,macs\n");
  EXPECT_THROW(read_accounting_csv(no_column), std::invalid_argument);
}

}  // namespace
}  // namespace ptq
