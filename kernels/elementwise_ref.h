// CPU references for kernels/elementwise.cuh, written from the formulas there: plain loops, the
// products with beta fused (std::fma) as the kernels fuse them.
#pragma once

#include <cstddef>
#include <vector>

#include "kernels/elementwise.h"

namespace ptq {

void activation_forward_ref(Activation act, const std::vector<float>& x, std::vector<float>& y);

// dx must hold y.size() floats when beta is not 0; it is resized otherwise.
void activation_backward_ref(Activation act, const std::vector<float>& y,
                             const std::vector<float>& dy, float beta, std::vector<float>& dx);

void add_tensors_ref(const std::vector<float>& a, const std::vector<float>& b,
                     std::vector<float>& y);

// One slice of copy_slices over host arrays: src and dst are the slice's first floats.
void copy_slice_ref(const float* src, std::size_t src_stride, float* dst, std::size_t dst_stride,
                    std::size_t width, std::size_t rows, float beta);

}  // namespace ptq
