// Arithmetic shared by the metric kernels and their CPU references, so both sides bin and sum the
// same way (kernels/quant_math.h does the same for quantization).
//
// Bin rule (DESIGN.md section 6), exactly as computed on both sides:
//   inv = float(bins / (double(hi) - double(lo)))   (0 when hi == lo, at most FLT_MAX)
//   bin(x) = clamp(floor(float(x - lo) * inv), 0, bins - 1)        float32 arithmetic
// i.e. bin = min(floor((x - lo) / (hi - lo) * bins), bins - 1) up to float32 rounding; x == hi
// lands in the last bin, and an all-equal range puts everything in bin 0.
//
// Jensen-Shannon term of one element pair, p and q probabilities, d = log q - log p:
//   t = (p log(p/m) + q log(q/m)) / 2 = m f(r) / 2,  m = (p + q) / 2,  r = (q - p) / (q + p),
//   f(r) = (1 - r) log(1 - r) + (1 + r) log(1 + r) = 2 (h tanh h - log cosh h),  h = d / 2.
// For |h| < 1/4 f is the series h^2 - h^4/2 + 2h^6/9 - 17h^8/180 + 62h^10/1575 (truncation
// below 2e-8 relative), which avoids the cancellation of the direct form when p ~ q; otherwise the
// direct form in r, with 0 log 0 = 0.
#pragma once

#include <cmath>

#include "kernels/quant_math.h"  // PTQ_HD

namespace ptq {

struct BinRule {
  float lo = 0.0f;
  float hi = 0.0f;
  float inv = 0.0f;
  int bins = 1;
};

PTQ_HD BinRule make_bin_rule(float lo, float hi, int bins) {
  const double width = static_cast<double>(hi) - static_cast<double>(lo);
  double inv = width > 0.0 ? bins / width : 0.0;
  if (inv > 3.4028234663852886e38) inv = 3.4028234663852886e38;  // FLT_MAX
  return BinRule{lo, hi, static_cast<float>(inv), bins};
}

PTQ_HD int bin_of(float x, const BinRule& r) {
#ifdef __CUDA_ARCH__
  const float t = floorf(__fmul_rn(__fsub_rn(x, r.lo), r.inv));  // no contraction
#else
  const float t = std::floor((x - r.lo) * r.inv);
#endif
  // NaN and -Inf (refused by the launchers anyway) stay inside the histogram.
  return static_cast<int>(fmaxf(fminf(t, static_cast<float>(r.bins - 1)), 0.0f));
}

// The series branch bound on |d| = 2 |h|.
constexpr float kJsSeriesBound = 0.5f;

PTQ_HD float js_term(float p, float q, float d) {
  const float s = p + q;
  if (s == 0.0f) return 0.0f;
  float f;
  if (fabsf(d) < kJsSeriesBound) {
    const float h = 0.5f * d;
    const float h2 = h * h;
    f = h2 * (1.0f + h2 * (-0.5f + h2 * (2.0f / 9 + h2 * (-17.0f / 180 + h2 * (62.0f / 1575)))));
  } else {
    const float r = (q - p) / s;
    const float a = 1.0f - r, b = 1.0f + r;
    f = (a > 0.0f ? a * log1pf(-r) : 0.0f) + (b > 0.0f ? b * log1pf(r) : 0.0f);
  }
  return 0.25f * s * f;
}

}  // namespace ptq
