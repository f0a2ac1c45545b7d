// A network on the GPU: the layer graph of models/model_desc.h run forward on cuDNN (convolution,
// batch norm, activation, average pooling, tensor add, dropout), cuBLAS (linear) and our max-pool
// kernels (kernels/max_pool.cuh), float32, NCHW.
//
// Layout NCHW: PyTorch's default, so weights (conv out x in x kh x kw, linear out x in), the
// flatten order before the first linear layer and checkpoints all read the same as the study's;
// cuDNN converts internally where a tensor-core kernel wants NHWC. NHWC is worth measuring later.
//
// Memory: trainable parameters live in one arena (one DeviceBuffer, tensors at the offsets of
// param_layout), batch-norm running statistics in a second, their gradients in a third with the
// same offsets. Every layer owns its output buffer (flatten, and dropout in inference, alias
// their input's), so every activation of the last forward can be read by layer index, as the
// backward pass needs; every layer also owns an output-gradient buffer once backward has run.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gpu/device_buffer.h"
#include "gpu/gpu_context.h"
#include "models/checkpoint.h"
#include "models/model_desc.h"

namespace ptq {

// kFp32: strict float32 FMA math in cuDNN (CUDNN_FMA_MATH) and cuBLAS (CUBLAS_DEFAULT_MATH).
// kTf32: TF32 tensor cores allowed (CUDNN_TENSOR_OP_MATH, CUBLAS_TF32_TENSOR_OP_MATH).
enum class MathMode { kFp32, kTf32 };

// kLegacy: every convolution pass through cuDNN's legacy calls, with the algorithm cudnnFind...Ex
// measured fastest. kFastest, in TF32 math: at each pass's first run (per shape, batch,
// determinism and, for backward data, whether it adds into the gradient) the legacy algorithm and
// up to kGraphCandidates graph-API plans (models/conv_graph.h) are run on the pass's real inputs;
// a plan whose result differs from the legacy one by more than 1e-2 of its largest value is
// dropped, the rest are timed (5 runs back to back) and the fastest of all stays. In strict FP32
// math kFastest is kLegacy (graph plans may use TF32; see conv_graph.h). kGraph decides the same
// way but keeps the fastest matching graph plan even where the legacy algorithm was faster (the
// legacy call only where no plan matches): for tests and for measuring the graph engines in a step.
enum class ConvEngines { kLegacy, kFastest, kGraph };

// What a convolution pass runs on once decided (Network::conv_engine_report).
struct ConvEngineUse {
  std::string key;     // batch, shapes, math mode, determinism
  std::string pass;    // "forward", "backward-data" (+ " +=" when it adds), "backward-filter"
  std::string engine;  // "legacy algo N" or the graph plan's name
  float legacy_ms = 0.0f, chosen_ms = 0.0f;  // the legacy algorithm's and the chosen one's time
  int candidates = 0;                        // graph plans tried
  int mismatched = 0;  // ... of which dropped for differing from the legacy result
};

// Which cuDNN batch-norm mode the training forward and the backward use (inference always uses
// CUDNN_BATCHNORM_SPATIAL). kSpatial: CUDNN_BATCHNORM_SPATIAL. kPersistent:
// CUDNN_BATCHNORM_SPATIAL_PERSISTENT, which cuDNN documents as possibly faster and, in NCHW, as
// reducing through scaled integers: deterministic, but finite and very large inputs may overflow
// to Inf or NaN where kSpatial stays finite (training then stops on its non-finite loss).
enum class BatchNormMode { kSpatial, kPersistent };

// kInference: batch norm uses the running statistics, dropout is the identity.
// kTraining: batch norm uses batch statistics and updates the running ones; dropout drops.
enum class ForwardMode { kInference, kTraining };

class Network {
 public:
  // Parameters drawn from `seed` like PyTorch's default initialisation: conv and linear weights
  // and biases uniform in +-1/sqrt(fan_in) (Kaiming-uniform with a = sqrt(5)); batch-norm gamma 1,
  // beta 0, running mean 0, running variance 1.
  Network(GpuContext& ctx, NetworkDesc desc, std::uint64_t seed);
  ~Network();
  Network(const Network&) = delete;
  Network& operator=(const Network&) = delete;

