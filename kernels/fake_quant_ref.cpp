#include "kernels/fake_quant_ref.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <mutex>

namespace ptq {
namespace {

// Ascending non-negative grid magnitudes of f, computed once per format.
const std::vector<double>& magnitudes_of(const QuantFormat& f) {
  static std::mutex mutex;
  static std::map<int, std::vector<double>> cache;
  const int key = static_cast<int>(f.kind) * 10000 + f.bits * 100 + f.exp_bits;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = cache.find(key);
  if (it == cache.end()) {
    std::vector<double> grid = format_grid(f);
    std::vector<double> mags(grid.begin() + static_cast<std::ptrdiff_t>(grid.size() / 2),
                             grid.end());
    it = cache.emplace(key, std::move(mags)).first;
  }
  return it->second;
}

// Nearest magnitude by search over the enumerated grid (binary search, then the two neighbours);
// ties: POT takes the larger value, INT and FLOAT the one with the even code (its index among the
// ascending magnitudes).
double nearest_magnitude_ref(double a, const std::vector<double>& mags, const QuantFormat& f) {
  const auto upper = std::lower_bound(mags.begin(), mags.end(), a);
  if (upper == mags.end()) return mags.back();
  if (upper == mags.begin()) return mags.front();
  const std::size_t i = static_cast<std::size_t>(upper - mags.begin());  // mags[i-1] < a <= mags[i]
  const double below = a - mags[i - 1];
  const double above = mags[i] - a;
  if (below < above) return mags[i - 1];
  if (above < below) return mags[i];
  const bool take_larger = f.kind == FormatKind::kPot || i % 2 == 0;
  return take_larger ? mags[i] : mags[i - 1];
}

// Grid value of x with the magnitudes already looked up (nullptr for INT_64).
float quantize_with(float x, float scale, const QuantFormat& f, const std::vector<double>* mags) {
  if (std::isnan(x)) return x;
  if (scale == 0.0f) return std::copysign(0.0f, x);
  const float v = x / scale;
  const double a = std::min(std::fabs(static_cast<double>(v)),
                            static_cast<double>(static_cast<float>(format_qmax(f))));
  const double q = mags ? nearest_magnitude_ref(a, *mags, f)
                        : std::nearbyint(a);  // INT_64: default rounding mode, half to even
  return std::copysign(static_cast<float>(q), v);
}

const std::vector<double>* magnitudes_or_null(const QuantFormat& f) {
  return grid_is_enumerable(f) ? &magnitudes_of(f) : nullptr;
}

}  // namespace

FormatParams make_format_params(const QuantFormat& f) {
  FormatParams p{};
  p.kind = static_cast<int>(f.kind);
  p.qmax = static_cast<float>(format_qmax(f));
  if (f.kind == FormatKind::kFloat) {
    const int m = f.mantissa_bits();
    const int emin = f.min_normal_exp();
    p.drop = static_cast<std::uint32_t>(23 - m);
    p.min_normal = std::ldexp(1.0f, emin);
    p.sub_up = std::ldexp(1.0f, m - emin);
    p.sub_down = std::ldexp(1.0f, emin - m);
  } else if (f.kind == FormatKind::kPot) {
    p.min_normal = std::ldexp(1.0f, -f.pot_depth());
    p.sub_up = std::ldexp(1.0f, -f.pot_depth() - 1);
  }
  return p;
}

float quantize_value_ref(float x, float scale, const QuantFormat& f) {
  return quantize_with(x, scale, f, magnitudes_or_null(f));
}

void quantize_ref(const float* h_x, float* h_q, std::size_t n, float scale, const QuantFormat& f) {
  const std::vector<double>* mags = magnitudes_or_null(f);
  for (std::size_t i = 0; i < n; ++i) h_q[i] = quantize_with(h_x[i], scale, f, mags);
}

void fake_quant_ref(const float* h_x, float* h_y, std::size_t n, float scale,
                    const QuantFormat& f) {
  const std::vector<double>* mags = magnitudes_or_null(f);
  for (std::size_t i = 0; i < n; ++i) h_y[i] = quantize_with(h_x[i], scale, f, mags) * scale;
}

}  // namespace ptq
