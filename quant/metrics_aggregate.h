// Model-level metrics from per-layer ones (DESIGN.md section 6): each conv and linear layer's value
// times its share (percent) of the model's MACs or parameters, summed.
//
//   js_flops = sum_l value_l * macs_share_l          js_param = sum_l value_l * params_share_l
//   js_flops_wt_log  = js_flops * log10(model MACs / 1e6)
//   js_flops_wt_cbrt = js_flops * cbrt(model MACs / 1e6)      (x1000, not x1024: section 8)
//
// A conv's share absorbs the rows that follow it in forward order while they are batch norm,
// relu or relu6 (add, concat and flatten rows are passed over: they carry no cost); a linear layer
// keeps its own share. Host only.
#pragma once

#include <istream>
#include <optional>
#include <string>
#include <vector>

namespace ptq {

enum class LayerKind {
  kConv, kLinear, kBatchNorm, kRelu, kRelu6, kMaxPool, kAvgPool, kDropout, kFlatten, kAdd,
  kConcat, kTotal
};

// Accepts the profiler's names (Conv2d, BatchNorm2d, ReLU, ReLU6, MaxPool2d, AdaptiveAvgPool2d,
// AvgPool2d, Linear, Dropout, Flatten, Model for the TOTAL row) and ptqbench's (conv, bn, relu,
// relu6, maxpool, avgpool, linear, dropout, flatten, add, concat, total). Throws
// std::invalid_argument listing them otherwise.
LayerKind parse_layer_kind(const std::string& name);

// One row of a model's accounting, in forward order.
struct AccountingRow {
  std::string model;
  std::string layer;
  LayerKind kind = LayerKind::kConv;
  double params = 0.0;
  double macs = 0.0;
};

// Reads CSV with a header naming at least model, layer, kind, params, macs (any order, other
// columns ignored): ../shared/reference/param_flops.csv and `ptqbench models --csv`. Throws
// std::invalid_argument naming the line on a malformed row.
std::vector<AccountingRow> read_accounting_csv(std::istream& in);

// The rows of one model (TOTAL rows dropped), in file order.
std::vector<AccountingRow> model_rows(const std::vector<AccountingRow>& rows,
                                      const std::string& model);

// A conv or linear layer and its absorbed shares, in percent of the model's totals.
struct LayerShare {
  std::string layer;
  double macs_pct = 0.0;
  double params_pct = 0.0;
};

// Shares of the conv and linear layers of one model's rows (TOTAL rows ignored; totals are the
// sums of the rows). Throws std::invalid_argument when the rows hold more than one model or sum
// to zero MACs or parameters.
std::vector<LayerShare> layer_shares(const std::vector<AccountingRow>& rows);

// Sum of the rows' MACs (TOTAL rows ignored).
double model_macs(const std::vector<AccountingRow>& rows);

struct WeightedMetric {
  double js_flops = 0.0;
  double js_param = 0.0;
  double js_flops_wt_log = 0.0;
  double js_flops_wt_cbrt = 0.0;
};

// values[i] belongs to shares[i] (same length, else std::invalid_argument).
WeightedMetric weight_layers(const std::vector<LayerShare>& shares,
                             const std::vector<double>& values, double model_macs);

// The metrics of one tensor (kernels/softmax_js.cuh, kernels/histogram_metrics.cuh).
struct TensorMetrics {
  double softmax_js = 0.0;
  double histogram_js = 0.0;
  double coverage = 0.0;
  double pearson = 0.0;
  double cosine = 0.0;
  double mse = 0.0;
  double sqnr_db = 0.0;
};

struct LayerMetrics {
  std::string layer;
  TensorMetrics weight;
  std::optional<TensorMetrics> bias;
};

// A layer's value of each metric. Divergences and errors (softmax_js, histogram_js, mse) add the
// bias's to the weight's 1:1, as the study did; the similarities (coverage, pearson, cosine,
// sqnr_db) are the weight tensor's alone (a sum of two similarities is not a similarity, and a
// bias of a few dozen values has no meaningful histogram shape).
TensorMetrics layer_value(const LayerMetrics& layer);

struct ModelMetrics {
  WeightedMetric softmax_js, histogram_js, coverage, pearson, cosine, mse, sqnr_db;
};

// Weights every metric by the shares. Each share's layer must have exactly one LayerMetrics entry
// (matched by name) and every entry a share; throws std::invalid_argument naming the layer.
ModelMetrics aggregate_metrics(const std::vector<LayerShare>& shares,
                               const std::vector<LayerMetrics>& layers, double model_macs);

}  // namespace ptq
