// Bias gradients (kernels/bias_grad.cuh): db[c] = sum_{n, p} dy[n, c, p], as two cuBLAS SGEMVs
// with vectors of ones. dy read as the column-major plane x (batch * channels) matrix times plane
// ones gives each (image, channel) plane's sum; those sums read as the column-major channels x
// batch matrix times batch ones give db. cuDNN's cudnnConvolutionBackwardBias, which
// models/network.cpp called before, took 36-227 us where these take 9-30 us at the study's
// shapes on an H200 (bench/bias_grad_bench). Test: build/tests/bias_grad_test.
#include "gpu/cuda_check.h"
#include "kernels/bias_grad.cuh"

namespace ptq {

void bias_gradient(cublasHandle_t cublas, const float* d_dy, int batch, int channels, int plane,
                   const float* d_ones, float* d_partial, float* d_db) {
  constexpr float kOne = 1.0f, kZero = 0.0f;
  const float* sums = d_dy;  // a plane of one position is its own sum
  if (plane > 1) {
    CUBLAS_CHECK(cublasSgemv(cublas, CUBLAS_OP_T, plane, batch * channels, &kOne, d_dy, plane,
                             d_ones, 1, &kZero, d_partial, 1));
    sums = d_partial;
  }
  CUBLAS_CHECK(cublasSgemv(cublas, CUBLAS_OP_N, channels, batch, &kOne, sums, channels, d_ones, 1,
                           &kZero, d_db, 1));
}

}  // namespace ptq
