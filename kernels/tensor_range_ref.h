// CPU reference for kernels/tensor_range.cuh.
#pragma once

#include <cstddef>

#include "kernels/tensor_range.h"

namespace ptq {

// Range of h_x: minimum and maximum over finite and infinite values, NaN counted apart.
TensorRange tensor_range_ref(const float* h_x, std::size_t n);

}  // namespace ptq
