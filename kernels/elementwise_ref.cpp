// CPU references for the memory-bound layer kernels (kernels/elementwise_ref.h).
#include "kernels/elementwise_ref.h"

#include <cmath>
#include <stdexcept>

namespace ptq {

void activation_forward_ref(Activation act, const std::vector<float>& x, std::vector<float>& y) {
  const float ceiling = activation_ceiling(act);
  y.resize(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    float v = x[i];
    if (v < 0.0f) v = 0.0f;  // NaN fails both tests and stays NaN
    if (v > ceiling) v = ceiling;
    y[i] = v;
  }
}

void activation_backward_ref(Activation act, const std::vector<float>& y,
                             const std::vector<float>& dy, float beta, std::vector<float>& dx) {
  if (dy.size() != y.size()) throw std::invalid_argument("activation_backward_ref: sizes differ");
  if (beta == 0.0f) {
    dx.assign(y.size(), 0.0f);
  } else if (dx.size() != y.size()) {
    throw std::invalid_argument("activation_backward_ref: dx must hold y.size() floats");
  }
  for (std::size_t i = 0; i < y.size(); ++i) {
    const bool passes = act == Activation::kRelu6 ? (y[i] > 0.0f && y[i] < 6.0f) : y[i] > 0.0f;
    const float g = passes ? dy[i] : 0.0f;
    dx[i] = beta == 0.0f ? g : std::fma(beta, dx[i], g);
  }
}

void add_tensors_ref(const std::vector<float>& a, const std::vector<float>& b,
                     std::vector<float>& y) {
  if (a.size() != b.size()) throw std::invalid_argument("add_tensors_ref: sizes differ");
  y.resize(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) y[i] = a[i] + b[i];
}

void copy_slice_ref(const float* src, std::size_t src_stride, float* dst, std::size_t dst_stride,
                    std::size_t width, std::size_t rows, float beta) {
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t c = 0; c < width; ++c) {
      float& d = dst[r * dst_stride + c];
      const float s = src[r * src_stride + c];
      d = beta == 0.0f ? s : std::fma(beta, d, s);
    }
  }
}

}  // namespace ptq
