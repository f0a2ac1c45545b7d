// PinnedBuffer<T>: the one owner of page-locked host memory (cudaMallocHost), which
// cudaMemcpyAsync can copy from without a staging copy and so overlap with kernels. Move-only,
// freed when it goes out of scope; contents start uninitialised.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <utility>

#include "gpu/cuda_check.h"
#include "gpu/device_setup_lock.h"

namespace ptq {

template <typename T>
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  explicit PinnedBuffer(std::size_t count) : size_(count) {
    const DeviceSetupLock lock(device_setup_mutex());
    if (count > 0) CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&data_), count * sizeof(T)));
  }
  ~PinnedBuffer() {
    const DeviceSetupLock lock(device_setup_mutex());
    if (data_) cudaFreeHost(data_);  // no throw from a destructor
  }

  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  PinnedBuffer(PinnedBuffer&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}
  PinnedBuffer& operator=(PinnedBuffer&& other) noexcept {
    if (this != &other) {
      const DeviceSetupLock lock(device_setup_mutex());
      if (data_) cudaFreeHost(data_);
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }

  T* data() { return data_; }
  const T* data() const { return data_; }
  std::size_t size() const { return size_; }
  std::size_t bytes() const { return size_ * sizeof(T); }

 private:
  T* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace ptq
