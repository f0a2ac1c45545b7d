// CPU reference for the study's softmax Jensen-Shannon divergence (kernels/softmax_js.cuh).
#pragma once

#include "kernels/tensor_list.h"

namespace ptq {

// Sum over the softmax rows (softmax_rows) of JS(p, q) = (KL(p||m) + KL(q||m)) / 2 with
// m = (p + q) / 2, p = softmax(full row), q = softmax(quant row), natural log, 0 log 0 = 0; plain
// long double arithmetic (the formula cancels when p ~ q).
// Host memory. Throws std::invalid_argument naming the tensor when either holds NaN or Inf.
double softmax_js_ref(const TensorSegment& full, const TensorSegment& quant);

}  // namespace ptq
