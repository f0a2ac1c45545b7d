// The study's softmax Jensen-Shannon divergence of every (full-precision, quantized) tensor pair of
// a model, on the GPU in three launches. Maths and tolerances: kernels/softmax_js.cu.
#pragma once

#include <cuda_runtime.h>

#include <memory>
#include <vector>

#include "kernels/tensor_list.h"

namespace ptq {

// Device tables and workspace for one list of pairs; reuse it to rerun on the same memory.
class SoftmaxJsPlan {
 public:
  // full[i] and quant[i]: device memory, same shape (check_tensor_pairs); kept by pointer.
  SoftmaxJsPlan(const TensorList& full, const TensorList& quant);
  ~SoftmaxJsPlan();
  SoftmaxJsPlan(SoftmaxJsPlan&&) noexcept;
  SoftmaxJsPlan& operator=(SoftmaxJsPlan&&) noexcept;

  // Enqueues the launches on stream; asynchronous.
  void enqueue(cudaStream_t stream);
  // Waits for stream; per pair, the sum over softmax rows of JS(p, q) in nats (softmax_js_ref).
  // Throws std::invalid_argument naming the first tensor that holds NaN or Inf.
  std::vector<double> results(cudaStream_t stream) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One-shot: SoftmaxJsPlan(full, quant), enqueue, results. Synchronizes the stream.
std::vector<double> softmax_js(const TensorList& full, const TensorList& quant,
                               cudaStream_t stream);

}  // namespace ptq
