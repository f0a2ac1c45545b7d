#include "kernels/histogram_metrics_ref.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <stdexcept>
#include <string>

namespace ptq {
namespace {

std::vector<std::uint32_t> histogram(const float* x, std::size_t n, const BinRule& rule) {
  std::vector<std::uint32_t> h(static_cast<std::size_t>(rule.bins), 0);
  for (std::size_t i = 0; i < n; ++i) ++h[static_cast<std::size_t>(bin_of(x[i], rule))];
  return h;
}

// Marks the bin of every scaled grid value float(g) * scale that lies in [lo, hi].
std::vector<bool> covered_bins(const CoverageSpec& spec, const BinRule& rule) {
  std::vector<bool> covered(static_cast<std::size_t>(rule.bins), false);
  auto mark = [&](float g) {
    const float v = g * spec.scale;
    if (v >= rule.lo && v <= rule.hi) covered[static_cast<std::size_t>(bin_of(v, rule))] = true;
  };
  if (spec.format.kind != FormatKind::kInt) {
    for (double g : format_grid(spec.format)) mark(static_cast<float>(g));
    return covered;
  }
  const long long qmax = int_grid_max(spec.format);
  if (spec.scale == 0.0f) {
    mark(0.0f);
    return covered;
  }
  // Integers k whose float(k) * scale can reach [lo, hi]: the exact window widened by the float
  // rounding of k (|k| 2^-23) and two steps.
  const double k_lo = std::floor(rule.lo / static_cast<double>(spec.scale));
  const double k_hi = std::ceil(rule.hi / static_cast<double>(spec.scale));
  const double margin = 2.0 + std::max(std::fabs(k_lo), std::fabs(k_hi)) * 0x1p-23;
  const double from = std::max(k_lo - margin, -static_cast<double>(qmax));
  const double to = std::min(k_hi + margin, static_cast<double>(qmax));
  if (to - from > 1e9) throw std::invalid_argument("coverage reference: grid window too large");
  for (long long k = static_cast<long long>(from); k <= static_cast<long long>(to); ++k) {
    if (k >= -qmax && k <= qmax) mark(static_cast<float>(k));
  }
  return covered;
}

}  // namespace

long long int_grid_max(const QuantFormat& f) {
  return f.bits >= 64 ? LLONG_MAX : (1LL << (f.bits - 1)) - 1;
}

HistogramMetricsRef histogram_metrics_ref(const TensorSegment& full, const TensorSegment& quant,
                                          const CoverageSpec& spec, int bins) {
  if (bins < 1 || bins > kMaxBins) {
    throw std::invalid_argument("bins must be in [1, " + std::to_string(kMaxBins) + "], got " +
                                std::to_string(bins));
  }
  check_tensor_pairs({full}, {quant});
  const std::size_t n = element_count(full);
  check_finite(full, "full-precision");
  check_finite(quant, "quantized");
  const float* x = full.data;
  const float* y = quant.data;

  HistogramMetricsRef ref;
  TensorHistograms& h = ref.histograms;
  const auto [x_lo, x_hi] = std::minmax_element(x, x + n);
  const auto [y_lo, y_hi] = std::minmax_element(y, y + n);
  h.shared = make_bin_rule(std::min(*x_lo, *y_lo), std::max(*x_hi, *y_hi), bins);
  h.own = make_bin_rule(*x_lo, *x_hi, bins);
  h.full = histogram(x, n, h.shared);
  h.quant = histogram(y, n, h.shared);
  h.full_own = histogram(x, n, h.own);

  HistogramMetrics& m = ref.metrics;
  const double count = static_cast<double>(n);
  const double mean = count / bins;
  double js = 0, cxy = 0, cxx = 0, cyy = 0, dot = 0, nxx = 0, nyy = 0;
  for (int b = 0; b < bins; ++b) {
    const double hx = h.full[b], hy = h.quant[b];
    const double p = hx / count, q = hy / count, mid = (p + q) / 2;
    if (p > 0) js += p * std::log(p / mid);
    if (q > 0) js += q * std::log(q / mid);
    cxy += (hx - mean) * (hy - mean);
    cxx += (hx - mean) * (hx - mean);
    cyy += (hy - mean) * (hy - mean);
    dot += hx * hy;
    nxx += hx * hx;
    nyy += hy * hy;
  }
  m.js = js / 2;
  m.pearson = (cxx > 0 && cyy > 0) ? cxy / std::sqrt(cxx * cyy) : (h.full == h.quant ? 1.0 : 0.0);
  m.cosine = dot / std::sqrt(nxx * nyy);

  const std::vector<bool> covered = covered_bins(spec, h.own);
  for (int b = 0; b < bins; ++b) {
    if (!covered[b]) continue;
    m.covered_elements += h.full_own[b];
    ++m.covered_bins;
  }
  m.coverage = static_cast<double>(m.covered_elements) / count;

  double diff2 = 0, full2 = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(x[i]) - static_cast<double>(y[i]);
    diff2 += d * d;
    full2 += static_cast<double>(x[i]) * x[i];
  }
  m.mse = diff2 / count;
  m.sqnr_db = diff2 > 0 ? 10 * std::log10(full2 / diff2) : INFINITY;
  return ref;
}

}  // namespace ptq
