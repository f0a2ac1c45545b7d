#include "kernels/softmax_js_ref.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

namespace ptq {
namespace {

// Long double: p log(p/m) + q log(q/m) cancels to O(m r^2) from terms of O(m r), r = (q-p)/(q+p),
// so the plain formula loses eps / r^2 relative; 64-bit mantissas keep that below the kernel's
// float error down to r ~ 1e-6 (INT_16 quantization).
using Real = long double;

// softmax of the row starting at `start`, `length` elements `stride` apart, max-subtracted.
std::vector<Real> softmax_row(const float* x, std::size_t start, const SoftmaxRows& r) {
  std::vector<Real> p(r.length);
  Real max_value = -INFINITY;
  for (std::size_t j = 0; j < r.length; ++j) {
    p[j] = x[start + j * r.stride];
    max_value = std::max(max_value, p[j]);
  }
  Real z = 0.0;
  for (Real& v : p) z += (v = std::exp(v - max_value));
  for (Real& v : p) v /= z;
  return p;
}

}  // namespace

double softmax_js_ref(const TensorSegment& full, const TensorSegment& quant) {
  check_tensor_pairs({full}, {quant});
  const SoftmaxRows r = softmax_rows(full);
  check_finite(full, "full-precision");
  check_finite(quant, "quantized");
  Real js = 0.0;
  for (std::size_t row = 0; row < r.rows; ++row) {
    const std::size_t start = row / r.stride * r.length * r.stride + row % r.stride;
    const std::vector<Real> p = softmax_row(full.data, start, r);
    const std::vector<Real> q = softmax_row(quant.data, start, r);
    Real kl_sum = 0.0;
    for (std::size_t j = 0; j < r.length; ++j) {
      const Real m = (p[j] + q[j]) / 2;
      if (p[j] > 0) kl_sum += p[j] * std::log(p[j] / m);
      if (q[j] > 0) kl_sum += q[j] * std::log(q[j] / m);
    }
    js += kl_sum / 2;
  }
  return static_cast<double>(js);
}

}  // namespace ptq