  const NetworkDesc& desc() const { return desc_; }
  const ParamLayout& layout() const { return layout_; }

  // Takes effect at the next forward; conv algorithms are chosen (and cached) per math mode.
  void set_math_mode(MathMode mode) { math_ = mode; }
  MathMode math_mode() const { return math_; }

  // On: only convolution algorithms that cuDNN reports as deterministic are chosen, so a backward
  // on the same inputs gives bitwise the same gradients (off, the default, also allows the
  // backward algorithms that add with atomics, whose rounding varies from run to run and grows
  // through deep batch-normalised stacks). Takes effect at the next forward, like the math mode.
  void set_deterministic(bool on) { deterministic_ = on; }
  bool deterministic() const { return deterministic_; }

  // The batch-norm mode of training forwards and backwards (BatchNormMode; kSpatial by
  // default). Takes effect at the next training forward; a backward uses the mode of its forward.
  // Set it before the first training forward: a plan's first launches take the device setup lock
  // once (gpu/device_setup_lock.h), not once per mode.
  void set_batch_norm_mode(BatchNormMode mode) { bn_mode_ = mode; }
  BatchNormMode batch_norm_mode() const { return bn_mode_; }

  // Which library path runs the convolutions (ConvEngines; kFastest by default). Takes effect at
  // the next pass; decisions already made are kept.
  void set_conv_engines(ConvEngines engines) { engines_ = engines; }
  ConvEngines conv_engines() const { return engines_; }
  // One row per convolution pass decided under kFastest or kGraph so far, by key and pass.
  std::vector<ConvEngineUse> conv_engine_report() const;

  // On: every forward and backward also records a CUDA event before each layer's step and one
  // after the last, so layer_times() can say how long each layer ran on the GPU (a few
  // microseconds of recording per layer; off, the default, records nothing).
  void set_layer_timing(bool on);
  bool layer_timing() const { return timing_; }

  // Per-layer GPU milliseconds of the last forward and of the last backward while timing was on,
  // indexed by layer (a backward layer's time includes its gradient adds into its producers); a
  // pass that has not run since timing was switched on gives an empty vector. Waits for them.
  struct LayerTimes {
    std::vector<float> forward_ms, backward_ms;
  };
  LayerTimes layer_times() const;

  // d_input: batch x 3 x 32 x 32 floats on the device, NCHW. Enqueues the whole forward on the
  // context's stream and returns the device logits, batch x 10, owned by the network and valid
  // until the next forward. The first call at a batch size plans it (descriptors, algorithm
  // search, buffers); later calls at that size only enqueue work.
  const float* forward(const float* d_input, int batch, ForwardMode mode);

  // Output of layer i from the last forward (batch x layer.out floats, NCHW, on the device).
  const float* layer_output(int layer) const;

  // Backpropagates d_grad_logits (batch x 10 floats on the device: the gradient of the loss with
  // respect to the logits of the last forward, which must have been a kTraining forward) through
  // the network on the context's stream. Writes (does not accumulate) the gradient of every
  // trainable tensor into gradients(), laid out like trainable() (padding stays 0). Batch-norm
  // gradients use the batch statistics of that forward, dropout its mask. The first call at a
  // batch size plans the backward convolution algorithms, like forward.
  void backward(const float* d_grad_logits);

  // Gradient of layer i's output from the last backward (batch x layer.out floats, device).
  const float* layer_gradient(int layer) const;

  // The gradient arena (device), trainable_floats() floats laid out by layout().
  float* gradients() { return gradients_.data(); }
  const float* gradients() const { return gradients_.data(); }
  std::vector<float> gradients_to_host() const { return gradients_.to_host(); }
  std::size_t trainable_floats() const { return layout_.trainable_floats; }
  std::size_t stats_floats() const { return layout_.stats_floats; }

  // The parameter arenas (device), laid out by layout().
  float* trainable() { return trainable_.data(); }
  float* stats() { return stats_.data(); }
  const float* trainable() const { return trainable_.data(); }
  const float* stats() const { return stats_.data(); }
  std::vector<float> trainable_to_host() const { return trainable_.to_host(); }
  std::vector<float> stats_to_host() const { return stats_.to_host(); }

