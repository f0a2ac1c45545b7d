#include "quant/metrics_aggregate.h"

#include <cmath>
#include <map>
#include <sstream>
#include <stdexcept>

namespace ptq {
namespace {

std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> fields;
  std::stringstream ss(line);
  std::string field;
  while (std::getline(ss, field, ',')) fields.push_back(field);
  if (!line.empty() && line.back() == ',') fields.emplace_back();
  return fields;
}

double parse_number(const std::string& text, std::size_t line_no, const char* column) {
  std::size_t used = 0;
  double v = 0.0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || !std::isfinite(v) || v < 0) {
    throw std::invalid_argument("accounting CSV line " + std::to_string(line_no) + ": " + column +
                                " '" + text + "' is not a non-negative number");
  }
  return v;
}

bool absorbed_by_conv(LayerKind k) {
  return k == LayerKind::kBatchNorm || k == LayerKind::kRelu || k == LayerKind::kRelu6;
}

bool passed_over(LayerKind k) {
  return k == LayerKind::kAdd || k == LayerKind::kConcat || k == LayerKind::kFlatten;
}

}  // namespace

LayerKind parse_layer_kind(const std::string& name) {
  static const std::map<std::string, LayerKind> kinds = {
      {"Conv2d", LayerKind::kConv},       {"conv", LayerKind::kConv},
      {"Linear", LayerKind::kLinear},     {"linear", LayerKind::kLinear},
      {"BatchNorm2d", LayerKind::kBatchNorm}, {"bn", LayerKind::kBatchNorm},
      {"ReLU", LayerKind::kRelu},         {"relu", LayerKind::kRelu},
      {"ReLU6", LayerKind::kRelu6},       {"relu6", LayerKind::kRelu6},
      {"MaxPool2d", LayerKind::kMaxPool}, {"maxpool", LayerKind::kMaxPool},
      {"AdaptiveAvgPool2d", LayerKind::kAvgPool}, {"AvgPool2d", LayerKind::kAvgPool},
      {"avgpool", LayerKind::kAvgPool},   {"Dropout", LayerKind::kDropout},
      {"dropout", LayerKind::kDropout},   {"Flatten", LayerKind::kFlatten},
      {"flatten", LayerKind::kFlatten},   {"add", LayerKind::kAdd},
      {"concat", LayerKind::kConcat},     {"Model", LayerKind::kTotal},
      {"total", LayerKind::kTotal}};
  const auto it = kinds.find(name);
  if (it != kinds.end()) return it->second;
  std::string accepted;
  for (const auto& [k, v] : kinds) accepted += (accepted.empty() ? "" : ", ") + k;
  throw std::invalid_argument("unknown layer kind '" + name + "'; accepted: " + accepted);
}

std::vector<AccountingRow> read_accounting_csv(std::istream& in) {
  std::string line;
  if (!std::getline(in, line)) throw std::invalid_argument("accounting CSV is empty");
  const std::vector<std::string> header = split_csv_line(line);
  std::map<std::string, std::size_t> col;
  for (std::size_t i = 0; i < header.size(); ++i) col[header[i]] = i;
  for (const char* needed : {"model", "layer", "kind", "params", "macs"}) {
    if (!col.count(needed)) {
      throw std::invalid_argument(std::string("accounting CSV header lacks the column '") +
                                  needed + "'");
    }
  }
  std::vector<AccountingRow> rows;
  std::size_t line_no = 1;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    const std::vector<std::string> f = split_csv_line(line);
    if (f.size() < header.size()) {
      throw std::invalid_argument("accounting CSV line " + std::to_string(line_no) + " has " +
                                  std::to_string(f.size()) + " fields, the header " +
                                  std::to_string(header.size()));
    }
    AccountingRow r;
    r.model = f[col["model"]];
    r.layer = f[col["layer"]];
    r.kind = parse_layer_kind(f[col["kind"]]);
    r.params = parse_number(f[col["params"]], line_no, "params");
    r.macs = parse_number(f[col["macs"]], line_no, "macs");
    rows.push_back(r);
  }
  return rows;
}

std::vector<AccountingRow> model_rows(const std::vector<AccountingRow>& rows,
                                      const std::string& model) {
  std::vector<AccountingRow> out;
  for (const AccountingRow& r : rows) {
    if (r.model == model && r.kind != LayerKind::kTotal) out.push_back(r);
  }
  return out;
}

