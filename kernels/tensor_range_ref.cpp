#include "kernels/tensor_range_ref.h"

#include <algorithm>
#include <cmath>

namespace ptq {

TensorRange tensor_range_ref(const float* h_x, std::size_t n) {
  TensorRange r;
  bool any = false;
  for (std::size_t i = 0; i < n; ++i) {
    const float x = h_x[i];
    if (std::isnan(x)) {
      ++r.nan_count;
      continue;
    }
    if (std::isinf(x)) ++r.inf_count;
    r.min_value = any ? std::min(r.min_value, x) : x;
    r.max_value = any ? std::max(r.max_value, x) : x;
    any = true;
  }
  return r;
}

}  // namespace ptq
