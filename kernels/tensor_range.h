// The result type of the tensor range reduction (kernels/tensor_range.cuh), usable without CUDA.
#pragma once

#include <cstdint>

namespace ptq {

// min and max ignore NaN; with no non-NaN element both are 0. nan_count counts NaN elements,
// inf_count +-Inf ones, so callers can refuse non-finite tensors with a clear message.
struct TensorRange {
  float min_value = 0.0f;
  float max_value = 0.0f;
  std::uint64_t nan_count = 0;
  std::uint64_t inf_count = 0;
};

}  // namespace ptq
