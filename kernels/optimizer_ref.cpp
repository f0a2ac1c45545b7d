#include "kernels/optimizer_ref.h"

#include <cmath>

namespace ptq {

void sgd_step_ref(float* h_params, const float* h_grads, float* h_momentum, std::size_t n,
                  const SgdConfig& config, bool first_step) {
  for (std::size_t i = 0; i < n; ++i) {
    const double p = h_params[i];
    const double g = static_cast<double>(h_grads[i]) + config.weight_decay * p;
    double d = g;
    if (config.momentum > 0.0f) {
      const double buf = first_step ? g : config.momentum * static_cast<double>(h_momentum[i]) + g;
      h_momentum[i] = static_cast<float>(buf);
      d = config.nesterov ? g + config.momentum * buf : buf;
    }
    h_params[i] = static_cast<float>(p - config.lr * d);
  }
}

void adam_step_ref(float* h_params, const float* h_grads, float* h_m, float* h_v, std::size_t n,
                   const AdamConfig& config, int step) {
  const double c1 = 1.0 - std::pow(static_cast<double>(config.beta1), step);
  const double c2 = 1.0 - std::pow(static_cast<double>(config.beta2), step);
  for (std::size_t i = 0; i < n; ++i) {
    const double p = h_params[i];
    const double g = static_cast<double>(h_grads[i]) + config.weight_decay * p;
    const double m = config.beta1 * static_cast<double>(h_m[i]) + (1.0 - config.beta1) * g;
    const double v = config.beta2 * static_cast<double>(h_v[i]) + (1.0 - config.beta2) * g * g;
    h_m[i] = static_cast<float>(m);
    h_v[i] = static_cast<float>(v);
    h_params[i] = static_cast<float>(p - config.lr * (m / c1) / (std::sqrt(v / c2) + config.eps));
  }
}

}  // namespace ptq
