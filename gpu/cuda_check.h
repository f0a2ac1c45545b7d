// Error checks for CUDA runtime, cuDNN and cuBLAS calls. Each macro evaluates the call once and,
// on failure, throws ptq::GpuError whose message carries the expression, file, line and the
// library's error string, so tests and the command line show a real message.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <stdexcept>
#include <string>

namespace ptq {

class GpuError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

[[noreturn]] void throw_gpu_error(const char* library, const char* expr, const char* file, int line,
                                  const std::string& detail);
const char* cublas_status_string(cublasStatus_t status);

}  // namespace ptq

#define CUDA_CHECK(expr)                                                                  \
  do {                                                                                    \
    const cudaError_t ptq_err_ = (expr);                                                  \
    if (ptq_err_ != cudaSuccess) {                                                        \
      ::ptq::throw_gpu_error(                                                             \
          "CUDA", #expr, __FILE__, __LINE__,                                              \
          std::string(cudaGetErrorName(ptq_err_)) + ": " + cudaGetErrorString(ptq_err_)); \
    }                                                                                     \
  } while (0)

// After a kernel launch: reports a bad launch configuration or an earlier asynchronous error.
#define CUDA_CHECK_LAST() CUDA_CHECK(cudaGetLastError())

#define CUDNN_CHECK(expr)                                                                       \
  do {                                                                                          \
    const cudnnStatus_t ptq_st_ = (expr);                                                       \
    if (ptq_st_ != CUDNN_STATUS_SUCCESS) {                                                      \
      ::ptq::throw_gpu_error("cuDNN", #expr, __FILE__, __LINE__, cudnnGetErrorString(ptq_st_)); \
    }                                                                                           \
  } while (0)

#define CUBLAS_CHECK(expr)                                          \
  do {                                                              \
    const cublasStatus_t ptq_st_ = (expr);                          \
    if (ptq_st_ != CUBLAS_STATUS_SUCCESS) {                         \
      ::ptq::throw_gpu_error("cuBLAS", #expr, __FILE__, __LINE__,   \
                             ::ptq::cublas_status_string(ptq_st_)); \
    }                                                               \
  } while (0)
