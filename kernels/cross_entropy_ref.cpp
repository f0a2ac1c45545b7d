#include "kernels/cross_entropy_ref.h"

#include <algorithm>
#include <cmath>

namespace ptq {

void softmax_cross_entropy_ref(const float* h_logits, const int* h_labels, int n, int classes,
                               float grad_scale, float* h_grad, LossTotals* totals) {
  for (int i = 0; i < n; ++i) {
    const float* z = h_logits + static_cast<std::size_t>(i) * classes;
    const int label = h_labels[i];
    int argmax = 0;
    for (int c = 1; c < classes; ++c) {
      if (z[c] > z[argmax]) argmax = c;
    }
    const double zmax = z[argmax];
    double sum = 0.0;
    for (int c = 0; c < classes; ++c) sum += std::exp(z[c] - zmax);
    totals->loss_sum += std::log(sum) - (z[label] - zmax);
    totals->correct += argmax == label ? 1 : 0;
    totals->count += 1;
    if (h_grad) {
      for (int c = 0; c < classes; ++c) {
        const double p = std::exp(z[c] - zmax) / sum;
        h_grad[static_cast<std::size_t>(i) * classes + c] =
            static_cast<float>((p - (c == label ? 1.0 : 0.0)) * grad_scale);
      }
    }
  }
}

}  // namespace ptq
