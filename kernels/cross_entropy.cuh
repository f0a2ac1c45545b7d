// Softmax cross-entropy over a batch of logits: loss, its gradient and the correct-prediction
// count, in one launch (no host synchronisation, so a whole epoch accumulates on the device).
#pragma once

#include <cuda_runtime.h>

#include "kernels/cross_entropy.h"

namespace ptq {

// For each of n samples (row-major n x classes logits, labels in [0, classes), device memory):
// adds its loss, correctness and count to *d_totals; when d_grad is not null also writes
// d_grad = (softmax(logits) - onehot(label)) * grad_scale (grad_scale = 1/n gives the gradient of
// the batch mean). classes <= 32 (one warp per sample).
void softmax_cross_entropy(const float* d_logits, const int* d_labels, int n, int classes,
                           float grad_scale, float* d_grad, LossTotals* d_totals,
                           cudaStream_t stream);

}  // namespace ptq
