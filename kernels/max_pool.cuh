// Max pooling forward (with each window's winner) and backward on the GPU; semantics in
// kernels/max_pool.h. One launch each, enqueued on `stream`, no synchronisation.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/max_pool.h"

namespace ptq {

// The kernels' index arithmetic: 32-bit whenever the element counts allow (kAuto), or forced
// (tests run both; k32 throws std::invalid_argument for counts above 2^31 - 1).
enum class MaxPoolIndex { kAuto, k32, k64 };

// y: shape.out_count() floats; winner: as many bytes, or null when no backward will follow.
// Throws std::invalid_argument for a shape check_max_pool_shape rejects.
void max_pool_forward(const float* d_x, const MaxPoolShape& shape, float* d_y,
                      std::uint8_t* d_winner, cudaStream_t stream,
                      MaxPoolIndex index = MaxPoolIndex::kAuto);

// dx (shape.in_count() floats) = beta * dx + the sum of dy over the windows each position won
// (beta 0 writes dx without reading it; otherwise dx must hold values).
void max_pool_backward(const std::uint8_t* d_winner, const float* d_dy, const MaxPoolShape& shape,
                       float beta, float* d_dx, cudaStream_t stream,
                       MaxPoolIndex index = MaxPoolIndex::kAuto);

// Which kernels max_pool_forward and max_pool_backward run for a shape and index choice when
// their arrays are 16-byte aligned (as cudaMalloc's are): the launchers' own decision, so that
// tests can hold the study's pools to the tiled kernels. Host only: no device needed. Throws
// like the launchers.
enum class MaxPoolKernels { kTiled, kGeneric, kGeneric64 };
MaxPoolKernels max_pool_forward_kernels(const MaxPoolShape& shape,
                                        MaxPoolIndex index = MaxPoolIndex::kAuto);
MaxPoolKernels max_pool_backward_kernels(const MaxPoolShape& shape,
                                         MaxPoolIndex index = MaxPoolIndex::kAuto);

}  // namespace ptq
