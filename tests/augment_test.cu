#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "gpu/device_buffer.h"
#include "kernels/augment.cuh"
#include "kernels/augment_ref.h"
#include "tests/gpu_test_util.h"
#include "tests/test_inputs.h"

namespace ptq {
namespace {

constexpr std::size_t kImage = 3 * 32 * 32;

// Runs the kernel on count random images (ids scattered like a shuffled epoch) and compares every
// output float with the reference bit for bit; the output starts poisoned with NaN bytes.
void expect_matches_reference(std::size_t count, const AugmentSettings& augment,
                              std::mt19937_64& rng) {
  std::vector<std::uint8_t> h_images(count * kImage);
  for (std::uint8_t& b : h_images) b = static_cast<std::uint8_t>(rng() & 0xff);
  std::vector<std::uint32_t> h_ids(count);
  for (std::uint32_t& id : h_ids) id = static_cast<std::uint32_t>(rng() % 50000);

  DeviceBuffer<std::uint8_t> d_images;
  d_images.upload(h_images);
  DeviceBuffer<std::uint32_t> d_ids;
  d_ids.upload(h_ids);
  DeviceBuffer<float> d_out(count * kImage);
  if (count > 0) CUDA_CHECK(cudaMemset(d_out.data(), 0xff, d_out.bytes()));
  augment_normalize(d_images.data(), d_ids.data(), d_out.data(), count, kCifar10Normalization,
                    augment, nullptr);
  CUDA_CHECK(cudaDeviceSynchronize());
  const std::vector<float> got = d_out.to_host();

  std::vector<float> want(count * kImage);
  augment_normalize_ref(h_images.data(), h_ids.data(), want.data(), count, kCifar10Normalization,
                        augment);
  for (std::size_t k = 0; k < want.size(); ++k) {
    ASSERT_EQ(std::memcmp(&got[k], &want[k], sizeof(float)), 0)
        << "count " << count << " image " << k / kImage << " element " << k % kImage << ": got "
        << got[k] << ", want " << want[k];
  }
}

TEST(AugmentNormalize, MatchesTheReferenceBitForBitWithAugmentation) {
  PTQ_REQUIRE_GPU();
  std::mt19937_64 rng(test::kSeed);
  for (std::size_t count : {0u, 1u, 3u, 128u, 1001u}) {
    expect_matches_reference(count, {true, 42, 7}, rng);
  }
}

TEST(AugmentNormalize, MatchesTheReferenceBitForBitWithoutAugmentation) {
  PTQ_REQUIRE_GPU();
  std::mt19937_64 rng(test::kSeed + 1);
  for (std::size_t count : {1u, 128u, 77u}) expect_matches_reference(count, {false, 0, 0}, rng);
}

TEST(AugmentNormalize, RefusesAnOutputThatIsNotSixteenByteAligned) {
  PTQ_REQUIRE_GPU();
  DeviceBuffer<std::uint8_t> d_images(kImage);
  DeviceBuffer<float> d_out(kImage + 1);
  EXPECT_THROW(augment_normalize(d_images.data(), nullptr, d_out.data() + 1, 1,
                                 kCifar10Normalization, {}, nullptr),
               std::invalid_argument);
}

}  // namespace
}  // namespace ptq
