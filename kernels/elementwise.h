// Types shared by the memory-bound layer kernels (kernels/elementwise.cuh) and their CPU
// references (kernels/elementwise_ref.h). Usable without CUDA.
#pragma once

#include <cstddef>
#include <limits>

namespace ptq {

enum class Activation { kRelu, kRelu6 };

// Where the activation's forward clamps x from above (+Inf: never).
inline float activation_ceiling(Activation act) {
  return act == Activation::kRelu6 ? 6.0f : std::numeric_limits<float>::infinity();
}

// One slice of a strided copy (kernels/elementwise.cuh, copy_slices): `width` floats per row,
// rows `src_stride` and `dst_stride` floats apart, dst = src + beta * dst.
struct SliceCopy {
  const float* src = nullptr;
  std::size_t src_stride = 0;
  float* dst = nullptr;
  std::size_t dst_stride = 0;
  std::size_t width = 0;
  float beta = 0.0f;
};

constexpr int kMaxSlices = 8;  // the widest concatenation of the study's networks has 4 inputs

}  // namespace ptq
