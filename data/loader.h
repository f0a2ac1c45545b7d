// BatchLoader: feeds a Dataset to the GPU in batches of normalised (and, in training, augmented)
// float NCHW images with int32 labels, so the GPU does not wait on the host.
//
// Per epoch the order is a deterministic shuffle (permutation(n, mix64(seed ^ mix64(epoch))),
// data/split.h) in training and 0..n-1 in evaluation. Each batch is gathered on the host into
// page-locked staging (images, labels and image ids in one block), copied host-to-device on the
// loader's own stream, and turned into floats by one fused kernel (kernels/augment.cuh) on the
// consumer's stream. Two slots alternate: while the GPU runs batch k, the host gathers batch k+1
// and its copy overlaps the work of batch k. Events order it: a slot's copy waits until the
// consumers of the batch it last held were enqueued and have run (`released`), the kernel waits
// for the copy (`copied`), and the host rewrites a slot's staging only after its copy finished.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "data/dataset.h"
#include "gpu/device_buffer.h"
#include "gpu/gpu_context.h"
#include "gpu/pinned_buffer.h"
#include "kernels/augment_math.h"

namespace ptq {

struct LoaderOptions {
  std::size_t batch_size = 128;
  bool shuffle = true;     // a new deterministic order each epoch; false: dataset order
  bool augment = true;     // random crop (padding 2) + horizontal flip
  bool drop_last = false;  // drop the last batch when it is smaller than batch_size
  std::uint64_t seed = 0;
  Normalization normalization = kCifar10Normalization;

  static LoaderOptions training(std::uint64_t seed, std::size_t batch_size = 128);
  static LoaderOptions evaluation(std::size_t batch_size = 128);  // no shuffle, no augmentation
};

struct Batch {
  const float* d_images = nullptr;         // count x 3 x 32 x 32, device memory
  const std::int32_t* d_labels = nullptr;  // count, device memory
  std::size_t count = 0;
  std::size_t first = 0;  // position of the first image in epoch_order()
};

class BatchLoader {
 public:
  // Borrows data (which must outlive the loader) and the consumer's stream, on which the batch
  // kernel runs and the batch's consumers are expected to run.
  BatchLoader(const Dataset& data, const LoaderOptions& options, cudaStream_t stream);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  // Sets the epoch's order and stages its first batch. Augmentation draws depend on epoch.
  void start_epoch(std::uint64_t epoch);

  // The next batch of the epoch, or false at its end. The batch's buffers hold their values for
  // work enqueued on the stream before the next call to next() or start_epoch(); work on other
  // streams must be ordered before that point too.
  bool next(Batch* batch);

  std::size_t batches_per_epoch() const;
  const std::vector<std::uint32_t>& epoch_order() const { return order_; }
  const LoaderOptions& options() const { return options_; }

 private:
  struct Slot {
    PinnedBuffer<std::uint8_t> h_staging;  // images | int32 labels | uint32 ids
    DeviceBuffer<std::uint8_t> d_staging;
    DeviceBuffer<float> d_images;
    CudaEvent copied;    // on copy_stream_: the staging copy finished
    CudaEvent released;  // on stream_: every consumer of the slot's last batch was enqueued before
    std::size_t count = 0;
    std::size_t first = 0;
  };

  void stage(std::size_t batch);  // gathers a batch into its slot and enqueues its copy
  std::size_t labels_offset() const { return options_.batch_size * kImageBytes; }
  std::size_t ids_offset() const { return labels_offset() + options_.batch_size * 4; }

  const Dataset& data_;
  LoaderOptions options_;
  cudaStream_t stream_;
  CudaStream copy_stream_;
  Slot slots_[2];
  std::vector<std::uint32_t> order_;
  std::uint64_t epoch_ = 0;
  std::size_t next_batch_ = 0;
  bool started_ = false;
};

}  // namespace ptq
