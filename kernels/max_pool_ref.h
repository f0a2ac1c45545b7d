// CPU reference for kernels/max_pool.cuh (semantics in kernels/max_pool.h).
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/max_pool.h"

namespace ptq {

// y and winner get shape.out_count() elements. Throws like check_max_pool_shape.
void max_pool_forward_ref(const std::vector<float>& x, const MaxPoolShape& shape,
                          std::vector<float>& y, std::vector<std::uint8_t>& winner);

// dx (shape.in_count() floats, read unless beta is 0) = beta * dx + the scattered dy, summed in
// double per position and rounded once.
void max_pool_backward_ref(const std::vector<std::uint8_t>& winner, const std::vector<float>& dy,
                           const MaxPoolShape& shape, float beta, std::vector<float>& dx);

}  // namespace ptq
