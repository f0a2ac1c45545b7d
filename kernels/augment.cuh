// Fused augmentation and normalisation of a uint8 image batch on the GPU: the first step of every
// training and evaluation batch (data/loader.h). Semantics: kernels/augment_math.h.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "kernels/augment_math.h"

namespace ptq {

// d_out[i] (3 x 32 x 32 float, NCHW) = (pixel / 255 - mean[c]) / std[c] of d_images[i] (3 x 32 x
// 32 uint8), randomly cropped with padding 2 and flipped per augment_choice(seed, epoch, d_ids[i])
// when augment.enabled (d_ids may be null when not). All arrays are device memory, d_out 16-byte
// aligned (std::invalid_argument otherwise); i < count. Asynchronous on stream.
void augment_normalize(const std::uint8_t* d_images, const std::uint32_t* d_ids, float* d_out,
                       std::size_t count, const Normalization& norm, const AugmentSettings& augment,
                       cudaStream_t stream);

}  // namespace ptq
