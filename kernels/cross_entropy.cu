// Softmax cross-entropy, one warp per sample (classes <= 32, one logit per lane):
//   loss_i = log(sum_c exp(z_c - max)) - (z_label - max)
//   grad_ic = (exp(z_c - max) / sum - [c == label]) * grad_scale
// argmax takes the first maximum. Per-block totals are summed in shared memory, then one atomic
// per block adds them to the running totals (double for the loss).
//
// Test: ctest --test-dir build -R CrossEntropy
#include <stdexcept>

#include "gpu/cuda_check.h"
#include "kernels/cross_entropy.cuh"

namespace ptq {
namespace {

constexpr int kWarpsPerBlock = 8;

// ---------------------------------------------------------------------------------------------
// Kernels

__global__ void softmax_cross_entropy_kernel(const float* __restrict__ logits,
                                             const int* __restrict__ labels, int n, int classes,
                                             float grad_scale, float* __restrict__ grad,
                                             LossTotals* totals) {
  __shared__ float block_loss[kWarpsPerBlock];
  __shared__ int block_correct[kWarpsPerBlock];
  __shared__ int block_count[kWarpsPerBlock];
  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  const int i = blockIdx.x * kWarpsPerBlock + warp;
  float loss = 0.0f;
  int correct = 0;
  if (i < n) {
    const bool active = lane < classes;
    const float z = active ? logits[static_cast<std::size_t>(i) * classes + lane] : -INFINITY;
    // Max and first argmax across the warp.
    float best = z;
    int best_lane = active ? lane : 32;
    for (int offset = 16; offset > 0; offset /= 2) {
      const float other = __shfl_xor_sync(0xFFFFFFFFu, best, offset);
      const int other_lane = __shfl_xor_sync(0xFFFFFFFFu, best_lane, offset);
      if (other > best || (other == best && other_lane < best_lane)) {
        best = other;
        best_lane = other_lane;
      }
    }
    const float e = active ? expf(z - best) : 0.0f;
    float sum = e;
    for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_xor_sync(0xFFFFFFFFu, sum, offset);
    const int label = labels[i];
    if (lane == label) loss = logf(sum) - (z - best);
    loss = __shfl_sync(0xFFFFFFFFu, loss, label);
    correct = best_lane == label ? 1 : 0;
    if (grad && active) {
      grad[static_cast<std::size_t>(i) * classes + lane] =
          (e / sum - (lane == label ? 1.0f : 0.0f)) * grad_scale;
    }
  }
  if (lane == 0) {
    block_loss[warp] = loss;
    block_correct[warp] = correct;
    block_count[warp] = i < n ? 1 : 0;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    double l = 0.0;
    unsigned long long c = 0, k = 0;
    for (int w = 0; w < kWarpsPerBlock; ++w) {
      l += block_loss[w];
      c += block_correct[w];
      k += block_count[w];
    }
    atomicAdd(&totals->loss_sum, l);
    atomicAdd(&totals->correct, c);
    atomicAdd(&totals->count, k);
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Launchers

void softmax_cross_entropy(const float* d_logits, const int* d_labels, int n, int classes,
                           float grad_scale, float* d_grad, LossTotals* d_totals,
                           cudaStream_t stream) {
  if (classes < 1 || classes > 32) {
    throw std::invalid_argument("softmax_cross_entropy: classes must be 1..32");
  }
  if (n <= 0) return;
  const int blocks = (n + kWarpsPerBlock - 1) / kWarpsPerBlock;
  softmax_cross_entropy_kernel<<<blocks, kWarpsPerBlock * 32, 0, stream>>>(
      d_logits, d_labels, n, classes, grad_scale, d_grad, d_totals);
  CUDA_CHECK_LAST();
}

}  // namespace ptq
