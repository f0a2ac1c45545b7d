// DeviceBuffer<T>: the one owner of device memory. Move-only, so an accidental copy of a device
// allocation cannot compile; freed when it goes out of scope.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <utility>
#include <vector>

#include "gpu/cuda_check.h"
#include "gpu/device_setup_lock.h"

namespace ptq {

template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t count) { resize(count); }
  ~DeviceBuffer() { release(); }

  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept {
    if (this != &other) {
      release();
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }

  // Reallocates (contents are lost) when count differs from size().
  void resize(std::size_t count) {
    if (count == size_) return;
    const DeviceSetupLock lock(device_setup_mutex());
    release();
    if (count > 0) CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&data_), count * sizeof(T)));
    size_ = count;
  }

  T* data() { return data_; }
  const T* data() const { return data_; }
  std::size_t size() const { return size_; }
  std::size_t bytes() const { return size_ * sizeof(T); }

  // Synchronous copies of the whole buffer; the host side must hold size() elements. Both wait
  // for all device work first and upload waits for the copy to land: a plain cudaMemcpy orders
  // neither with non-blocking streams (GpuContext's), and from pageable memory it may return
  // before the data reaches the device. Not for hot paths.
  void upload(const T* h_src) {
    if (!size_) return;
    const DeviceSetupLock lock(device_setup_mutex());
    CUDA_CHECK(cudaDeviceSynchronize());
    CUDA_CHECK(cudaMemcpy(data_, h_src, bytes(), cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaDeviceSynchronize());
  }
  void upload(const std::vector<T>& h_src) {
    resize(h_src.size());
    upload(h_src.data());
  }
  void download(T* h_dst) const {
    if (!size_) return;
    const DeviceSetupLock lock(device_setup_mutex());
    CUDA_CHECK(cudaDeviceSynchronize());
    CUDA_CHECK(cudaMemcpy(h_dst, data_, bytes(), cudaMemcpyDeviceToHost));
  }
  std::vector<T> to_host() const {
    std::vector<T> h(size_);
    download(h.data());
    return h;
  }

 private:
  void release() noexcept {
    if (!data_) return;
    const DeviceSetupLock lock(device_setup_mutex());
    cudaFree(data_);  // no throw from a destructor; a failed free leaks nothing new
    data_ = nullptr;
    size_ = 0;
  }

  T* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace ptq
