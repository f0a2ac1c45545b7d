// CPU reference for the histogram metrics (kernels/histogram_metrics.cuh): the same bin rule
// (kernels/metric_math.h), counts in plain loops, sums in double.
#pragma once

#include "kernels/histogram_metrics.h"
#include "kernels/tensor_list.h"

namespace ptq {

struct HistogramMetricsRef {
  HistogramMetrics metrics;
  TensorHistograms histograms;
};

// Metrics of the pair (host memory, same shape) with `bins` bins and the coverage of spec's grid.
// Throws std::invalid_argument naming the tensor when either holds NaN or Inf, or when bins is
// outside [1, kMaxBins]. Enumerates every integer grid point of an INT format inside the range
// (slow for tiny scales: fine for tests).
HistogramMetricsRef histogram_metrics_ref(const TensorSegment& full, const TensorSegment& quant,
                                          const CoverageSpec& spec, int bins = kDefaultBins);

// The largest integer of an INT format's grid: 2^(b-1) - 1 (2^63 - 1 for INT_64).
long long int_grid_max(const QuantFormat& f);

}  // namespace ptq
