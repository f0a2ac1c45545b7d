// CPU references for the fused quantize-dequantize kernels (kernels/fake_quant.cuh): a brute-force
// nearest search over the enumerated grid, with the tie rules stated in kernels/quant_math.h.
#pragma once

#include <cstddef>
#include <vector>

#include "kernels/quant_math.h"
#include "quant/format.h"

namespace ptq {

// Lowers a format to the parameters of the arithmetic nearest (kernels/quant_math.h).
FormatParams make_format_params(const QuantFormat& f);

// Brute-force grid value of x at scale s: nearest of the enumerated grid to min(|x / s|, qmax),
// ties by the format's rule, sign of x / s kept; INT_64 rounds half to even in double.
// Same edge semantics as quantize_value.
float quantize_value_ref(float x, float scale, const QuantFormat& f);

// h_y[i] = quantize_value_ref(h_x[i]) * s (fake quantization) or the grid value alone.
void fake_quant_ref(const float* h_x, float* h_y, std::size_t n, float scale, const QuantFormat& f);
void quantize_ref(const float* h_x, float* h_q, std::size_t n, float scale, const QuantFormat& f);

}  // namespace ptq
