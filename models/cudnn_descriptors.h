// Move-only owners of cuDNN descriptors: created in the constructor, destroyed in the destructor,
// never copied, so a descriptor cannot leak or be destroyed twice.
#pragma once

#include <cudnn.h>

#include <utility>

#include "gpu/cuda_check.h"

namespace ptq {

template <typename Handle, cudnnStatus_t (*Create)(Handle*), cudnnStatus_t (*Destroy)(Handle)>
class CudnnDescriptor {
 public:
  CudnnDescriptor() { CUDNN_CHECK(Create(&handle_)); }
  ~CudnnDescriptor() {
    if (handle_) Destroy(handle_);
  }
  CudnnDescriptor(const CudnnDescriptor&) = delete;
  CudnnDescriptor& operator=(const CudnnDescriptor&) = delete;
  CudnnDescriptor(CudnnDescriptor&& other) noexcept
      : handle_(std::exchange(other.handle_, nullptr)) {}
  CudnnDescriptor& operator=(CudnnDescriptor&& other) noexcept {
    if (this != &other) {
      if (handle_) Destroy(handle_);
      handle_ = std::exchange(other.handle_, nullptr);
    }
    return *this;
  }
  Handle get() const { return handle_; }

 private:
  Handle handle_ = nullptr;
};

using TensorDescriptor = CudnnDescriptor<cudnnTensorDescriptor_t, &cudnnCreateTensorDescriptor,
                                         &cudnnDestroyTensorDescriptor>;
using FilterDescriptor = CudnnDescriptor<cudnnFilterDescriptor_t, &cudnnCreateFilterDescriptor,
                                         &cudnnDestroyFilterDescriptor>;
using ConvolutionDescriptor =
    CudnnDescriptor<cudnnConvolutionDescriptor_t, &cudnnCreateConvolutionDescriptor,
                    &cudnnDestroyConvolutionDescriptor>;
using PoolingDescriptor = CudnnDescriptor<cudnnPoolingDescriptor_t, &cudnnCreatePoolingDescriptor,
                                          &cudnnDestroyPoolingDescriptor>;
using ActivationDescriptor =
    CudnnDescriptor<cudnnActivationDescriptor_t, &cudnnCreateActivationDescriptor,
                    &cudnnDestroyActivationDescriptor>;
using OpTensorDescriptor =
    CudnnDescriptor<cudnnOpTensorDescriptor_t, &cudnnCreateOpTensorDescriptor,
                    &cudnnDestroyOpTensorDescriptor>;
using DropoutDescriptor = CudnnDescriptor<cudnnDropoutDescriptor_t, &cudnnCreateDropoutDescriptor,
                                          &cudnnDestroyDropoutDescriptor>;

// An NCHW float tensor descriptor of n x c x h x w, packed.
inline TensorDescriptor make_tensor_descriptor(int n, int c, int h, int w) {
  TensorDescriptor d;
  CUDNN_CHECK(cudnnSetTensor4dDescriptor(d.get(), CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, n, c, h, w));
  return d;
}

}  // namespace ptq
