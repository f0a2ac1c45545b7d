#include "kernels/augment_ref.h"

namespace ptq {

void augment_normalize_ref(const std::uint8_t* h_images, const std::uint32_t* h_ids, float* h_out,
                           std::size_t count, const Normalization& norm,
                           const AugmentSettings& augment) {
  constexpr int kSide = kAugmentImageSide;
  constexpr std::size_t kPlane = std::size_t{kSide} * kSide;
  const AugmentChoice identity{kCropPadding, kCropPadding, false};
  for (std::size_t i = 0; i < count; ++i) {
    const AugmentChoice choice =
        augment.enabled ? augment_choice(augment.seed, augment.epoch, h_ids[i]) : identity;
    for (int c = 0; c < 3; ++c) {
      const std::uint8_t* plane = h_images + (i * 3 + c) * kPlane;
      float* out = h_out + (i * 3 + c) * kPlane;
      for (int y = 0; y < kSide; ++y) {
        for (int x = 0; x < kSide; ++x) {
          out[y * kSide + x] =
              normalize_pixel(augmented_source(plane, y, x, choice), norm.mean[c], norm.std[c]);
        }
      }
    }
  }
}

}  // namespace ptq
