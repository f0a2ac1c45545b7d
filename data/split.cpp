#include "data/split.h"

#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>

namespace ptq {

std::uint64_t uniform_below(std::mt19937_64& rng, std::uint64_t bound) {
  if (bound == 0) throw std::invalid_argument("uniform_below: bound must be >= 1");
  // 2^64 mod bound raw values are rejected so every residue has the same number of preimages.
  const std::uint64_t reject_below = (0 - bound) % bound;
  for (;;) {
    const std::uint64_t r = rng();
    if (r >= reject_below) return r % bound;
  }
}

std::vector<std::uint32_t> permutation(std::size_t n, std::uint64_t seed) {
  if (n > std::size_t{0xffffffffu}) throw std::invalid_argument("permutation: n exceeds 2^32 - 1");
  std::vector<std::uint32_t> p(n);
  for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<std::uint32_t>(i);
  std::mt19937_64 rng(seed);
  for (std::size_t i = n; i > 1; --i) {
    std::swap(p[i - 1], p[uniform_below(rng, i)]);
  }
  return p;
}

TrainValidation split_train_validation(const Dataset& data, double validation_fraction,
                                       std::uint64_t seed) {
  if (!(validation_fraction >= 0.0 && validation_fraction <= 1.0)) {
    throw std::invalid_argument("validation fraction must be in [0, 1], got " +
                                std::to_string(validation_fraction));
  }
  const std::size_t n_val = static_cast<std::size_t>(
      std::llround(static_cast<double>(data.size()) * validation_fraction));
  const std::vector<std::uint32_t> p = permutation(data.size(), seed);
  const auto cut = p.begin() + static_cast<std::ptrdiff_t>(data.size() - n_val);
  TrainValidation out;
  out.train = subset(data, {p.begin(), cut}, data.name + "[train]");
  out.validation = subset(data, {cut, p.end()}, data.name + "[validation]");
  return out;
}

}  // namespace ptq
