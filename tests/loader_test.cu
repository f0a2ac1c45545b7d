#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <vector>

#include "data/loader.h"
#include "data/split.h"
#include "kernels/augment_ref.h"
#include "tests/gpu_test_util.h"
#include "tests/test_inputs.h"

namespace ptq {
namespace {

// n random images with random labels.
Dataset random_dataset(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  Dataset d;
  d.name = "random";
  d.images.resize(n * kImageBytes);
  for (std::uint8_t& b : d.images) b = static_cast<std::uint8_t>(rng() & 0xff);
  d.labels.resize(n);
  for (std::uint8_t& l : d.labels) l = static_cast<std::uint8_t>(rng() % 10);
  return d;
}

// Stands in for a network: keeps the GPU busy for about `ns` nanoseconds.
__global__ void busy_kernel(unsigned ns) {
  for (unsigned spent = 0; spent < ns; spent += 1000) __nanosleep(1000);
}

// What one epoch delivered: the images and labels of every batch, copied out on the stream by a
// consumer that runs after a delay (so a slot refilled too early would show up as wrong data).
struct Epoch {
  std::vector<float> images;
  std::vector<std::int32_t> labels;
  std::vector<std::size_t> counts;
  std::vector<std::uint32_t> order;
};

Epoch run_epoch(BatchLoader& loader, std::uint64_t epoch, cudaStream_t stream, unsigned delay_ns) {
  // Room for every batch of the epoch (the epoch order exists only after start_epoch).
  const std::size_t capacity =
      std::max<std::size_t>(1, loader.batches_per_epoch() * loader.options().batch_size);
  DeviceBuffer<float> d_images(capacity * kImageBytes);
  DeviceBuffer<std::int32_t> d_labels(capacity);
  CUDA_CHECK(cudaMemset(d_images.data(), 0xff, d_images.bytes()));  // poison
  CUDA_CHECK(cudaMemset(d_labels.data(), 0xff, d_labels.bytes()));
  Epoch e;
  loader.start_epoch(epoch);
  e.order = loader.epoch_order();
  Batch b;
  std::size_t position = 0;
  while (loader.next(&b)) {
    EXPECT_EQ(b.first, position);
    if (delay_ns) busy_kernel<<<1, 1, 0, stream>>>(delay_ns);
    CUDA_CHECK_LAST();
    CUDA_CHECK(cudaMemcpyAsync(d_images.data() + position * kImageBytes, b.d_images,
                               b.count * kImageBytes * sizeof(float), cudaMemcpyDeviceToDevice,
                               stream));
    CUDA_CHECK(cudaMemcpyAsync(d_labels.data() + position, b.d_labels,
                               b.count * sizeof(std::int32_t), cudaMemcpyDeviceToDevice, stream));
    position += b.count;
    e.counts.push_back(b.count);
  }
  CUDA_CHECK(cudaStreamSynchronize(stream));
  e.images = d_images.to_host();
  e.images.resize(position * kImageBytes);
  e.labels = d_labels.to_host();
  e.labels.resize(position);
  return e;
}

// The epoch's images as the reference computes them from the dataset in the epoch's order.
void expect_epoch_matches_reference(const Dataset& data, const Epoch& e,
                                    const AugmentSettings& augment) {
  const Dataset gathered = subset(data, e.order, "gathered");
  const std::size_t delivered = e.labels.size();
  std::vector<float> want(delivered * kImageBytes);
  augment_normalize_ref(gathered.images.data(), e.order.data(), want.data(), delivered,
                        kCifar10Normalization, augment);
  for (std::size_t i = 0; i < delivered; ++i) {
    ASSERT_EQ(e.labels[i], gathered.labels[i]) << "position " << i;
    ASSERT_EQ(std::memcmp(e.images.data() + i * kImageBytes, want.data() + i * kImageBytes,
                          kImageBytes * sizeof(float)),
              0)
        << "image at position " << i << " (dataset index " << e.order[i] << ")";
  }
}

void expect_every_index_once(const std::vector<std::uint32_t>& order, std::size_t n) {
  std::vector<std::uint32_t> sorted = order;
  std::sort(sorted.begin(), sorted.end());
  ASSERT_EQ(sorted.size(), n);
  for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(sorted[i], i);
}

TEST(BatchLoader, TrainingDeliversEveryImageOnceAugmentedLikeTheReference) {
  PTQ_REQUIRE_GPU();
  const Dataset data = random_dataset(1000, test::kSeed);  // 7 full batches of 128 and 104
  CudaStream stream;
  BatchLoader loader(data, LoaderOptions::training(5), stream.get());
  EXPECT_EQ(loader.batches_per_epoch(), 8u);
  for (std::uint64_t epoch : {0u, 1u}) {
    const Epoch e = run_epoch(loader, epoch, stream.get(), 0);
    expect_every_index_once(e.order, 1000);
    EXPECT_EQ(e.counts.back(), 104u);
    ASSERT_EQ(e.labels.size(), 1000u);
    expect_epoch_matches_reference(data, e, {true, 5, epoch});
  }
}

TEST(BatchLoader, SlowConsumersStillSeeTheirOwnBatch) {
  PTQ_REQUIRE_GPU();
  // Each batch's consumer waits 200 us before copying the batch out: a staging slot refilled
  // before its consumers ran would show up as another batch's labels or pixels.
  const Dataset data = random_dataset(700, test::kSeed + 1);
  CudaStream stream;
  LoaderOptions options = LoaderOptions::training(9, 64);
  BatchLoader loader(data, options, stream.get());
  const Epoch e = run_epoch(loader, 3, stream.get(), 200000);
  expect_every_index_once(e.order, 700);
  expect_epoch_matches_reference(data, e, {true, 9, 3});
}

TEST(BatchLoader, EvaluationKeepsDatasetOrderWithoutAugmentation) {
  PTQ_REQUIRE_GPU();
  const Dataset data = random_dataset(300, test::kSeed + 2);
  CudaStream stream;
  BatchLoader loader(data, LoaderOptions::evaluation(128), stream.get());
  for (std::uint64_t epoch : {0u, 4u}) {
    const Epoch e = run_epoch(loader, epoch, stream.get(), 0);
    for (std::size_t i = 0; i < 300; ++i) ASSERT_EQ(e.order[i], i);
    EXPECT_EQ(e.counts, (std::vector<std::size_t>{128, 128, 44}));
    // Host-side normalisation of the same images, no crop, no flip.
    for (std::size_t k = 0; k < 300 * kImageBytes; ++k) {
      const int c = static_cast<int>((k / 1024) % 3);
      const float want = normalize_pixel(data.images[k], kCifar10Normalization.mean[c],
                                         kCifar10Normalization.std[c]);
      ASSERT_EQ(e.images[k], want) << "element " << k;
    }
  }
}

TEST(BatchLoader, ShufflesDeterministicallyAndDifferentlyPerEpoch) {
  PTQ_REQUIRE_GPU();
  const Dataset data = random_dataset(500, test::kSeed + 3);
  CudaStream stream;
  BatchLoader a(data, LoaderOptions::training(1), stream.get());
  BatchLoader b(data, LoaderOptions::training(1), stream.get());
  a.start_epoch(2);
  b.start_epoch(2);
  EXPECT_EQ(a.epoch_order(), b.epoch_order());
  EXPECT_EQ(a.epoch_order(), permutation(500, mix64(1 ^ mix64(2))));
  const std::vector<std::uint32_t> epoch2 = a.epoch_order();
  a.start_epoch(3);
  EXPECT_NE(a.epoch_order(), epoch2);
}

TEST(BatchLoader, DropsTheLastPartialBatchWhenAsked) {
  PTQ_REQUIRE_GPU();
  const Dataset data = random_dataset(300, test::kSeed + 4);
  CudaStream stream;
  LoaderOptions options = LoaderOptions::training(0);
  options.drop_last = true;
  BatchLoader loader(data, options, stream.get());
  EXPECT_EQ(loader.batches_per_epoch(), 2u);
  const Epoch e = run_epoch(loader, 0, stream.get(), 0);
  EXPECT_EQ(e.counts, (std::vector<std::size_t>{128, 128}));
  expect_epoch_matches_reference(data, e, {true, 0, 0});
}

TEST(BatchLoader, HandlesAnEmptyDatasetAndRefusesMisuse) {
  PTQ_REQUIRE_GPU();
  const Dataset empty = random_dataset(0, 1);
  CudaStream stream;
  BatchLoader loader(empty, LoaderOptions::evaluation(), stream.get());
  Batch b;
  EXPECT_THROW(loader.next(&b), std::logic_error);
  loader.start_epoch(0);
  EXPECT_FALSE(loader.next(&b));
  EXPECT_THROW(BatchLoader(empty, LoaderOptions::evaluation(0), stream.get()),
               std::invalid_argument);
}

}  // namespace
}  // namespace ptq
