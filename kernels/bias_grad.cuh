// Bias gradients of convolution and linear layers through cuBLAS (no kernel of our own): the
// sum of the output gradient over images and positions. CPU reference kernels/bias_grad_ref.h.
#pragma once

#include <cublas_v2.h>

namespace ptq {

// db[c] = sum over n < batch and p < plane of dy[(n * channels + c) * plane + p], dy NCHW on the
// device (plane = h * w; 1 for a linear layer's batch x channels rows). Each (image, channel)
// plane is summed by one SGEMV into d_partial (batch * channels floats; untouched when plane is
// 1), the images by a second. d_ones holds at least max(batch, plane) ones. Enqueued on the
// handle's stream, no synchronisation.
void bias_gradient(cublasHandle_t cublas, const float* d_dy, int batch, int channels, int plane,
                   const float* d_ones, float* d_partial, float* d_db);

}  // namespace ptq
