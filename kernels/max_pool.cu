// Max pooling kernels (semantics in max_pool.h): y[o] = max of o's window (first maximum wins,
// NaN propagates), winner[o] = its window offset; dx[i] = beta * dx[i] + sum of dy[o] over the
// windows o that i won. One thread per output for the forward, one per input for the backward,
// which gathers from the few windows covering its position instead of scattering with atomics.
// Test: build/tests/max_pool_test; benchmark: build/bench/max_pool_bench.
#include <algorithm>
#include <limits>
#include <stdexcept>

#include "kernels/launch.h"
#include "kernels/max_pool.cuh"

namespace ptq {
namespace {

constexpr int kThreads = 256;

// Index is unsigned int when every element count fits it (the usual case: 32-bit division is
// several times cheaper than 64-bit, and these kernels are otherwise memory-bound), else size_t.
// K and S, when not 0, fix the kernel size and stride at compile time (the study's 3x3 and 2x2
// pools: the window loops unroll and the divisions by the stride become shifts); 0 reads them
// from the shape.
template <typename Index, int K, int S>
__global__ void max_pool_forward_kernel(const float* __restrict__ x, MaxPoolShape s, int oh_n,
                                        int ow_n, float* __restrict__ y,
                                        std::uint8_t* __restrict__ winner) {
  const int kernel = K ? K : s.kernel, stride = S ? S : s.stride;
  const Index out_plane = static_cast<Index>(oh_n) * ow_n, in_plane = static_cast<Index>(s.h) * s.w;
  const Index total = static_cast<Index>(s.planes) * out_plane;
  for (Index o = blockIdx.x * static_cast<Index>(blockDim.x) + threadIdx.x; o < total;
       o += static_cast<Index>(gridDim.x) * blockDim.x) {
    const Index plane = o / out_plane;
    const int j = static_cast<int>(o - plane * out_plane);
    const int oh = j / ow_n, ow = j - oh * ow_n;
    const float* xp = x + plane * in_plane;
    const int r0 = oh * stride - s.padding, q0 = ow * stride - s.padding;
    float best = 0.0f;
    int best_at = -1;
#pragma unroll
    for (int u = 0; u < kernel; ++u) {
      const int r = r0 + u;
      if (r < 0 || r >= s.h) continue;
#pragma unroll
      for (int v = 0; v < kernel; ++v) {
        const int q = q0 + v;
        if (q < 0 || q >= s.w) continue;
        const float val = __ldg(xp + r * s.w + q);
        // The first valid position, then a strictly larger value, then a NaN, which stays.
        if (best_at < 0 || (!isnan(best) && (val > best || isnan(val)))) {
          best = val;
          best_at = u * kernel + v;
        }
      }
    }
    y[o] = best;
    if (winner) winner[o] = static_cast<std::uint8_t>(best_at);
  }
}

template <typename Index, int K, int S>
__global__ void max_pool_backward_kernel(const std::uint8_t* __restrict__ winner,
                                         const float* __restrict__ dy, MaxPoolShape s, int oh_n,
                                         int ow_n, float beta, float* __restrict__ dx) {
  const int kernel = K ? K : s.kernel, stride = S ? S : s.stride;
  const Index out_plane = static_cast<Index>(oh_n) * ow_n, in_plane = static_cast<Index>(s.h) * s.w;
  const Index total = static_cast<Index>(s.planes) * in_plane;
  for (Index i = blockIdx.x * static_cast<Index>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<Index>(gridDim.x) * blockDim.x) {
    const Index plane = i / in_plane;
    const int j = static_cast<int>(i - plane * in_plane);
    const int r = j / s.w, q = j - r * s.w;
    // Windows covering row r: oh * stride - padding <= r <= oh * stride - padding + kernel - 1.
    const int lo_r = r + s.padding - kernel + 1, lo_q = q + s.padding - kernel + 1;
    const int oh_lo = lo_r <= 0 ? 0 : (lo_r + stride - 1) / stride;
    const int ow_lo = lo_q <= 0 ? 0 : (lo_q + stride - 1) / stride;
    const int oh_hi = min(oh_n - 1, (r + s.padding) / stride);
    const int ow_hi = min(ow_n - 1, (q + s.padding) / stride);
    const std::uint8_t* wp = winner + plane * out_plane;
    const float* dyp = dy + plane * out_plane;
    float sum = 0.0f;
    for (int oh = oh_lo; oh <= oh_hi; ++oh) {
      const int row = (r - (oh * stride - s.padding)) * kernel;
      for (int ow = ow_lo; ow <= ow_hi; ++ow) {
        const int o = oh * ow_n + ow;
        if (__ldg(wp + o) == row + q - (ow * stride - s.padding)) sum += __ldg(dyp + o);
      }
    }
    dx[i] = beta == 0.0f ? sum : beta * dx[i] + sum;
  }
}

// Whether the kernels index with unsigned int: every count of the shape below 2^31 leaves room
// for the grid stride.
bool use_32bit(const MaxPoolShape& shape, MaxPoolIndex index) {
  const bool fits = std::max(shape.in_count(), shape.out_count()) <=
                    static_cast<std::size_t>(std::numeric_limits<int>::max());
  if (index == MaxPoolIndex::k32 && !fits)
    throw std::invalid_argument("max pool: element counts too large for 32-bit indices");
  return index == MaxPoolIndex::k32 || (index == MaxPoolIndex::kAuto && fits);
}

}  // namespace

void max_pool_forward(const float* d_x, const MaxPoolShape& shape, float* d_y,
                      std::uint8_t* d_winner, cudaStream_t stream, MaxPoolIndex index) {
  check_max_pool_shape(shape);
  const std::size_t n = shape.out_count();
  const int blocks = grid_size(n, kThreads, kThreads);
  const auto launch = [&](auto kernel) {
    kernel<<<blocks, kThreads, 0, stream>>>(d_x, shape, shape.out_h(), shape.out_w(), d_y,
                                            d_winner);
  };
  if (!use_32bit(shape, index)) {
    launch(max_pool_forward_kernel<std::size_t, 0, 0>);
  } else if (shape.kernel == 3 && shape.stride == 1) {
    launch(max_pool_forward_kernel<unsigned int, 3, 1>);
  } else if (shape.kernel == 3 && shape.stride == 2) {
    launch(max_pool_forward_kernel<unsigned int, 3, 2>);
  } else if (shape.kernel == 2 && shape.stride == 2) {
    launch(max_pool_forward_kernel<unsigned int, 2, 2>);
  } else {
    launch(max_pool_forward_kernel<unsigned int, 0, 0>);
  }
  CUDA_CHECK(cudaGetLastError());
}

void max_pool_backward(const std::uint8_t* d_winner, const float* d_dy, const MaxPoolShape& shape,
                       float beta, float* d_dx, cudaStream_t stream, MaxPoolIndex index) {
  check_max_pool_shape(shape);
  const std::size_t n = shape.in_count();
  const int blocks = grid_size(n, kThreads, kThreads);
  const auto launch = [&](auto kernel) {
    kernel<<<blocks, kThreads, 0, stream>>>(d_winner, d_dy, shape, shape.out_h(), shape.out_w(),
                                            beta, d_dx);
  };
  if (!use_32bit(shape, index)) {
    launch(max_pool_backward_kernel<std::size_t, 0, 0>);
  } else if (shape.kernel == 3 && shape.stride == 1) {
    launch(max_pool_backward_kernel<unsigned int, 3, 1>);
  } else if (shape.kernel == 3 && shape.stride == 2) {
    launch(max_pool_backward_kernel<unsigned int, 3, 2>);
  } else if (shape.kernel == 2 && shape.stride == 2) {
    launch(max_pool_backward_kernel<unsigned int, 2, 2>);
  } else {
    launch(max_pool_backward_kernel<unsigned int, 0, 0>);
  }
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace ptq