  // Every tensor of layout() by name, copied to or from the device.
  Checkpoint to_checkpoint() const;
  // The same from host copies of the arenas (trainable_floats() and stats_floats() floats, laid
  // out like trainable() and stats()); touches no device.
  Checkpoint checkpoint_from(const float* h_trainable, const float* h_stats) const;
  // Throws CheckpointError (naming `source`) unless check_checkpoint passes.
  void load(const Checkpoint& checkpoint, const std::string& source);
  void save(const std::string& path) const { save_checkpoint(path, to_checkpoint()); }
  void load(const std::string& path) { load(load_checkpoint(path), path); }

  // Bytes of the one convolution workspace, after planning.
  std::size_t workspace_bytes() const { return workspace_.bytes(); }

  struct Plan;              // per batch size: descriptors, chosen algorithms, per-layer steps
  struct ConvChoice;        // a cached forward algorithm choice
  struct ConvDataChoice;    // ... backward data (gradient of the input)
  struct ConvFilterChoice;  // ... backward filter (gradient of the weights)

 private:
  Plan& plan_for(int batch);
  void run_layer(Plan& plan, int layer, const float* d_input, ForwardMode mode);
  void plan_backward(Plan& plan);
  void backward_layer(Plan& plan, int layer);
  float beta_for(int producer);  // 0 for a gradient's first contribution, then 1
  struct GraphDecision;
  struct ConvPassCall;
  // Runs one convolution pass (see ConvEngines): through the decision's graph plan when it has one
  // and the pointers suit it, else through the call's legacy function; the first run under
  // kFastest decides.
  void run_conv_pass(GraphDecision& decision, const ConvPassCall& call);
  void decide_conv_pass(GraphDecision& decision, const ConvPassCall& call);
  void shrink_workspace();                 // to required_workspace(), after a pass that decided
  std::size_t required_workspace() const;  // the largest cached algorithm's workspace

  GpuContext& ctx_;
  NetworkDesc desc_;
  ParamLayout layout_;
  MathMode math_ = MathMode::kFp32;
  bool deterministic_ = false;
  ConvEngines engines_ = ConvEngines::kFastest;
  BatchNormMode bn_mode_ = BatchNormMode::kSpatial;
  BatchNormMode last_bn_mode_ = BatchNormMode::kSpatial;  // the last training forward's
  bool workspace_grown_ = false;  // by a decision, for its candidates: shrink after the pass
  DeviceBuffer<float> trainable_, stats_, gradients_;
  std::vector<DeviceBuffer<float>> outputs_;  // per layer; empty where the layer aliases
  std::vector<const float*> output_ptr_;      // per layer: where its output lives
  int capacity_ = 0;                          // batch the output buffers are sized for
  DeviceBuffer<unsigned char> workspace_;
  std::map<int, std::unique_ptr<Plan>> plans_;
  std::map<std::string, std::unique_ptr<ConvChoice>> conv_choices_;
  // Backward: per-layer output gradients (sized like outputs_), the algorithm choices of the two
  // convolution backward passes, and what the last forward ran on.
  std::vector<DeviceBuffer<float>> grads_;
  std::vector<bool> grad_written_;  // during a backward: has layer i's gradient been started?
  DeviceBuffer<float> scratch_;     // for a gradient that must be added, not written
  // Bias gradients through cuBLAS (backward_layer): ones to sum with, as many as the largest batch
  // or output plane of a biased layer, and the per-image channel sums of a biased convolution.
  DeviceBuffer<float> ones_, bias_partial_;
  void size_bias_buffers(int batch);
  std::map<std::string, std::unique_ptr<ConvDataChoice>> conv_data_choices_;
  std::map<std::string, std::unique_ptr<ConvFilterChoice>> conv_filter_choices_;
  Plan* last_plan_ = nullptr;
  const float* last_input_ = nullptr;
  ForwardMode last_mode_ = ForwardMode::kInference;
  // Layer timing: events before each layer's forward (and one after the last), before each
  // layer's backward (and one after layer 0's); whether each pass ran since timing was switched on.
  bool timing_ = false;
  std::vector<CudaEvent> forward_events_, backward_events_;
  bool forward_timed_ = false, backward_timed_ = false;
  std::uint64_t dropout_seed_;
};

}  // namespace ptq
