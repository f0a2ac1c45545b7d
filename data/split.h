// Deterministic shuffles and the 80/20 train/validation split of DESIGN.md section 3.
//
// The permutation must be the same on every machine, so it avoids std::shuffle and
// std::uniform_int_distribution (their results are implementation-defined): std::mt19937_64,
// whose output sequence the C++ standard fixes, drives a Fisher-Yates shuffle with an unbiased
// bounded draw written here (rejection of the 2^64 mod bound lowest raw values).
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "data/dataset.h"

namespace ptq {

constexpr std::uint64_t kSplitSeed = 0;
constexpr double kValidationFraction = 0.2;

// Uniform integer in [0, bound), bound >= 1, from raw 64-bit draws of rng.
std::uint64_t uniform_below(std::mt19937_64& rng, std::uint64_t bound);

// A permutation of 0..n-1: Fisher-Yates from the top (i = n-1 .. 1 swaps i with
// uniform_below(i + 1)), std::mt19937_64 seeded with seed.
std::vector<std::uint32_t> permutation(std::size_t n, std::uint64_t seed);

struct TrainValidation {
  Dataset train;
  Dataset validation;
};

// Holds out round(size * validation_fraction) images as validation: p = permutation(size, seed),
// train = p[0 .. size - n_val), validation = the rest (as torch's random_split with lengths
// [train, validation] takes them). 50,000 images give 40,000 / 10,000.
TrainValidation split_train_validation(const Dataset& data,
                                       double validation_fraction = kValidationFraction,
                                       std::uint64_t seed = kSplitSeed);

}  // namespace ptq
