// Fused random crop (padding 2), horizontal flip and normalisation, uint8 NCHW -> float NCHW.
//
//   out[i][c][y][x] = (p / 255 - mean[c]) / std[c],
//   p = image[i][c][y + top - 2][(flip ? 31 - x : x) + left - 2], 0 outside the image,
//   (top, left, flip) = augment_choice(seed, epoch, id[i])       (kernels/augment_math.h)
//
// One thread writes four consecutive outputs of a row as one float4 (a row is 32 floats, so
// every quad is 16-byte aligned); the source bytes come through the read-only cache, where the
// shifted and mirrored reads of a warp fall in the same few lines. Per batch of 128 images the
// kernel reads 384 KiB and writes 1.5 MiB: it is bound by memory and launch latency.
//
// Test:  ctest --test-dir build -R Augment   (GPU vs kernels/augment_ref.cpp, bit for bit)
// Bench: build/bench/loader_bench --benchmark_filter=augment
#include <stdexcept>

#include "gpu/cuda_check.h"
#include "kernels/augment.cuh"
#include "kernels/launch.h"

namespace ptq {
namespace {

constexpr int kThreads = 256;
constexpr int kQuadsPerRow = kAugmentImageSide / 4;
constexpr std::size_t kQuadsPerImage = std::size_t{3} * kAugmentImageSide * kQuadsPerRow;  // 768

// ---------------------------------------------------------------------------------------------
// Kernel

__global__ void augment_normalize_kernel(const std::uint8_t* __restrict__ images,
                                         const std::uint32_t* __restrict__ ids,
                                         float4* __restrict__ out, std::size_t quads,
                                         Normalization norm, AugmentSettings augment) {
  constexpr int kSide = kAugmentImageSide;
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  for (std::size_t q = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; q < quads;
       q += stride) {
    const std::size_t image = q / kQuadsPerImage;
    const int within = static_cast<int>(q % kQuadsPerImage);
    const int c = within / (kSide * kQuadsPerRow);
    const int y = (within / kQuadsPerRow) % kSide;
    const int x0 = (within % kQuadsPerRow) * 4;
    const AugmentChoice choice = augment.enabled
                                     ? augment_choice(augment.seed, augment.epoch, ids[image])
                                     : AugmentChoice{kCropPadding, kCropPadding, false};
    const std::uint8_t* plane = images + (image * 3 + c) * kSide * kSide;
    const float mean = norm.mean[c], std_dev = norm.std[c];
    float4 v;
    v.x = normalize_pixel(augmented_source(plane, y, x0 + 0, choice), mean, std_dev);
    v.y = normalize_pixel(augmented_source(plane, y, x0 + 1, choice), mean, std_dev);
    v.z = normalize_pixel(augmented_source(plane, y, x0 + 2, choice), mean, std_dev);
    v.w = normalize_pixel(augmented_source(plane, y, x0 + 3, choice), mean, std_dev);
    out[q] = v;
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Launcher

void augment_normalize(const std::uint8_t* d_images, const std::uint32_t* d_ids, float* d_out,
                       std::size_t count, const Normalization& norm, const AugmentSettings& augment,
                       cudaStream_t stream) {
  if (reinterpret_cast<std::uintptr_t>(d_out) % alignof(float4) != 0) {
    throw std::invalid_argument("augment_normalize: d_out must be 16-byte aligned");
  }
  if (count == 0) return;
  const std::size_t quads = count * kQuadsPerImage;
  const int blocks = grid_size(quads, kThreads, kThreads);
  augment_normalize_kernel<<<blocks, kThreads, 0, stream>>>(
      d_images, d_ids, reinterpret_cast<float4*>(d_out), quads, norm, augment);
  CUDA_CHECK_LAST();
}

}  // namespace ptq
