#include "gpu/gpu_context.h"

#include <algorithm>
#include <utility>

#include "gpu/cuda_check.h"

namespace ptq {

std::string gpu_unavailable_reason() {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free error so later calls start clean
    return std::string("no usable CUDA device (") + cudaGetErrorName(err) + ": " +
           cudaGetErrorString(err) + ")";
  }
  if (count == 0) return "no CUDA device present";
  return "";
}

std::string gpu_device_name() {
  int device = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  cudaDeviceProp prop{};
  CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  return std::string(prop.name) + " (sm_" + std::to_string(prop.major) +
         std::to_string(prop.minor) + ")";
}

int stream_priority_levels() {
  int least = 0, greatest = 0;
  CUDA_CHECK(cudaDeviceGetStreamPriorityRange(&least, &greatest));
  return least - greatest;  // CUDA's priorities: lower numbers first, greatest <= least
}

CudaStream::CudaStream(int urgency) {
  const DeviceSetupLock lock(device_setup_mutex());
  if (urgency <= 0) {
    CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    return;
  }
  int least = 0, greatest = 0;
  CUDA_CHECK(cudaDeviceGetStreamPriorityRange(&least, &greatest));
  const int priority = std::max(greatest, least - urgency);
  CUDA_CHECK(cudaStreamCreateWithPriority(&stream_, cudaStreamNonBlocking, priority));
}
CudaStream::~CudaStream() {
  const DeviceSetupLock lock(device_setup_mutex());
  if (stream_) cudaStreamDestroy(stream_);
}
CudaStream::CudaStream(CudaStream&& other) noexcept
    : stream_(std::exchange(other.stream_, nullptr)) {}
CudaStream& CudaStream::operator=(CudaStream&& other) noexcept {
  if (this != &other) {
    const DeviceSetupLock lock(device_setup_mutex());
    if (stream_) cudaStreamDestroy(stream_);
    stream_ = std::exchange(other.stream_, nullptr);
  }
  return *this;
}
void CudaStream::synchronize() const {
  CUDA_CHECK(cudaStreamSynchronize(stream_));
}

CudaEvent::CudaEvent() {
  const DeviceSetupLock lock(device_setup_mutex());
  CUDA_CHECK(cudaEventCreate(&event_));
}
CudaEvent::~CudaEvent() {
  const DeviceSetupLock lock(device_setup_mutex());
  if (event_) cudaEventDestroy(event_);
}
CudaEvent::CudaEvent(CudaEvent&& other) noexcept : event_(std::exchange(other.event_, nullptr)) {}
CudaEvent& CudaEvent::operator=(CudaEvent&& other) noexcept {
  if (this != &other) {
    const DeviceSetupLock lock(device_setup_mutex());
    if (event_) cudaEventDestroy(event_);
    event_ = std::exchange(other.event_, nullptr);
  }
  return *this;
}
void CudaEvent::record(cudaStream_t stream) {
  CUDA_CHECK(cudaEventRecord(event_, stream));
}
float CudaEvent::elapsed_ms_since(const CudaEvent& start) const {
  CUDA_CHECK(cudaEventSynchronize(event_));
  float ms = 0.0f;
  CUDA_CHECK(cudaEventElapsedTime(&ms, start.event_, event_));
  return ms;
}

GpuContext::GpuContext(int stream_urgency) : stream_(stream_urgency) {
  const DeviceSetupLock lock(device_setup_mutex());
  int device = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  CUDA_CHECK(cudaDeviceGetAttribute(&sm_count_, cudaDevAttrMultiProcessorCount, device));
  CUDNN_CHECK(cudnnCreate(&cudnn_));
  CUDNN_CHECK(cudnnSetStream(cudnn_, stream_.get()));
  CUBLAS_CHECK(cublasCreate(&cublas_));
  CUBLAS_CHECK(cublasSetStream(cublas_, stream_.get()));
}

GpuContext::~GpuContext() {
  const DeviceSetupLock lock(device_setup_mutex());
  if (cublas_) cublasDestroy(cublas_);
  if (cudnn_) cudnnDestroy(cudnn_);
}

}  // namespace ptq
