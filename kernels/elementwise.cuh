// The networks' memory-bound layers on the GPU: ReLU and ReLU6 forward and backward, the sum of
// two tensors (residual add), and strided slice copies (concatenation along channels, and its
// backward). CPU references in kernels/elementwise_ref.h. Each launcher enqueues one launch on
// `stream` (none when there is nothing to do), no synchronisation; every array is on the device.
//
// Why not cuDNN: on the H200 at the study's shapes cuDNN's activation and op-tensor kernels move
// 2.0-3.2 TiB/s and one cudaMemcpy2DAsync per concatenated input 1.5 TiB/s, against 2.7-3.7 for
// these (1.16-1.35x) and 3.7 for a device copy (bench/elementwise_bench); in Inception_BN's
// training step the ReLUs and concatenations took 10 of 45 ms (bench/layer_profile), 6.5 with
// these.
// Arrays given to one call do not overlap, except dx and dst, which are read and written.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

#include "kernels/elementwise.h"

namespace ptq {

// y[i] = act(x[i]): ReLU x < 0 ? 0 : x; ReLU6 the same clamped to 6 above. NaN stays NaN (so a
// diverging loss is still seen), -0 stays -0.
void activation_forward(Activation act, const float* d_x, std::size_t count, float* d_y,
                        cudaStream_t stream);

// dx[i] = beta * dx[i] + (0 < y[i] ? dy[i] : 0) for ReLU, (0 < y[i] < 6 ? dy[i] : 0) for ReLU6,
// y the forward's output: where x passed unchanged (an x of +Inf too; a NaN passes no gradient).
// beta 0 writes dx without reading it.
void activation_backward(Activation act, const float* d_y, const float* d_dy, std::size_t count,
                         float beta, float* d_dx, cudaStream_t stream);

// y[i] = a[i] + b[i].
void add_tensors(const float* d_a, const float* d_b, std::size_t count, float* d_y,
                 cudaStream_t stream);

// For each slice k < count (at most kMaxSlices) and row r < rows, column c < width_k:
//   dst_k[r * dst_stride_k + c] = src_k[r * src_stride_k + c] + beta_k * dst_k[...]
// (beta 0 writes without reading). Concatenation along channels is one slice per input with
// rows = images and width = the input's floats per image; its backward swaps source and
// destination; rows 1 is a plain copy or accumulation. Slices must not overlap one another.
// Throws std::invalid_argument for more than kMaxSlices slices or a width above a stride.
void copy_slices(const SliceCopy* slices, int count, std::size_t rows, cudaStream_t stream);

}  // namespace ptq
