// Max pooling with the index of each window's winner, for the training step's backward pass
// (kernels/max_pool.cuh; CPU reference kernels/max_pool_ref.h). Usable without CUDA.
//
// Semantics (those of the network's former cuDNN pooling, CUDNN_PROPAGATE_NAN): a window is the
// kernel x kernel square at (oh * stride - padding, ow * stride - padding) of one plane (one
// image's channel), NCHW; positions outside the plane never take part (padding never wins). The
// output is the window's maximum and the winner is the first maximum in row-major window order,
// except that the first NaN of a window wins (NaN propagates). The winner is stored as its window
// offset kh * kernel + kw, one byte. The backward pass gives each input position the sum of dy over
// the windows it won, summed in row-major output order (deterministic: no atomics).
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace ptq {

struct MaxPoolShape {
  int planes = 0;  // batch x channels
  int h = 0, w = 0;
  int kernel = 0, stride = 1, padding = 0;
  int out_h() const { return (h + 2 * padding - kernel) / stride + 1; }
  int out_w() const { return (w + 2 * padding - kernel) / stride + 1; }
  std::size_t in_count() const { return static_cast<std::size_t>(planes) * h * w; }
  std::size_t out_count() const { return static_cast<std::size_t>(planes) * out_h() * out_w(); }
};

constexpr int kMaxPoolMaxKernel = 15;  // kernel * kernel offsets fit in one byte

// Throws std::invalid_argument unless planes, h, w >= 1, 1 <= kernel <= kMaxPoolMaxKernel,
// stride >= 1, 0 <= padding < kernel and the output is at least 1 x 1.
inline void check_max_pool_shape(const MaxPoolShape& s) {
  const auto fail = [](const std::string& why) { throw std::invalid_argument("max pool: " + why); };
  if (s.planes < 1 || s.h < 1 || s.w < 1) fail("empty input");
  if (s.kernel < 1 || s.kernel > kMaxPoolMaxKernel)
    fail("kernel " + std::to_string(s.kernel) + " outside 1.." + std::to_string(kMaxPoolMaxKernel));
  if (s.stride < 1) fail("stride " + std::to_string(s.stride) + " below 1");
  if (s.padding < 0 || s.padding >= s.kernel)
    fail("padding " + std::to_string(s.padding) + " outside 0..kernel-1");
  if (s.h + 2 * s.padding < s.kernel || s.w + 2 * s.padding < s.kernel)
    fail("window larger than the padded input");
}

}  // namespace ptq
