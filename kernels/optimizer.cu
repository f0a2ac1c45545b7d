// Optimiser steps (PyTorch's SGD with momentum / Nesterov / weight decay, and Adam) over a flat
// parameter arena: one element-wise launch per step, the formulas of kernels/optimizer.h in
// float32 (the reference computes in double; tests/optimizer_test.cu states the tolerance).
//
// Test: ctest --test-dir build -R Optimizer
#include <cmath>

#include "gpu/cuda_check.h"
#include "kernels/launch.h"
#include "kernels/optimizer.cuh"

namespace ptq {
namespace {

constexpr int kThreads = 256;

// ---------------------------------------------------------------------------------------------
// Kernels

__global__ void sgd_step_kernel(float* __restrict__ p, const float* __restrict__ grad,
                                float* __restrict__ buf, std::size_t n, SgdConfig c,
                                bool first_step) {
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  for (std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    const float g = grad[i] + c.weight_decay * p[i];
    float d = g;
    if (c.momentum > 0.0f) {
      const float b = first_step ? g : c.momentum * buf[i] + g;
      buf[i] = b;
      d = c.nesterov ? g + c.momentum * b : b;
    }
    p[i] -= c.lr * d;
  }
}

__global__ void adam_step_kernel(float* __restrict__ p, const float* __restrict__ grad,
                                 float* __restrict__ m, float* __restrict__ v, std::size_t n,
                                 AdamConfig c, float inv_c1, float inv_sqrt_c2) {
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  for (std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    const float g = grad[i] + c.weight_decay * p[i];
    const float mi = c.beta1 * m[i] + (1.0f - c.beta1) * g;
    const float vi = c.beta2 * v[i] + (1.0f - c.beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    p[i] -= c.lr * (mi * inv_c1) / (sqrtf(vi) * inv_sqrt_c2 + c.eps);
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Launchers

void sgd_step(float* d_params, const float* d_grads, float* d_momentum, std::size_t n,
              const SgdConfig& config, bool first_step, cudaStream_t stream) {
  if (n == 0) return;
  sgd_step_kernel<<<grid_size(n, kThreads, kThreads), kThreads, 0, stream>>>(
      d_params, d_grads, d_momentum, n, config, first_step);
  CUDA_CHECK_LAST();
}

void adam_step(float* d_params, const float* d_grads, float* d_m, float* d_v, std::size_t n,
               const AdamConfig& config, int step, cudaStream_t stream) {
  if (n == 0) return;
  const double c1 = 1.0 - std::pow(static_cast<double>(config.beta1), step);
  const double c2 = 1.0 - std::pow(static_cast<double>(config.beta2), step);
  adam_step_kernel<<<grid_size(n, kThreads, kThreads), kThreads, 0, stream>>>(
      d_params, d_grads, d_m, d_v, n, config, static_cast<float>(1.0 / c1),
      static_cast<float>(1.0 / std::sqrt(c2)));
  CUDA_CHECK_LAST();
}

}  // namespace ptq
