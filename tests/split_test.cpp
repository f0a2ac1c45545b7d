#include "data/split.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "tests/test_inputs.h"

namespace ptq {
namespace {

// A dataset of n images whose first four bytes hold the image's index, label index % 10.
Dataset indexed_dataset(std::size_t n) {
  Dataset d;
  d.name = "indexed";
  d.images.assign(n * kImageBytes, 0);
  d.labels.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint32_t id = static_cast<std::uint32_t>(i);
    std::memcpy(d.images.data() + i * kImageBytes, &id, sizeof(id));
    d.labels[i] = static_cast<std::uint8_t>(i % 10);
  }
  return d;
}

std::uint32_t index_of(const Dataset& d, std::size_t i) {
  std::uint32_t id = 0;
  std::memcpy(&id, d.image(i), sizeof(id));
  return id;
}

TEST(Mt19937_64, GivesTheSequenceTheStandardFixes) {
  // [rand.predef]: the 10000th output of a default-constructed mt19937_64 is this value. The
  // split is only machine-independent because this holds.
  std::mt19937_64 rng;
  rng.discard(9999);
  EXPECT_EQ(rng(), 9981545732273789042ull);
}

TEST(UniformBelow, StaysBelowTheBoundAndHitsEveryValueEvenly) {
  std::mt19937_64 rng(test::kSeed);
  EXPECT_EQ(uniform_below(rng, 1), 0u);
  EXPECT_THROW(uniform_below(rng, 0), std::invalid_argument);
  constexpr std::uint64_t kBound = 7;
  constexpr int kDraws = 700000;
  std::vector<int> counts(kBound, 0);
  for (int i = 0; i < kDraws; ++i) {
    const std::uint64_t v = uniform_below(rng, kBound);
    ASSERT_LT(v, kBound);
    ++counts[v];
  }
  // Each count is binomial(700000, 1/7): mean 100000, sd 293. Six sd (analytic) is never hit by
  // chance in practice.
  for (int c : counts) EXPECT_NEAR(c, 100000, 6 * 293);
  const std::uint64_t huge = (std::uint64_t{1} << 63) + 1;  // rejects almost half the raw draws
  for (int i = 0; i < 1000; ++i) ASSERT_LT(uniform_below(rng, huge), huge);
}

TEST(Permutation, HoldsEveryIndexOnceAndDependsOnlyOnTheSeed) {
  for (std::size_t n : {0u, 1u, 2u, 1000u, 50000u}) {
    const std::vector<std::uint32_t> p = permutation(n, 5);
    std::vector<std::uint32_t> sorted = p;
    std::sort(sorted.begin(), sorted.end());
    for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(sorted[i], i) << "n=" << n;
    EXPECT_EQ(permutation(n, 5), p);
    if (n > 100) {
      EXPECT_NE(permutation(n, 6), p);
    }
  }
}

TEST(Permutation, IsTheSameOnEveryMachine) {
  // Pinned output of the documented algorithm (mt19937_64 + rejection + Fisher-Yates from the
  // top), computed once: it changes only if the algorithm does, and then every published split
  // changes with it.
  EXPECT_EQ(permutation(10, 0), (std::vector<std::uint32_t>{7, 2, 0, 8, 3, 9, 6, 1, 5, 4}));
}

TEST(SplitTrainValidation, HoldsOutTenThousandOfFiftyThousandDisjointly) {
  const Dataset full = indexed_dataset(50000);
  const TrainValidation s = split_train_validation(full);
  ASSERT_EQ(s.train.size(), 40000u);
  ASSERT_EQ(s.validation.size(), 10000u);
  EXPECT_EQ(s.train.name, "indexed[train]");
  std::vector<int> seen(50000, 0);
  for (const Dataset* part : {&s.train, &s.validation}) {
    for (std::size_t i = 0; i < part->size(); ++i) {
      const std::uint32_t id = index_of(*part, i);
      ASSERT_LT(id, 50000u);
      ++seen[id];
      ASSERT_EQ(part->labels[i], id % 10) << "label travels with its image";
    }
  }
  EXPECT_EQ(std::count(seen.begin(), seen.end(), 1), 50000);

  const std::vector<std::uint32_t> p = permutation(50000, kSplitSeed);
  EXPECT_EQ(index_of(s.train, 0), p[0]);
  EXPECT_EQ(index_of(s.validation, 0), p[40000]);
  const TrainValidation again = split_train_validation(full);
  EXPECT_EQ(again.validation.images, s.validation.images);
}

TEST(SplitTrainValidation, RoundsTheHeldOutShareAndRefusesABadFraction) {
  const Dataset d = indexed_dataset(7);
  EXPECT_EQ(split_train_validation(d).validation.size(), 1u);       // round(1.4)
  EXPECT_EQ(split_train_validation(d, 0.5).validation.size(), 4u);  // round(3.5), away from 0
  EXPECT_EQ(split_train_validation(d, 0.0).train.size(), 7u);
  EXPECT_THROW(split_train_validation(d, 1.5), std::invalid_argument);
  EXPECT_EQ(split_train_validation(indexed_dataset(0)).train.size(), 0u);
}

}  // namespace
}  // namespace ptq
