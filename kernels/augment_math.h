// Training augmentation and normalisation of one pixel, shared by the CUDA kernel and the CPU
// reference so both decide the same crops and flips and compute the same floats.
//
// torchvision's recipe (DESIGN.md section 3): RandomCrop(32, padding=2) pads the uint8 image with
// 0 and crops 32 x 32 at a uniform origin (top, left) in [0, 4]^2; RandomHorizontalFlip(p=0.5)
// mirrors the crop; ToTensor divides by 255; Normalize subtracts the channel mean and divides by
// the channel std. So a padded pixel becomes (0 - mean) / std, not 0. For output (c, y, x):
//   xs = flip ? 31 - x : x,  p = image[c][y + top - 2][xs + left - 2] (0 outside the image),
//   out = (float(p) / 255 - mean[c]) / std[c]
// in float32 with correctly rounded division (no FMA can form: a divide feeds each subtract), the
// same operations torchvision performs, so the result equals its float32 output bit for bit.
//
// The crop and flip of an image are a function of (seed, epoch, image id) only, through a
// splitmix64 hash: reproducible, independent of batching, and computable on host and device.
#pragma once

#include <cstdint>

#include "kernels/host_device.h"

namespace ptq {

struct Normalization {
  float mean[3];
  float std[3];
};

// DESIGN.md section 3 (the CIFAR-10 channel statistics the study used for every dataset).
inline constexpr Normalization kCifar10Normalization = {{0.4914f, 0.4822f, 0.4465f},
                                                        {0.2023f, 0.1994f, 0.2010f}};

constexpr int kAugmentImageSide = 32;
constexpr int kCropPadding = 2;
constexpr int kCropOrigins = 2 * kCropPadding + 1;  // top and left each take 5 values

struct AugmentSettings {
  bool enabled = false;  // false: normalisation only (evaluation)
  std::uint64_t seed = 0;
  std::uint64_t epoch = 0;
};

struct AugmentChoice {
  int top;    // crop origin in the padded 36 x 36 image, 0..4 (2 = no shift)
  int left;   // 0..4
  bool flip;  // mirror the crop horizontally
};

// splitmix64's finaliser: a bijection of 64-bit values with full avalanche.
PTQ_HD std::uint64_t mix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// top from the low 32 bits, left from bits 32..62 (multiply-shift: bias below 2^-29), flip from
// bit 63.
PTQ_HD AugmentChoice augment_choice(std::uint64_t seed, std::uint64_t epoch, std::uint32_t id) {
  const std::uint64_t h = mix64(mix64(mix64(seed) ^ epoch) ^ id);
  AugmentChoice c;
  c.top = static_cast<int>(((h & 0xffffffffull) * kCropOrigins) >> 32);
  c.left = static_cast<int>((((h >> 32) & 0x7fffffffull) * kCropOrigins) >> 31);
  c.flip = (h >> 63) != 0;
  return c;
}

// ToTensor then Normalize for one pixel value.
PTQ_HD float normalize_pixel(std::uint8_t p, float mean, float std_dev) {
  return (static_cast<float>(p) / 255.0f - mean) / std_dev;
}

// The source pixel of output (y, x) in one uint8 channel plane (32 x 32), 0 in the padding.
PTQ_HD std::uint8_t augmented_source(const std::uint8_t* plane, int y, int x,
                                     const AugmentChoice& c) {
  const int xs = c.flip ? kAugmentImageSide - 1 - x : x;
  const int sy = y + c.top - kCropPadding;
  const int sx = xs + c.left - kCropPadding;
  const bool inside = sy >= 0 && sy < kAugmentImageSide && sx >= 0 && sx < kAugmentImageSide;
  return inside ? plane[sy * kAugmentImageSide + sx] : std::uint8_t{0};
}

}  // namespace ptq
