// Nearest grid value, computed arithmetically (no search), shared by the CUDA kernels and the host
// (so CPU-only tests can check the arithmetic against the brute-force reference).
//
// For a value x and per-tensor scale s (DESIGN.md section 4):
//   v = x / s (float32, correctly rounded), a = min(|v|, qmax), q = sign(v) * nearest(a),
//   fake quantization y = q * s (float32).
// Tie rules (a exactly halfway between two grid values):
//   INT   half to even (rintf), as the study's torch.round did.
//   FLOAT half to even mantissa code (IEEE round-to-nearest-even on m bits, also across the
//         subnormal/normal and binade boundaries, where the even code is the larger value).
//   POT   half away from zero (to the larger power): the midpoint 1.5 * 2^i is the nearer of
//         2^i and 2^(i+1) on the logarithmic scale the format is built on.
// Edge values: the sign of x is kept on zero results (-0 stays -0); +-Inf saturates to
// +-qmax * s; NaN stays NaN (its payload is not kept); s == 0 (a zero-range tensor) gives +-0,
// never NaN.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/host_device.h"

namespace ptq {

// A QuantFormat lowered to what the arithmetic needs; built on the host by make_format_params.
struct FormatParams {
  int kind;            // 0 INT, 1 POT, 2 FLOAT (FormatKind values)
  float qmax;          // clamp bound of |x / s|
  std::uint32_t drop;  // FLOAT: float32 mantissa bits to drop, 23 - m
  float min_normal;    // FLOAT: 2^emin; POT: 2^-depth, the smallest non-zero magnitude
  float sub_up;        // FLOAT: 2^(m - emin), subnormal step^-1; POT: 2^-(depth + 1), midpoint
  float sub_down;      // FLOAT: 2^(emin - m), the subnormal step
};

// Format kinds as template arguments (the values of FormatKind).
constexpr int kKindInt = 0;
constexpr int kKindPot = 1;
constexpr int kKindFloat = 2;

// Nearest grid magnitude of a, 0 <= a <= qmax (a is never NaN here).
template <int Kind>
PTQ_HD float nearest_magnitude(float a, const FormatParams& p) {
  if constexpr (Kind == kKindInt) {
    return rintf(a);
  } else if constexpr (Kind == kKindPot) {
    if (a < p.min_normal) return a >= p.sub_up ? p.min_normal : 0.0f;
    const std::uint32_t bits = float_bits(a);
    const std::uint32_t pow2 = bits & 0x7F800000u;
    // Mantissa >= 1.5 rounds up to the next power (tie included).
    return bits_float((bits & 0x00400000u) ? pow2 + 0x00800000u : pow2);
  } else {
    if (a < p.min_normal) return rintf(a * p.sub_up) * p.sub_down;
    // Round to nearest even on the m kept mantissa bits; a carry moves into the exponent.
    const std::uint32_t bits = float_bits(a);
    const std::uint32_t half = 1u << (p.drop - 1);
    const std::uint32_t lsb = (bits >> p.drop) & 1u;
    return bits_float((bits + (half - 1u) + lsb) & ~((1u << p.drop) - 1u));
  }
}

// Grid value q = sign(x / s) * nearest(min(|x / s|, qmax)); see the header comment for edges.
template <int Kind>
PTQ_HD float quantize_value(float x, float scale, const FormatParams& p) {
  if (x != x) return x;
  if (scale == 0.0f) return copysignf(0.0f, x);
  const float v = x / scale;
  const float a = fminf(fabsf(v), p.qmax);
  return copysignf(nearest_magnitude<Kind>(a, p), v);
}

// The same with the kind chosen at run time (host code and tests).
PTQ_HD float quantize_value(float x, float scale, const FormatParams& p) {
  switch (p.kind) {
    case kKindInt:
      return quantize_value<kKindInt>(x, scale, p);
    case kKindPot:
      return quantize_value<kKindPot>(x, scale, p);
    default:
      return quantize_value<kKindFloat>(x, scale, p);
  }
}

}  // namespace ptq
