// The CPU reference of the augmentation against torchvision's recipe written out step by step
// (pad the uint8 image to 36 x 36 with zeros, crop, mirror, ToTensor, Normalize), and the
// statistics of the per-image decisions.
#include "kernels/augment_ref.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <random>
#include <vector>

#include "tests/test_inputs.h"

namespace ptq {
namespace {

constexpr int kSide = 32;
constexpr int kPadded = kSide + 2 * kCropPadding;  // 36
constexpr std::size_t kImage = 3 * kSide * kSide;

std::vector<std::uint8_t> random_images(std::size_t count, std::mt19937_64& rng) {
  std::vector<std::uint8_t> v(count * kImage);
  for (std::uint8_t& b : v) b = static_cast<std::uint8_t>(rng() & 0xff);
  return v;
}

// torchvision, one step at a time, for one image and one decision.
std::vector<float> torchvision_steps(const std::uint8_t* image, const AugmentChoice& choice,
                                     const Normalization& norm) {
  std::vector<std::uint8_t> padded(3 * kPadded * kPadded, 0);
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < kSide; ++y)
      for (int x = 0; x < kSide; ++x)
        padded[(c * kPadded + y + kCropPadding) * kPadded + x + kCropPadding] =
            image[(c * kSide + y) * kSide + x];
  std::vector<std::uint8_t> crop(kImage);
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < kSide; ++y)
      for (int x = 0; x < kSide; ++x)
        crop[(c * kSide + y) * kSide + x] =
            padded[(c * kPadded + y + choice.top) * kPadded + x + choice.left];
  if (choice.flip) {
    for (int row = 0; row < 3 * kSide; ++row)
      std::reverse(crop.begin() + row * kSide, crop.begin() + (row + 1) * kSide);
  }
  std::vector<float> out(kImage);
  for (int c = 0; c < 3; ++c)
    for (int k = 0; k < kSide * kSide; ++k) {
      const float t = static_cast<float>(crop[c * kSide * kSide + k]) / 255.0f;  // ToTensor
      out[c * kSide * kSide + k] = (t - norm.mean[c]) / norm.std[c];             // Normalize
    }
  return out;
}

TEST(AugmentNormalizeRef, MatchesTorchvisionStepByStepOnEveryCropAndFlip) {
  std::mt19937_64 rng(test::kSeed);
  const std::vector<std::uint8_t> images = random_images(1, rng);
  std::vector<float> got(kImage);
  // Search ids until every one of the 5 x 5 x 2 decisions has been checked.
  std::array<bool, kCropOrigins * kCropOrigins * 2> checked{};
  int remaining = static_cast<int>(checked.size());
  const AugmentSettings augment{true, 11, 3};
  for (std::uint32_t id = 0; remaining > 0; ++id) {
    ASSERT_LT(id, 100000u) << "some decision never drawn";
    const AugmentChoice c = augment_choice(augment.seed, augment.epoch, id);
    const std::size_t key = (c.top * kCropOrigins + c.left) * 2 + (c.flip ? 1 : 0);
    if (checked[key]) continue;
    checked[key] = true;
    --remaining;
    augment_normalize_ref(images.data(), &id, got.data(), 1, kCifar10Normalization, augment);
    const std::vector<float> want = torchvision_steps(images.data(), c, kCifar10Normalization);
    for (std::size_t k = 0; k < kImage; ++k) {
      ASSERT_EQ(got[k], want[k]) << "top " << c.top << " left " << c.left << " flip " << c.flip
                                 << " element " << k;
    }
  }
}

TEST(AugmentNormalizeRef, WithoutAugmentationIsNormalisationAlone) {
  std::mt19937_64 rng(test::kSeed + 1);
  const std::vector<std::uint8_t> images = random_images(3, rng);
  std::vector<float> got(3 * kImage);
  augment_normalize_ref(images.data(), nullptr, got.data(), 3, kCifar10Normalization, {});
  for (std::size_t k = 0; k < got.size(); ++k) {
    const int c = static_cast<int>((k / (kSide * kSide)) % 3);
    ASSERT_EQ(got[k],
              (images[k] / 255.0f - kCifar10Normalization.mean[c]) / kCifar10Normalization.std[c]);
  }
}

TEST(AugmentNormalizeRef, PadsWithZeroPixelsBeforeNormalising) {
  const std::vector<std::uint8_t> white(kImage, 255);
  std::vector<float> got(kImage);
  // An image id whose crop starts at the padded image's top-left corner, unflipped: output
  // (y, x) shows source pixel (y - 2, x - 2), so rows and columns 0 and 1 are padding.
  std::uint32_t id = 0;
  for (;; ++id) {
    const AugmentChoice c = augment_choice(1, 0, id);
    if (c.top == 0 && c.left == 0 && !c.flip) break;
  }
  augment_normalize_ref(white.data(), &id, got.data(), 1, kCifar10Normalization, {true, 1, 0});
  for (int c = 0; c < 3; ++c) {
    const float mean = kCifar10Normalization.mean[c], std_dev = kCifar10Normalization.std[c];
    const float padding = (0.0f - mean) / std_dev;
    const float white_value = (1.0f - mean) / std_dev;
    const float* plane = got.data() + c * kSide * kSide;
    for (int k = 0; k < kSide; ++k) {
      EXPECT_EQ(plane[1 * kSide + k], padding) << "row 1";
      EXPECT_EQ(plane[k * kSide + 1], padding) << "column 1";
    }
    EXPECT_EQ(plane[2 * kSide + 2], white_value);
    EXPECT_EQ(plane[31 * kSide + 31], white_value);
  }
}

TEST(AugmentChoice, IsUniformOverOriginsAndFlipsAndDependsOnSeedEpochAndId) {
  constexpr int kDraws = 250000;
  std::vector<int> origins(kCropOrigins * kCropOrigins, 0);
  int flips = 0, same_next_epoch = 0, same_other_seed = 0;
  for (std::uint32_t id = 0; id < kDraws; ++id) {
    const AugmentChoice c = augment_choice(0, 0, id);
    ASSERT_GE(c.top, 0);
    ASSERT_LT(c.top, kCropOrigins);
    ASSERT_GE(c.left, 0);
    ASSERT_LT(c.left, kCropOrigins);
    ++origins[c.top * kCropOrigins + c.left];
    flips += c.flip;
    const AugmentChoice e = augment_choice(0, 1, id), s = augment_choice(1, 0, id);
    same_next_epoch += (e.top == c.top && e.left == c.left && e.flip == c.flip);
    same_other_seed += (s.top == c.top && s.left == c.left && s.flip == c.flip);
  }
  // Binomial counts: origin p = 1/25 (mean 10000, sd 98), flip p = 1/2 (sd 250), a repeated
  // decision p = 1/50 (mean 5000, sd 70). Bounds of six sd (analytic).
  for (int n : origins) EXPECT_NEAR(n, 10000, 6 * 98);
  EXPECT_NEAR(flips, kDraws / 2, 6 * 250);
  EXPECT_NEAR(same_next_epoch, 5000, 6 * 70);
  EXPECT_NEAR(same_other_seed, 5000, 6 * 70);
}

}  // namespace
}  // namespace ptq
