// CPU reference for kernels/augment.cuh: the same per-image decisions (augment_choice) and pixel
// arithmetic (kernels/augment_math.h), one plain loop per output value.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/augment_math.h"

namespace ptq {

// h_out[i] (3 x 32 x 32 floats) = normalised image h_images[i] (3 x 32 x 32 uint8), cropped and
// flipped per augment_choice(seed, epoch, h_ids[i]) when augment.enabled (h_ids may be null when
// not). i < count.
void augment_normalize_ref(const std::uint8_t* h_images, const std::uint32_t* h_ids, float* h_out,
                           std::size_t count, const Normalization& norm,
                           const AugmentSettings& augment);

}  // namespace ptq
