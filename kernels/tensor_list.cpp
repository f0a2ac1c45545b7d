#include "kernels/tensor_list.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace ptq {
namespace {

std::string shape_string(const std::vector<std::int64_t>& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + ")";
}

}  // namespace

std::size_t element_count(const TensorSegment& t) {
  if (t.shape.empty()) throw std::invalid_argument("tensor '" + t.name + "' has an empty shape");
  std::size_t n = 1;
  for (std::int64_t d : t.shape) {
    if (d < 1) {
      throw std::invalid_argument("tensor '" + t.name + "' has shape " + shape_string(t.shape) +
                                  "; every dimension must be >= 1");
    }
    n *= static_cast<std::size_t>(d);
  }
  if (t.data == nullptr) throw std::invalid_argument("tensor '" + t.name + "' has no data");
  return n;
}

SoftmaxRows softmax_rows(const TensorSegment& t) {
  const std::size_t n = element_count(t);
  if (t.shape.size() == 1) return {1, n, 1};
  const std::size_t length = static_cast<std::size_t>(t.shape[1]);
  const std::size_t inner = n / static_cast<std::size_t>(t.shape[0]) / length;
  return {n / length, length, inner};
}

void check_tensor_pairs(const TensorList& full, const TensorList& quant) {
  if (full.size() != quant.size()) {
    throw std::invalid_argument("tensor lists differ in length: " + std::to_string(full.size()) +
                                " full-precision vs " + std::to_string(quant.size()) +
                                " quantized tensors");
  }
  for (std::size_t i = 0; i < full.size(); ++i) {
    element_count(full[i]);
    element_count(quant[i]);
    if (full[i].shape != quant[i].shape) {
      throw std::invalid_argument("tensor '" + full[i].name + "' has shape " +
                                  shape_string(full[i].shape) + " but its quantized pair '" +
                                  quant[i].name + "' has " + shape_string(quant[i].shape));
    }
  }
}

void check_finite(const TensorSegment& t, const char* which) {
  const std::size_t n = element_count(t);
  const std::size_t bad = static_cast<std::size_t>(
      std::count_if(t.data, t.data + n, [](float v) { return !std::isfinite(v); }));
  if (bad) {
    throw std::invalid_argument(std::string(which) + " tensor '" + t.name + "' holds " +
                                std::to_string(bad) + " NaN or Inf values");
  }
}

}  // namespace ptq
