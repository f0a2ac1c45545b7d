#include "tests/test_inputs.h"

#include <cmath>
#include <limits>

namespace ptq::test {

std::vector<float> normal_values(std::size_t n, float sigma, std::mt19937_64& rng) {
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

std::vector<float> adversarial_values(const QuantFormat& f, float scale) {
  std::vector<float> unscaled;
  auto add_around = [&](float v) {
    unscaled.push_back(v);
    unscaled.push_back(std::nextafter(v, std::numeric_limits<float>::infinity()));
    unscaled.push_back(std::nextafter(v, -std::numeric_limits<float>::infinity()));
  };
  if (grid_is_enumerable(f)) {
    const std::vector<double> grid = format_grid(f);
    for (std::size_t i = 0; i < grid.size(); ++i) {
      add_around(static_cast<float>(grid[i]));
      if (i + 1 < grid.size()) add_around(static_cast<float>((grid[i] + grid[i + 1]) / 2));
    }
  } else {
    for (double base : {0.0, 16777216.0, 9223372036854775808.0}) {
      for (double d = -4.0; d <= 4.0; d += 0.5) add_around(static_cast<float>(base + d));
    }
  }
  const float qmax = static_cast<float>(format_qmax(f));
  for (float big : {qmax * 1.25f, qmax * 4.0f, 3.0e38f}) {
    add_around(big);
    add_around(-big);
  }
  std::vector<float> values;
  for (float u : unscaled) values.push_back(u * scale);
  const float inf = std::numeric_limits<float>::infinity();
  const float sub = std::numeric_limits<float>::denorm_min();
  for (float special : {0.0f, -0.0f, inf, -inf, std::numeric_limits<float>::quiet_NaN(), sub, -sub,
                        sub * 1000.0f, -std::numeric_limits<float>::min() / 2}) {
    values.push_back(special);
  }
  return values;
}

std::vector<QuantFormat> all_formats() {
  std::vector<QuantFormat> formats = study_formats();
  formats.push_back(make_int(64));
  formats.push_back(make_pot(8));
  formats.push_back(make_float(16, 7));
  return formats;
}

}  // namespace ptq::test
