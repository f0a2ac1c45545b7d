// Optimiser settings, shared by the CUDA step kernels (kernels/optimizer.cuh) and their CPU
// references (kernels/optimizer_ref.h). Semantics are PyTorch's torch.optim.SGD and Adam.
#pragma once

namespace ptq {

// torch.optim.SGD without dampening:
//   g = grad + weight_decay * p
//   buf = g on the first step, else momentum * buf + g        (only when momentum > 0)
//   d = nesterov ? g + momentum * buf : buf                  (d = g when momentum == 0)
//   p = p - lr * d
struct SgdConfig {
  float lr = 0.005f;
  float momentum = 0.0f;
  float weight_decay = 0.0f;
  bool nesterov = false;
};

// torch.optim.Adam (L2 weight decay added to the gradient, not AdamW), step t starting at 1:
//   g = grad + weight_decay * p;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
//   p = p - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
struct AdamConfig {
  float lr = 0.001f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;
};

}  // namespace ptq
