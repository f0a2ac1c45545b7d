#include "kernels/bias_grad_ref.h"

#include <cstddef>

namespace ptq {

void bias_gradient_ref(const std::vector<float>& dy, int batch, int channels, int plane,
                       std::vector<float>& db) {
  db.assign(static_cast<std::size_t>(channels), 0.0f);
  for (int c = 0; c < channels; ++c) {
    double sum = 0;
    for (int n = 0; n < batch; ++n) {
      const std::size_t base = (static_cast<std::size_t>(n) * channels + c) * plane;
      for (int p = 0; p < plane; ++p) sum += dy[base + p];
    }
    db[c] = static_cast<float>(sum);
  }
}

}  // namespace ptq
