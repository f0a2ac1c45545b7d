// Range reduction: min and max (NaN ignored) plus NaN and Inf counts of a tensor, in one pass.
//
// Floats are mapped to order-preserving signed integers (flip the magnitude bits of negatives),
// so each block's result folds into the global one with atomicMin / atomicMax; blocks reduce
// with cub::BlockReduce first, so there is one atomic per block and value.
//
// Test: ctest --test-dir build -R TensorRange
#include <cmath>
#include <cstdint>
#include <cstring>
#include <cub/block/block_reduce.cuh>
#include <cuda/functional>
#include <stdexcept>
#include <string>

#include "gpu/cuda_check.h"
#include "gpu/device_buffer.h"
#include "kernels/float_order.h"
#include "kernels/launch.h"
#include "kernels/tensor_range.cuh"

namespace ptq {
namespace {

constexpr int kThreads = 256;

struct RangeAccumulator {
  int min_key;
  int max_key;
  unsigned long long nan_count;
  unsigned long long inf_count;
};

// ---------------------------------------------------------------------------------------------
// Kernels

__global__ void range_init_kernel(RangeAccumulator* acc) {
  acc->min_key = 0x7FFFFFFF;
  acc->max_key = static_cast<int>(0x80000000u);
  acc->nan_count = 0;
  acc->inf_count = 0;
}

__global__ void range_kernel(const float* __restrict__ x, std::size_t n, RangeAccumulator* acc) {
  int lo = 0x7FFFFFFF;
  int hi = static_cast<int>(0x80000000u);
  unsigned long long nans = 0, infs = 0;
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  for (std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    const float v = x[i];
    if (v != v) {
      ++nans;
      continue;
    }
    if (isinf(v)) ++infs;
    const int k = order_key(v);
    lo = min(lo, k);
    hi = max(hi, k);
  }
  using IntReduce = cub::BlockReduce<int, kThreads>;
  using CountReduce = cub::BlockReduce<unsigned long long, kThreads>;
  __shared__ union {
    typename IntReduce::TempStorage ints;
    typename CountReduce::TempStorage counts;
  } temp;
  const int block_lo = IntReduce(temp.ints).Reduce(lo, cuda::minimum<int>{});
  __syncthreads();
  const int block_hi = IntReduce(temp.ints).Reduce(hi, cuda::maximum<int>{});
  __syncthreads();
  const unsigned long long block_nans = CountReduce(temp.counts).Sum(nans);
  __syncthreads();
  const unsigned long long block_infs = CountReduce(temp.counts).Sum(infs);
  if (threadIdx.x == 0) {
    atomicMin(&acc->min_key, block_lo);
    atomicMax(&acc->max_key, block_hi);
    if (block_nans) atomicAdd(&acc->nan_count, block_nans);
    if (block_infs) atomicAdd(&acc->inf_count, block_infs);
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Launchers

TensorRange tensor_range(const float* d_x, std::size_t n, cudaStream_t stream) {
  TensorRange r;
  if (n == 0) return r;
  DeviceBuffer<RangeAccumulator> d_acc(1);
  range_init_kernel<<<1, 1, 0, stream>>>(d_acc.data());
  CUDA_CHECK_LAST();
  range_kernel<<<grid_size(n, kThreads * 8, kThreads), kThreads, 0, stream>>>(d_x, n, d_acc.data());
  CUDA_CHECK_LAST();
  RangeAccumulator h_acc{};
  CUDA_CHECK(cudaMemcpyAsync(&h_acc, d_acc.data(), sizeof h_acc, cudaMemcpyDeviceToHost, stream));
  CUDA_CHECK(cudaStreamSynchronize(stream));
  r.nan_count = h_acc.nan_count;
  r.inf_count = h_acc.inf_count;
  if (r.nan_count < n) {
    r.min_value = float_from_order_key(h_acc.min_key);
    r.max_value = float_from_order_key(h_acc.max_key);
  }
  return r;
}

float tensor_scale(const float* d_x, std::size_t n, const QuantFormat& f, cudaStream_t stream) {
  const TensorRange r = tensor_range(d_x, n, stream);
  if (r.nan_count || r.inf_count) {
    throw std::invalid_argument("cannot scale a tensor holding " + std::to_string(r.nan_count) +
                                " NaN and " + std::to_string(r.inf_count) + " Inf values");
  }
  return scale_from_range(f, r.min_value, r.max_value);
}

}  // namespace ptq