double model_macs(const std::vector<AccountingRow>& rows) {
  double macs = 0.0;
  for (const AccountingRow& r : rows) {
    if (r.kind != LayerKind::kTotal) macs += r.macs;
  }
  return macs;
}

std::vector<LayerShare> layer_shares(const std::vector<AccountingRow>& rows) {
  double total_macs = 0.0, total_params = 0.0;
  for (const AccountingRow& r : rows) {
    if (r.kind == LayerKind::kTotal) continue;
    if (r.model != rows.front().model) {
      throw std::invalid_argument("layer_shares: rows of models '" + rows.front().model +
                                  "' and '" + r.model + "' mixed");
    }
    total_macs += r.macs;
    total_params += r.params;
  }
  if (total_macs <= 0 || total_params <= 0) {
    throw std::invalid_argument("layer_shares: the rows sum to zero MACs or parameters");
  }
  std::vector<LayerShare> shares;
  bool absorbing = false;  // the last conv still takes the bn/relu rows that follow it
  for (const AccountingRow& r : rows) {
    if (r.kind == LayerKind::kTotal || passed_over(r.kind)) continue;
    const LayerShare own{r.layer, 100 * r.macs / total_macs, 100 * r.params / total_params};
    if (r.kind == LayerKind::kConv || r.kind == LayerKind::kLinear) {
      shares.push_back(own);
      absorbing = r.kind == LayerKind::kConv;
    } else if (absorbing && absorbed_by_conv(r.kind)) {
      shares.back().macs_pct += own.macs_pct;
      shares.back().params_pct += own.params_pct;
    } else {
      absorbing = false;
    }
  }
  return shares;
}

WeightedMetric weight_layers(const std::vector<LayerShare>& shares,
                             const std::vector<double>& values, double model_macs) {
  if (shares.size() != values.size()) {
    throw std::invalid_argument("weight_layers: " + std::to_string(values.size()) +
                                " values for " + std::to_string(shares.size()) + " layers");
  }
  WeightedMetric w;
  for (std::size_t i = 0; i < shares.size(); ++i) {
    w.js_flops += values[i] * shares[i].macs_pct;
    w.js_param += values[i] * shares[i].params_pct;
  }
  const double macs_millions = model_macs / 1e6;
  w.js_flops_wt_log = w.js_flops * std::log10(macs_millions);
  w.js_flops_wt_cbrt = w.js_flops * std::cbrt(macs_millions);
  return w;
}

TensorMetrics layer_value(const LayerMetrics& layer) {
  TensorMetrics v = layer.weight;
  if (layer.bias) {
    v.softmax_js += layer.bias->softmax_js;
    v.histogram_js += layer.bias->histogram_js;
    v.mse += layer.bias->mse;
  }
  return v;
}

ModelMetrics aggregate_metrics(const std::vector<LayerShare>& shares,
                               const std::vector<LayerMetrics>& layers, double model_macs) {
  std::map<std::string, TensorMetrics> by_name;
  for (const LayerMetrics& l : layers) {
    if (!by_name.emplace(l.layer, layer_value(l)).second) {
      throw std::invalid_argument("aggregate_metrics: layer '" + l.layer + "' given twice");
    }
  }
  std::vector<TensorMetrics> values;
  for (const LayerShare& s : shares) {
    const auto it = by_name.find(s.layer);
    if (it == by_name.end()) {
      throw std::invalid_argument("aggregate_metrics: no metrics for layer '" + s.layer + "'");
    }
    values.push_back(it->second);
    by_name.erase(it);
  }
  if (!by_name.empty()) {
    throw std::invalid_argument("aggregate_metrics: layer '" + by_name.begin()->first +
                                "' has metrics but no share (not a conv or linear layer?)");
  }
  auto column = [&](double TensorMetrics::*field) {
    std::vector<double> v;
    for (const TensorMetrics& m : values) v.push_back(m.*field);
    return weight_layers(shares, v, model_macs);
  };
  ModelMetrics out;
  out.softmax_js = column(&TensorMetrics::softmax_js);
  out.histogram_js = column(&TensorMetrics::histogram_js);
  out.coverage = column(&TensorMetrics::coverage);
  out.pearson = column(&TensorMetrics::pearson);
  out.cosine = column(&TensorMetrics::cosine);
  out.mse = column(&TensorMetrics::mse);
  out.sqnr_db = column(&TensorMetrics::sqnr_db);
  return out;
}

}  // namespace ptq
