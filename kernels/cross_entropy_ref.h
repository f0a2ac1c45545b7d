// CPU reference for kernels/cross_entropy.cuh, in double.
#pragma once

#include "kernels/cross_entropy.h"

namespace ptq {

// Same contract as softmax_cross_entropy on host arrays; h_grad may be null.
void softmax_cross_entropy_ref(const float* h_logits, const int* h_labels, int n, int classes,
                               float grad_scale, float* h_grad, LossTotals* totals);

}  // namespace ptq
