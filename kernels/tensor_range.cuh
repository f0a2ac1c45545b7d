// One-pass range of a device tensor (min, max, NaN and Inf counts), and the per-tensor scale of a
// format from it.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

#include "kernels/tensor_range.h"
#include "quant/format.h"

namespace ptq {

// Range of the n floats at d_x (device memory): min and max ignoring NaN, NaN and Inf counts.
// Synchronizes the stream to return the result. n == 0 gives the empty range {0, 0, 0, 0}.
TensorRange tensor_range(const float* d_x, std::size_t n, cudaStream_t stream);

// scale_from_range(f, range) of the tensor: max(|min|, |max|) / qmax. Throws std::invalid_argument
// naming the counts when the tensor holds NaN or Inf (no finite scale exists then).
float tensor_scale(const float* d_x, std::size_t n, const QuantFormat& f, cudaStream_t stream);

}  // namespace ptq
