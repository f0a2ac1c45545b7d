// GPU context: one object that owns the stream and the cuDNN and cuBLAS handles, which models and
// kernels borrow. Plus small move-only owners for streams and events, and device discovery.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <string>

#include "gpu/device_setup_lock.h"

namespace ptq {

// Empty when a CUDA device can be used; otherwise why not (for GTEST_SKIP and CLI messages).
std::string gpu_unavailable_reason();

// Name and compute capability of the current device, e.g. "NVIDIA H100 80GB HBM3 (sm_90)".
std::string gpu_device_name();

// How many CUDA stream priority levels above the default the device offers (0 when it has none;
// 5 on an H100 or H200).
int stream_priority_levels();

class CudaStream {
 public:
  // A non-blocking stream. urgency 0 is CUDA's default priority; urgency k > 0 asks for the k-th
  // level above it (its blocks are scheduled first when streams compete for the GPU), clamped to
  // stream_priority_levels().
  explicit CudaStream(int urgency = 0);
  ~CudaStream();
  CudaStream(const CudaStream&) = delete;
  CudaStream& operator=(const CudaStream&) = delete;
  CudaStream(CudaStream&& other) noexcept;
  CudaStream& operator=(CudaStream&& other) noexcept;
  cudaStream_t get() const { return stream_; }
  void synchronize() const;

 private:
  cudaStream_t stream_ = nullptr;
};

class CudaEvent {
 public:
  CudaEvent();
  ~CudaEvent();
  CudaEvent(const CudaEvent&) = delete;
  CudaEvent& operator=(const CudaEvent&) = delete;
  CudaEvent(CudaEvent&& other) noexcept;
  CudaEvent& operator=(CudaEvent&& other) noexcept;
  cudaEvent_t get() const { return event_; }
  void record(cudaStream_t stream);
  // Milliseconds from start to this event; waits for this event.
  float elapsed_ms_since(const CudaEvent& start) const;

 private:
  cudaEvent_t event_ = nullptr;
};

class GpuContext {
 public:
  // stream_urgency: the priority of the context's stream, as for CudaStream.
  explicit GpuContext(int stream_urgency = 0);
  ~GpuContext();
  GpuContext(const GpuContext&) = delete;
  GpuContext& operator=(const GpuContext&) = delete;

  cudaStream_t stream() const { return stream_.get(); }
  cudnnHandle_t cudnn() const { return cudnn_; }
  cublasHandle_t cublas() const { return cublas_; }
  int sm_count() const { return sm_count_; }
  void synchronize() const { stream_.synchronize(); }

 private:
  CudaStream stream_;
  cudnnHandle_t cudnn_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  int sm_count_ = 0;
};

}  // namespace ptq
