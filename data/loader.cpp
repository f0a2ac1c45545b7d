#include "data/loader.h"

#include <cstring>
#include <stdexcept>
#include <string>

#include "data/split.h"
#include "gpu/cuda_check.h"
#include "kernels/augment.cuh"

namespace ptq {

LoaderOptions LoaderOptions::training(std::uint64_t seed, std::size_t batch_size) {
  LoaderOptions o;
  o.batch_size = batch_size;
  o.seed = seed;
  return o;
}

LoaderOptions LoaderOptions::evaluation(std::size_t batch_size) {
  LoaderOptions o;
  o.batch_size = batch_size;
  o.shuffle = false;
  o.augment = false;
  return o;
}

BatchLoader::BatchLoader(const Dataset& data, const LoaderOptions& options, cudaStream_t stream)
    : data_(data), options_(options), stream_(stream) {
  if (options_.batch_size == 0) throw std::invalid_argument("batch size must be >= 1");
  if (data_.images.size() != data_.size() * kImageBytes) {
    throw std::invalid_argument("dataset " + data_.name + " has " +
                                std::to_string(data_.images.size()) + " image bytes for " +
                                std::to_string(data_.size()) + " labels");
  }
  if (data_.size() > std::size_t{0xffffffffu}) {
    throw std::invalid_argument("dataset " + data_.name + " has more than 2^32 - 1 images");
  }
  const std::size_t staging_bytes = ids_offset() + options_.batch_size * 4;
  for (Slot& slot : slots_) {
    slot.h_staging = PinnedBuffer<std::uint8_t>(staging_bytes);
    slot.d_staging.resize(staging_bytes);
    slot.d_images.resize(options_.batch_size * kImageBytes);
  }
}

BatchLoader::~BatchLoader() {
  // A copy may still read the pinned staging that the members are about to free.
  cudaStreamSynchronize(copy_stream_.get());
}

std::size_t BatchLoader::batches_per_epoch() const {
  const std::size_t n = data_.size(), b = options_.batch_size;
  return options_.drop_last ? n / b : (n + b - 1) / b;
}

void BatchLoader::start_epoch(std::uint64_t epoch) {
  epoch_ = epoch;
  next_batch_ = 0;
  started_ = true;
  if (options_.shuffle) {
    order_ = permutation(data_.size(), mix64(options_.seed ^ mix64(epoch)));
  } else {
    order_.resize(data_.size());
    for (std::size_t i = 0; i < order_.size(); ++i) order_[i] = static_cast<std::uint32_t>(i);
  }
  // Everything enqueued on stream_ so far may still read either slot's buffers.
  for (Slot& slot : slots_) slot.released.record(stream_);
  if (batches_per_epoch() > 0) stage(0);
}

void BatchLoader::stage(std::size_t batch) {
  Slot& slot = slots_[batch % 2];
  // The pinned staging is free again once the slot's previous copy has finished.
  CUDA_CHECK(cudaEventSynchronize(slot.copied.get()));
  slot.first = batch * options_.batch_size;
  slot.count = std::min(options_.batch_size, data_.size() - slot.first);
  std::uint8_t* h = slot.h_staging.data();
  for (std::size_t i = 0; i < slot.count; ++i) {
    const std::uint32_t id = order_[slot.first + i];
    const std::int32_t label = data_.labels[id];
    std::memcpy(h + i * kImageBytes, data_.image(id), kImageBytes);
    std::memcpy(h + labels_offset() + i * sizeof(label), &label, sizeof(label));
    std::memcpy(h + ids_offset() + i * sizeof(id), &id, sizeof(id));
  }
  const cudaStream_t copy = copy_stream_.get();
  CUDA_CHECK(cudaStreamWaitEvent(copy, slot.released.get(), 0));
  CUDA_CHECK(cudaMemcpyAsync(slot.d_staging.data(), h, slot.h_staging.bytes(),
                             cudaMemcpyHostToDevice, copy));
  slot.copied.record(copy);
}

bool BatchLoader::next(Batch* batch) {
  if (!started_) throw std::logic_error("BatchLoader::next before start_epoch");
  if (next_batch_ >= batches_per_epoch()) return false;
  const std::size_t k = next_batch_++;
  // The consumers of batch k - 1 are enqueued by now: its slot may be refilled after them.
  if (k > 0) slots_[(k - 1) % 2].released.record(stream_);

  Slot& slot = slots_[k % 2];
  CUDA_CHECK(cudaStreamWaitEvent(stream_, slot.copied.get(), 0));
  const std::uint8_t* d = slot.d_staging.data();
  const AugmentSettings augment{options_.augment, options_.seed, epoch_};
  augment_normalize(d, reinterpret_cast<const std::uint32_t*>(d + ids_offset()),
                    slot.d_images.data(), slot.count, options_.normalization, augment, stream_);
  batch->d_images = slot.d_images.data();
  batch->d_labels = reinterpret_cast<const std::int32_t*>(d + labels_offset());
  batch->count = slot.count;
  batch->first = slot.first;

  // Gather the following batch while the GPU works on this one.
  if (k + 1 < batches_per_epoch()) stage(k + 1);
  return true;
}

}  // namespace ptq
