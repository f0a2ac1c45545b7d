// A model's list of layer tensors as the metric kernels take it: named segments of float memory
// with their shapes. Host-only (no CUDA); whether `data` is host or device memory is the
// consumer's contract.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ptq {

// One tensor: conv weight (out, in, kh, kw), linear weight (out, in) or bias (n).
struct TensorSegment {
  std::string name;  // e.g. "features.0.weight"; error messages name it
  const float* data = nullptr;
  std::vector<std::int64_t> shape;
};

using TensorList = std::vector<TensorSegment>;

// Product of the shape; throws std::invalid_argument naming the tensor for an empty shape, a
// dimension < 1 or a null pointer.
std::size_t element_count(const TensorSegment& t);

// The rows the study's softmax runs over (PyTorch softmax(dim=1); dim 0 for a 1-D bias): a tensor
// of shape (outer, length, inner...) has outer * inner rows of `length` elements, `stride`
// (= inner) apart; row r starts at (r / stride) * length * stride + r % stride.
struct SoftmaxRows {
  std::size_t rows = 0;
  std::size_t length = 0;
  std::size_t stride = 0;
};
SoftmaxRows softmax_rows(const TensorSegment& t);

// Throws std::invalid_argument unless full and quant have the same length and, pairwise, the same
// shape and valid segments (element_count). The message names the first offending tensor.
void check_tensor_pairs(const TensorList& full, const TensorList& quant);

// Host memory only: throws std::invalid_argument naming the tensor (and `which`, e.g.
// "full-precision") when it holds NaN or Inf.
void check_finite(const TensorSegment& t, const char* which);

}  // namespace ptq
