// One optimiser step over a flat parameter arena, one launch (formulas: kernels/optimizer.h).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

#include "kernels/optimizer.h"

namespace ptq {

// SGD step on n parameters; d_params, d_grads and d_momentum (n floats, unused and may be null
// when momentum == 0) are device memory. first_step initialises the momentum buffer with g.
void sgd_step(float* d_params, const float* d_grads, float* d_momentum, std::size_t n,
              const SgdConfig& config, bool first_step, cudaStream_t stream);

// Adam step number `step` (>= 1) on n parameters; d_m and d_v (n floats each, zero before step 1)
// are the moment buffers. All pointers are device memory.
void adam_step(float* d_params, const float* d_grads, float* d_m, float* d_v, std::size_t n,
               const AdamConfig& config, int step, cudaStream_t stream);

}  // namespace ptq
