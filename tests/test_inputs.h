// Inputs shared by the tests: one seeded generator and the adversarial values of a format.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "quant/format.h"

namespace ptq::test {

// The one seed every test draws from; a failure prints it with the case.
constexpr std::uint64_t kSeed = 20261122;

// n floats drawn from a normal(0, sigma) distribution (the shape of trained weights).
std::vector<float> normal_values(std::size_t n, float sigma, std::mt19937_64& rng);

// Values of x whose x / scale lands on the hard cases of the format: every grid point, every exact
// midpoint between neighbours, the floats just above and below each midpoint, both signs, +-0,
// beyond +-qmax, +-Inf, NaN, float32 subnormals. Exact when scale is a power of two. For the
// INT_64 bias format (no enumerable grid) integers and half-integers around 0, 2^24 and 2^63.
std::vector<float> adversarial_values(const QuantFormat& f, float scale);

// The 43 study formats followed by the three bias formats.
std::vector<QuantFormat> all_formats();

}  // namespace ptq::test
