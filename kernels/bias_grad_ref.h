// CPU reference for kernels/bias_grad.cuh.
#pragma once

#include <vector>

namespace ptq {

// db (channels floats) = the sum over images and positions of dy (batch x channels x plane
// floats, NCHW), in double per channel and rounded once.
void bias_gradient_ref(const std::vector<float>& dy, int batch, int channels, int plane,
                       std::vector<float>& db);

}  // namespace ptq
