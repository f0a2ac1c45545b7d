// CPU reference max pooling: each window's valid positions gathered, then the winner chosen (the
// first NaN, else the first maximum); the backward scatters dy to the winners.
#include "kernels/max_pool_ref.h"

#include <cmath>
#include <utility>

namespace ptq {

void max_pool_forward_ref(const std::vector<float>& x, const MaxPoolShape& s, std::vector<float>& y,
                          std::vector<std::uint8_t>& winner) {
  check_max_pool_shape(s);
  const int oh_n = s.out_h(), ow_n = s.out_w();
  y.assign(s.out_count(), 0.0f);
  winner.assign(s.out_count(), 0);
  std::vector<std::pair<float, int>> window;  // (value, offset) of the valid positions
  std::size_t o = 0;
  for (int p = 0; p < s.planes; ++p) {
    for (int oh = 0; oh < oh_n; ++oh) {
      for (int ow = 0; ow < ow_n; ++ow, ++o) {
        window.clear();
        for (int u = 0; u < s.kernel; ++u) {
          for (int v = 0; v < s.kernel; ++v) {
            const int r = oh * s.stride - s.padding + u, q = ow * s.stride - s.padding + v;
            if (r >= 0 && r < s.h && q >= 0 && q < s.w)
              window.push_back(
                  {x[(static_cast<std::size_t>(p) * s.h + r) * s.w + q], u * s.kernel + v});
          }
        }
        std::size_t pick = 0;
        bool nan = false;
        for (std::size_t k = 0; k < window.size() && !nan; ++k) {
          if (std::isnan(window[k].first)) {
            pick = k;
            nan = true;
          } else if (window[k].first > window[pick].first) {
            pick = k;
          }
        }
        y[o] = window[pick].first;
        winner[o] = static_cast<std::uint8_t>(window[pick].second);
      }
    }
  }
}

void max_pool_backward_ref(const std::vector<std::uint8_t>& winner, const std::vector<float>& dy,
                           const MaxPoolShape& s, float beta, std::vector<float>& dx) {
  check_max_pool_shape(s);
  const int oh_n = s.out_h(), ow_n = s.out_w();
  std::vector<double> sum(s.in_count(), 0.0);
  std::size_t o = 0;
  for (int p = 0; p < s.planes; ++p) {
    for (int oh = 0; oh < oh_n; ++oh) {
      for (int ow = 0; ow < ow_n; ++ow, ++o) {
        const int r = oh * s.stride - s.padding + winner[o] / s.kernel;
        const int q = ow * s.stride - s.padding + winner[o] % s.kernel;
        sum[(static_cast<std::size_t>(p) * s.h + r) * s.w + q] += dy[o];
      }
    }
  }
  if (beta == 0.0f) dx.assign(s.in_count(), 0.0f);
  for (std::size_t i = 0; i < sum.size(); ++i) {
    dx[i] = static_cast<float>((beta == 0.0f ? 0.0 : static_cast<double>(beta) * dx[i]) + sum[i]);
  }
}

}  // namespace ptq
