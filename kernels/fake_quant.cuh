// Fused quantize-dequantize on the GPU for every format of quant/format.h, one pass, 16-byte
// vector loads and stores. Semantics and tie rules: kernels/quant_math.h.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

#include "quant/format.h"

namespace ptq {

// d_y[i] = s * nearest(clamp(d_x[i] / s, -qmax, qmax)) for i < n. d_x and d_y are device memory
// of n floats and may be the same buffer (in place). scale must be finite and >= 0 (throws
// std::invalid_argument otherwise); scale 0 gives zeros. Asynchronous on stream.
void fake_quant(const float* d_x, float* d_y, std::size_t n, float scale, const QuantFormat& f,
                cudaStream_t stream);

// d_q[i] = nearest(clamp(d_x[i] / s, -qmax, qmax)): the grid value (an integer for INT), what
// freeze stores. Same contract as fake_quant.
void quantize(const float* d_x, float* d_q, std::size_t n, float scale, const QuantFormat& f,
              cudaStream_t stream);

}  // namespace ptq
