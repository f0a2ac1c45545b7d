// CPU references for kernels/optimizer.cuh: the same formulas, element by element, in double.
#pragma once

#include <cstddef>

#include "kernels/optimizer.h"

namespace ptq {

void sgd_step_ref(float* h_params, const float* h_grads, float* h_momentum, std::size_t n,
                  const SgdConfig& config, bool first_step);

void adam_step_ref(float* h_params, const float* h_grads, float* h_m, float* h_v, std::size_t n,
                   const AdamConfig& config, int step);

}  // namespace ptq
