// Result and input types of the histogram metrics (kernels/histogram_metrics.cuh), usable without
// CUDA: histogram JS divergence, trend similarity, bins coverage, MSE and SQNR of a tensor pair.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/metric_math.h"
#include "quant/format.h"

namespace ptq {

constexpr int kDefaultBins = 2048;  // DESIGN.md section 6
constexpr int kMaxBins = 16384;     // three histograms of this size fill 192 KiB of shared memory

// The format whose grid the full-precision tensor was quantized to, and its scale.
struct CoverageSpec {
  QuantFormat format;
  float scale = 0.0f;
};

// Metrics of one (full-precision x, quantized y) pair of n elements. Histograms hx, hy: both
// tensors binned on their shared range [min(x, y), max(x, y)] (BinRule).
struct HistogramMetrics {
  double js = 0.0;       // JS(hx/n, hy/n) in nats, in [0, ln 2]; empty bins contribute nothing
  double pearson = 0.0;  // correlation of hx and hy; 1 if equal and flat, 0 if unequal and flat
  double cosine = 0.0;   // hx . hy / (|hx| |hy|)
  // x binned on its own range [min x, max x]; a bin is covered when it holds a scaled grid value
  // float(g) * scale (float32 product) of the format. coverage = covered_elements / n.
  double coverage = 0.0;
  std::uint64_t covered_elements = 0;
  std::uint32_t covered_bins = 0;
  double mse = 0.0;      // sum (x - y)^2 / n
  double sqnr_db = 0.0;  // 10 log10(sum x^2 / sum (x - y)^2); +Inf when x == y
};

// The counts behind HistogramMetrics, for exact comparison in tests.
struct TensorHistograms {
  BinRule shared;  // range of x and y together
  BinRule own;     // range of x alone
  std::vector<std::uint32_t> full, quant, full_own;
};

}  // namespace ptq
