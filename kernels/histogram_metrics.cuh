// Histogram metrics of every (full-precision, quantized) tensor pair of a model on the GPU, in
// four launches over the whole list: histogram JS, Pearson and cosine trend similarity, bins
// coverage of a format's grid, MSE and SQNR. Definitions: kernels/histogram_metrics.h; maths and
// bin rule: kernels/histogram_metrics.cu and kernels/metric_math.h.
#pragma once

#include <cuda_runtime.h>

#include <memory>
#include <vector>

#include "kernels/histogram_metrics.h"
#include "kernels/tensor_list.h"

namespace ptq {

// Device tables and workspace for one list of pairs; reuse it to rerun on the same memory.
class HistogramMetricsPlan {
 public:
  // full[i], quant[i]: device memory, same shape, fewer than 2^32 elements; coverage[i]: the
  // format and scale full[i] was quantized with; bins in [1, kMaxBins]. Throws
  // std::invalid_argument otherwise.
  HistogramMetricsPlan(const TensorList& full, const TensorList& quant,
                       const std::vector<CoverageSpec>& coverage, int bins = kDefaultBins);
  ~HistogramMetricsPlan();
  HistogramMetricsPlan(HistogramMetricsPlan&&) noexcept;
  HistogramMetricsPlan& operator=(HistogramMetricsPlan&&) noexcept;

  // Enqueues the launches on stream; asynchronous.
  void enqueue(cudaStream_t stream);
  // Waits for stream; the metrics per pair. Throws std::invalid_argument naming the first tensor
  // that holds NaN or Inf.
  std::vector<HistogramMetrics> results(cudaStream_t stream) const;
  // Waits for stream; the histograms behind the last results (for tests).
  std::vector<TensorHistograms> histograms(cudaStream_t stream) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One-shot: plan, enqueue, results. Synchronizes the stream.
std::vector<HistogramMetrics> histogram_metrics(const TensorList& full, const TensorList& quant,
                                                const std::vector<CoverageSpec>& coverage,
                                                int bins, cudaStream_t stream);

}  // namespace ptq
