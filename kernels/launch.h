// Launch-shape helpers shared by the kernels' host launchers.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>

#include "gpu/cuda_check.h"

namespace ptq {

// Multiprocessor count of the current device, read once per process.
inline int device_sm_count() {
  static const int count = [] {
    int device = 0, sms = 0;
    CUDA_CHECK(cudaGetDevice(&device));
    CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
    return sms;
  }();
  return count;
}

// Blocks for a grid-stride kernel: enough to cover `work` items at `per_block` items per block,
// capped at four waves of full occupancy (2048 threads per SM) so huge inputs loop instead.
inline int grid_size(std::size_t work, std::size_t per_block, int threads) {
  const std::size_t wanted = (work + per_block - 1) / per_block;
  const std::size_t cap = static_cast<std::size_t>(device_sm_count()) * (2048 / threads) * 4;
  return static_cast<int>(std::max<std::size_t>(1, std::min(wanted, cap)));
}

}  // namespace ptq
