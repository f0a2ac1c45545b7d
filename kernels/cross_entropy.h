// The running totals of softmax cross-entropy (kernels/cross_entropy.cuh), usable without CUDA.
#pragma once

namespace ptq {

// Totals of a pass over batches; zeroed by the caller before the first batch.
struct LossTotals {
  double loss_sum;             // sum over samples of -log softmax(logits)[label]
  unsigned long long correct;  // samples whose argmax (first maximum) equals the label
  unsigned long long count;    // samples seen
};

}  // namespace ptq
