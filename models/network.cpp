// Network forward on cuDNN and cuBLAS (see network.h). One step per layer, each a single library
// call where the library allows it:
//   conv     cudnnConvolutionForward (+ cudnnAddTensor for the bias)
//   bn       cudnnBatchNormalizationForwardInference | ...ForwardTraining (batch statistics,
//            running statistics updated with momentum kBatchNormMomentum, unbiased variance;
//            CUDNN_BATCHNORM_SPATIAL, or ..._PERSISTENT under BatchNormMode::kPersistent)
//   relu(6)  kernels/elementwise.cuh activation_forward (1.16-1.35x as fast as cuDNN's
//            activation, op-tensor and add kernels at the study's shapes, and a concatenation
//            2.3x as fast as per-input 2D copies; bench/elementwise_bench)
//   maxpool  kernels/max_pool.cuh (also records each window's winner in training); adaptive
//            avgpool: cudnnPoolingForward (AVERAGE) with the whole plane as window
//   linear   cublasSgemm y = x W^T (+ cudnnAddTensor for the bias, broadcast over the batch)
//   add      kernels/elementwise.cuh add_tensors (and copy_slices adding any third input)
//   concat   kernels/elementwise.cuh copy_slices: every input into its channel slice of every
//            image, one launch
//   dropout  cudnnDropoutForward in training; in inference the layer aliases its input
//   flatten  aliases its input (NCHW is already C*H*W per image)
// Convolution algorithms: cudnnFindConvolutionForwardAlgorithmEx measures every algorithm once
// per (shape, batch, math mode, determinism) within kMaxWorkspaceBytes; the fastest is cached and
// one workspace sized for the largest choice is shared by all layers. Under ConvEngines::kFastest
// (the default) each pass's first run also tries cuDNN's graph-API plans for it
// (models/conv_graph.h; run_conv_pass below) and keeps one when it matches and beats the legacy
// algorithm.
//
// Backward, layer by layer in reverse order, each layer adding its input gradients into its
// producers' gradient buffers (the first contribution writes, later ones add: a layer read by
// two others, as at a residual fork, receives the sum):
//   conv     cudnnConvolutionBackwardFilter (weights), ...BackwardData (input; skipped for the
//            network's input), algorithms found like the forward ones; the bias gradient through
//            kernels/bias_grad.cuh (two cuBLAS SGEMVs: per-image channel sums, then their sum
//            over the batch; cuDNN's cudnnConvolutionBackwardBias took 36-227 us against 14-30)
//   bn       cudnnBatchNormalizationBackward with the batch statistics saved by the forward
//   relu(6)  kernels/elementwise.cuh activation_backward;  avgpool  cudnnPoolingBackward
//   maxpool  kernels/max_pool.cuh: each input gathers dy from the windows it won (cuDNN's
//            deterministic max-pool backward took 20 of Inception_BN's 67 ms per step on the H200)
//   linear   cublasSgemm twice (dx = dy W, dW = dy^T x) + kernels/bias_grad.cuh's one SGEMV
//            (db = dy^T 1: 9-16 us at the study's linear shapes on the H200, where
//            cudnnConvolutionBackwardBias took 50-123 us; bench/bias_grad_bench)
//   add      kernels/elementwise.cuh copy_slices: the output gradient into each input's
//   concat   copy_slices of each channel slice into (or onto) its producer's gradient
//   dropout  cudnnDropoutBackward with the forward's mask;  flatten  a copy (or an add)
#include "models/network.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>

#include "gpu/cuda_check.h"
#include "kernels/bias_grad.cuh"
#include "kernels/elementwise.cuh"
#include "kernels/max_pool.cuh"
#include "kernels/tensor_range.cuh"
#include "models/conv_graph.h"
#include "models/cudnn_descriptors.h"

namespace ptq {
namespace {

constexpr std::size_t kMaxWorkspaceBytes = std::size_t{1} << 30;  // cap for the algorithm search
constexpr float kOne = 1.0f, kZero = 0.0f;

// Graph-API plans tried per convolution pass (the heuristics' first usable ones), and the runs
// each candidate (and the legacy algorithm) is timed over, back to back, after one warm-up run.
constexpr int kGraphCandidates = 6;
constexpr int kTimingRuns = 5;
// Largest |graph plan - legacy| accepted, relative to the legacy result's largest magnitude (both
// TF32: graph plans run in TF32 mode only). TF32 rounds every input to 11 significant bits
// (2^-11 = 4.9e-4 relative per product), so two TF32 engines that sum in different orders differ
// by about 1e-3 of the largest output (analytic estimate); 1e-2 still rejects an engine that
// computes something else (a lost branch of the fourth session saw a 25% error). On the H200 the
// decisions of the nine networks' training steps dropped 2 of their candidates (Inception_BN).
constexpr double kGraphRelTol = 1e-2;

Activation activation_of(LayerKind kind) {
  return kind == LayerKind::kRelu6 ? Activation::kRelu6 : Activation::kRelu;
}

cudnnBatchNormMode_t cudnn_mode(BatchNormMode mode) {
  return mode == BatchNormMode::kPersistent ? CUDNN_BATCHNORM_SPATIAL_PERSISTENT
                                            : CUDNN_BATCHNORM_SPATIAL;
}

std::string shape_key(const Layer& l, int batch, MathMode math, bool deterministic) {
  return std::to_string(batch) + ":" + std::to_string(l.in.c) + "x" + std::to_string(l.in.h) + "x" +
         std::to_string(l.in.w) + ">" + std::to_string(l.channels) + ",k" +
         std::to_string(l.kernel) + ",s" + std::to_string(l.stride) + ",p" +
         std::to_string(l.padding) + ",g" + std::to_string(l.groups) +
         (math == MathMode::kTf32 ? ",tf32" : ",fp32") + (deterministic ? ",det" : "");
}

template <typename Algo>
struct AlgoChoice {
  Algo algo;
  cudnnMathType_t math;
  std::size_t workspace;
};

// The fastest measured algorithm usable under `math`: successful, within kMaxWorkspaceBytes,
// in strict FP32 mode not a tensor-op one (the math type is then pinned to FMA), and when
// `deterministic` one that cuDNN reports as deterministic (backward-filter ALGO_0 and ALGO_3 and
// backward-data ALGO_0 add with atomics in a varying order).
// workspace(algo, math type) gives the bytes it needs, or nothing when cuDNN refuses it.
template <typename Perf, typename WorkspaceQuery>
auto pick_algorithm(const Perf* perf, int returned, MathMode math, bool deterministic,
                    WorkspaceQuery workspace) -> std::optional<AlgoChoice<decltype(perf->algo)>> {
  for (int k = 0; k < returned; ++k) {
    const Perf& p = perf[k];
    if (p.status != CUDNN_STATUS_SUCCESS || p.memory > kMaxWorkspaceBytes) continue;
    if (deterministic && p.determinism != CUDNN_DETERMINISTIC) continue;
    const bool tensor_op =
        p.mathType == CUDNN_TENSOR_OP_MATH || p.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
    if (math == MathMode::kFp32 && tensor_op) continue;
    const cudnnMathType_t m = math == MathMode::kFp32 ? CUDNN_FMA_MATH : p.mathType;
    if (const std::optional<std::size_t> bytes = workspace(p.algo, m)) {
      return AlgoChoice<decltype(perf->algo)>{p.algo, m, *bytes};
    }
  }
  return std::nullopt;
}

cudnnMathType_t search_math(MathMode math) {
  return math == MathMode::kTf32 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH;
}

// The convolution of a conv layer: padding, stride, groups, cross-correlation, float32.
ConvolutionDescriptor make_conv_descriptor(const Layer& l) {
  ConvolutionDescriptor conv;
  CUDNN_CHECK(cudnnSetConvolution2dDescriptor(conv.get(), l.padding, l.padding, l.stride, l.stride,
                                              1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  CUDNN_CHECK(cudnnSetConvolutionGroupCount(conv.get(), l.groups));
  return conv;
}

}  // namespace

// A convolution pass's decision under ConvEngines::kFastest.
struct Network::GraphDecision {
  bool decided = false;
  std::unique_ptr<GraphConvPlan> plan;  // null: the legacy call
  ConvEngineUse use;
};

struct Network::ConvChoice : AlgoChoice<cudnnConvolutionFwdAlgo_t> {
  GraphDecision graph;
};
struct Network::ConvDataChoice : AlgoChoice<cudnnConvolutionBwdDataAlgo_t> {
  GraphDecision graph[2];  // [0] writes the input gradient, [1] adds into it (beta 1)
};
struct Network::ConvFilterChoice : AlgoChoice<cudnnConvolutionBwdFilterAlgo_t> {
  GraphDecision graph;
};

// One convolution pass to run: its tensors (the output is one of x, w, y, by pass), its beta, and
// the legacy call that writes its result to a given output pointer.
struct Network::ConvPassCall {
  ConvPass pass;
  const Layer* layer;
  int batch;
  MathMode math;       // the plan's (the choices are keyed by it)
  bool deterministic;  // ditto
  float beta;
  float* x;
  float* w;
  float* y;
  std::size_t out_count;  // floats of the output
  std::size_t legacy_workspace;
  int legacy_algo;
  std::function<void(float* out)> legacy;

  float* out() const {
    return pass == ConvPass::kForward ? y : pass == ConvPass::kBackwardData ? x : w;
  }
};

namespace {

[[noreturn]] void no_algorithm(const std::string& model, const Layer& l, const char* pass,
                               const std::string& key) {
  throw ModelError(model + " layer '" + l.name + "': cuDNN found no usable " + pass +
                   " algorithm for " + key);
}

// A concat's output per image is its inputs' channels one after another: where each input's
// slice starts and how many floats it has, per image.
struct ConcatPart {
  int producer;
  std::size_t offset;
  std::size_t floats;
};

// A max-pool layer's geometry at a batch size (its planes are the batch's channels).
MaxPoolShape max_pool_shape(const Layer& l, int batch) {
  return {batch * l.in.c, l.in.h, l.in.w, l.kernel, l.stride, l.padding};
}

std::vector<ConcatPart> concat_parts(const NetworkDesc& desc, const Layer& l) {
  const std::size_t plane = static_cast<std::size_t>(l.out.h) * l.out.w;
  std::vector<ConcatPart> parts;
  std::size_t channel = 0;
  for (const int p : l.inputs) {
    const int c = p == kNetworkInput ? desc.input.c : desc.layers[p].out.c;
    parts.push_back({p, channel * plane, c * plane});
    channel += c;
  }
  return parts;
}

// The algorithm of one convolution pass (forward, backward data or backward filter) for `key`,
// measured once and cached: search(perf, &returned) runs cuDNN's Find...Ex for the pass with the
// descriptor `conv` in search math; workspace_of(algo, &bytes) asks the pass's workspace size for
// conv's current math type. `key` must name `math` and `deterministic` (shape_key does). Leaves
// conv set to the chosen math type.
template <typename Perf, int kCount, typename Choice, typename Search, typename WorkspaceOf>
Choice* cached_conv_choice(std::map<std::string, std::unique_ptr<Choice>>& cache,
                           const std::string& key, cudnnConvolutionDescriptor_t conv, MathMode math,
                           bool deterministic, Search search, WorkspaceOf workspace_of,
                           const std::string& model, const Layer& l, const char* pass) {
  auto found = cache.find(key);
  if (found == cache.end()) {
    CUDNN_CHECK(cudnnSetConvolutionMathType(conv, search_math(math)));
    Perf perf[kCount];
    int returned = 0;
    search(perf, &returned);
    const auto choice = pick_algorithm(
        perf, returned, math, deterministic,
        [&](decltype(perf[0].algo) algo, cudnnMathType_t m) -> std::optional<std::size_t> {
          CUDNN_CHECK(cudnnSetConvolutionMathType(conv, m));
          std::size_t bytes = 0;
          if (workspace_of(algo, &bytes) != CUDNN_STATUS_SUCCESS) return std::nullopt;
          return bytes;
        });
    if (!choice) no_algorithm(model, l, pass, key);
    found = cache.emplace(key, std::make_unique<Choice>(Choice{{*choice}, {}})).first;
  }
  CUDNN_CHECK(cudnnSetConvolutionMathType(conv, found->second->math));
  return found->second.get();
}

ConvGeometry conv_geometry(const Layer& l, int batch) {
  ConvGeometry g;
  g.batch = batch;
  g.in_c = l.in.c;
  g.in_h = l.in.h;
  g.in_w = l.in.w;
  g.out_c = l.out.c;
  g.out_h = l.out.h;
  g.out_w = l.out.w;
  g.kernel = l.kernel;
  g.stride = l.stride;
  g.padding = l.padding;
  g.groups = l.groups;
  return g;
}

// GPU milliseconds per run of run() on `stream`: kTimingRuns runs back to back between one pair
// of events, after one warm-up run. Back to back, as in a step, the launches queue ahead of the
// GPU: one run between two events after a synchronisation would add the host's launch latency,
// which the first version did (its timings of single passes did not predict the steps).
template <typename Run>
float ms_per_run(cudaStream_t stream, Run run) {
  run();
  CudaEvent start, stop;
  start.record(stream);
  for (int r = 0; r < kTimingRuns; ++r) run();
  stop.record(stream);
  return stop.elapsed_ms_since(start) / kTimingRuns;
}

}  // namespace

// Descriptors of one layer at one batch size; only those its kind needs are created.
struct LayerStep {
  std::optional<TensorDescriptor> x, y;
  std::optional<FilterDescriptor> w;
  std::optional<ConvolutionDescriptor> conv;
  Network::ConvChoice* choice = nullptr;
  // Backward only (each pass keeps its own descriptor: the math type is set per descriptor).
  std::optional<ConvolutionDescriptor> conv_data, conv_filter;
  Network::ConvDataChoice* data_choice = nullptr;
  Network::ConvFilterChoice* filter_choice = nullptr;
  std::optional<TensorDescriptor> channel;  // 1 x C x 1 x 1: conv/linear bias, bn parameters
  std::optional<PoolingDescriptor> pool;
  DeviceBuffer<float> saved_mean, saved_inv_var;  // bn training: kept for the backward pass
  DeviceBuffer<unsigned char> dropout_reserve;    // dropout training: the mask, for backward
  DeviceBuffer<std::uint8_t> pool_winner;         // max pool training: each window's winner
};

struct Network::Plan {
  int batch = 0;
  MathMode math = MathMode::kFp32;
  bool deterministic = false;
  std::vector<LayerStep> steps;
  std::optional<DropoutDescriptor> dropout;  // shared by the dropout layers
  DeviceBuffer<unsigned char> dropout_states;
  bool backward_planned = false;
  // Whether a forward in each mode and a backward have run with this plan: the first ones hold
  // the device setup lock (gpu/device_setup_lock.h).
  bool ran_training = false, ran_inference = false, ran_backward = false;
};

Network::Network(GpuContext& ctx, NetworkDesc desc, std::uint64_t seed)
    : ctx_(ctx), desc_(std::move(desc)), dropout_seed_(seed ^ 0x9E3779B97F4A7C15ull) {
  const DeviceSetupLock setup(device_setup_mutex());  // uploads and a synchronous memset
  validate_network_desc(desc_);
  layout_ = param_layout(desc_);
  std::vector<float> h_trainable(layout_.trainable_floats, 0.0f),
      h_stats(layout_.stats_floats, 0.0f);
  std::mt19937_64 rng(seed);
  for (const ParamSpec& s : layout_.specs) {
    const Layer& l = desc_.layers[s.layer];
    float* dst = (s.trainable ? h_trainable.data() : h_stats.data()) + s.offset;
    const std::size_t n = s.count();
    if (s.role == ParamRole::kWeight || s.role == ParamRole::kBias) {
      const double fan_in = l.kind == LayerKind::kConv
                                ? static_cast<double>(l.in.c / l.groups) * l.kernel * l.kernel
                                : static_cast<double>(l.in.count());
      const float bound = static_cast<float>(1.0 / std::sqrt(fan_in));
      std::uniform_real_distribution<float> u(-bound, bound);
      for (std::size_t i = 0; i < n; ++i) dst[i] = u(rng);
    } else {
      const float v =
          s.role == ParamRole::kBnGamma || s.role == ParamRole::kBnRunningVar ? 1.0f : 0.0f;
      std::fill(dst, dst + n, v);
    }
  }
  trainable_.upload(h_trainable);
  stats_.upload(h_stats);
  gradients_.resize(layout_.trainable_floats);
  if (gradients_.size() > 0) CUDA_CHECK(cudaMemset(gradients_.data(), 0, gradients_.bytes()));
  outputs_.resize(desc_.layers.size());
  output_ptr_.assign(desc_.layers.size(), nullptr);
  grads_.resize(desc_.layers.size());
}

Network::~Network() = default;

const float* Network::layer_output(int layer) const {
  return output_ptr_.at(layer);
}

void Network::size_bias_buffers(int batch) {
  std::size_t ones = 0, partial = 0;
  for (const Layer& l : desc_.layers) {
    if (!l.bias || (l.kind != LayerKind::kConv && l.kind != LayerKind::kLinear)) continue;
    const std::size_t plane = static_cast<std::size_t>(l.out.h) * l.out.w;
    ones = std::max({ones, static_cast<std::size_t>(batch), plane});
    if (l.kind == LayerKind::kConv && plane > 1)
      partial = std::max(partial, static_cast<std::size_t>(batch) * l.channels);
  }
  if (ones > ones_.size()) ones_.upload(std::vector<float>(ones, 1.0f));
  if (partial > bias_partial_.size()) bias_partial_.resize(partial);
}

Network::Plan& Network::plan_for(int batch) {
  auto found = plans_.find(batch);
  if (found != plans_.end() && found->second->math == math_ &&
      found->second->deterministic == deterministic_)
    return *found->second;

  // Output buffers sized for the largest batch planned so far (plans only hold descriptors, so
  // growing the buffers keeps the other plans valid).
  if (batch > capacity_) {
    for (std::size_t i = 0; i < desc_.layers.size(); ++i) {
      if (desc_.layers[i].kind == LayerKind::kFlatten) continue;
      outputs_[i].resize(static_cast<std::size_t>(batch) * desc_.layers[i].out.count());
    }
    capacity_ = batch;
    size_bias_buffers(batch);
  }

  auto plan = std::make_unique<Plan>();
  plan->batch = batch;
  plan->math = math_;
  plan->deterministic = deterministic_;
  plan->steps.resize(desc_.layers.size());
  std::size_t workspace_needed = 0;
  for (std::size_t i = 0; i < desc_.layers.size(); ++i) {
    const Layer& l = desc_.layers[i];
    LayerStep& st = plan->steps[i];
    st.x = make_tensor_descriptor(batch, l.in.c, l.in.h, l.in.w);
    st.y = make_tensor_descriptor(batch, l.out.c, l.out.h, l.out.w);
    switch (l.kind) {
      case LayerKind::kConv: {
        st.w.emplace();
        CUDNN_CHECK(cudnnSetFilter4dDescriptor(st.w->get(), CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW,
                                               l.channels, l.in.c / l.groups, l.kernel, l.kernel));
        st.conv = make_conv_descriptor(l);
        int n = 0, c = 0, h = 0, w = 0;
        CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(st.conv->get(), st.x->get(), st.w->get(),
                                                          &n, &c, &h, &w));
        if (n != batch || c != l.out.c || h != l.out.h || w != l.out.w) {
          throw ModelError(desc_.model + " layer '" + l.name + "': cuDNN computes output " +
                           std::to_string(c) + "x" + std::to_string(h) + "x" + std::to_string(w));
        }
        // Measured on this layer's real buffers (the network's input is not known while
        // planning: a scratch buffer of its size stands in).
        st.choice =
            cached_conv_choice<cudnnConvolutionFwdAlgoPerf_t, CUDNN_CONVOLUTION_FWD_ALGO_COUNT>(
                conv_choices_, shape_key(l, batch, math_, deterministic_), st.conv->get(), math_,
                deterministic_,
                [&](cudnnConvolutionFwdAlgoPerf_t* perf, int* returned) {
                  workspace_.resize(kMaxWorkspaceBytes);
                  DeviceBuffer<float> stand_in;  // for a conv on the network input
                  const float* d_x =
                      l.inputs[0] == kNetworkInput ? nullptr : outputs_[l.inputs[0]].data();
                  if (!d_x) {
                    stand_in.resize(static_cast<std::size_t>(batch) * l.in.count());
                    d_x = stand_in.data();
                  }
                  const float* d_w =
                      trainable_.data() + layout_.specs[layout_.find(l.name + ".weight")].offset;
                  CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(
                      ctx_.cudnn(), st.x->get(), d_x, st.w->get(), d_w, st.conv->get(), st.y->get(),
                      outputs_[i].data(), CUDNN_CONVOLUTION_FWD_ALGO_COUNT, returned, perf,
                      workspace_.data(), workspace_.bytes()));
                },
                [&](cudnnConvolutionFwdAlgo_t algo, std::size_t* bytes) {
                  return cudnnGetConvolutionForwardWorkspaceSize(ctx_.cudnn(), st.x->get(),
                                                                 st.w->get(), st.conv->get(),
                                                                 st.y->get(), algo, bytes);
                },
                desc_.model, l, "convolution");
        workspace_needed = std::max(workspace_needed, st.choice->workspace);
        if (l.bias) st.channel = make_tensor_descriptor(1, l.channels, 1, 1);
        break;
      }
      case LayerKind::kBatchNorm:
        st.channel = make_tensor_descriptor(1, l.out.c, 1, 1);
        st.saved_mean.resize(l.out.c);
        st.saved_inv_var.resize(l.out.c);
        break;
      case LayerKind::kMaxPool: {
        const MaxPoolShape shape = max_pool_shape(l, batch);
        if (shape.out_h() != l.out.h || shape.out_w() != l.out.w) {
          throw ModelError(desc_.model + " layer '" + l.name + "': max pool computes output " +
                           std::to_string(shape.out_h()) + "x" + std::to_string(shape.out_w()));
        }
        st.pool_winner.resize(shape.out_count());
        break;
      }
      case LayerKind::kAvgPool:
        st.pool.emplace();
        CUDNN_CHECK(
            cudnnSetPooling2dDescriptor(st.pool->get(), CUDNN_POOLING_AVERAGE_COUNT_EXCLUDE_PADDING,
                                        CUDNN_PROPAGATE_NAN, l.in.h, l.in.w, 0, 0, l.in.h, l.in.w));
        break;
      case LayerKind::kLinear:
        // The output as N x out x 1 x 1 so cudnnAddTensor broadcasts the bias over the batch.
        st.y = make_tensor_descriptor(batch, l.channels, 1, 1);
        if (l.bias) st.channel = make_tensor_descriptor(1, l.channels, 1, 1);
        break;
      case LayerKind::kDropout: {
        if (!plan->dropout) {
          plan->dropout.emplace();
          std::size_t states = 0;
          CUDNN_CHECK(cudnnDropoutGetStatesSize(ctx_.cudnn(), &states));
          plan->dropout_states.resize(states);
          CUDNN_CHECK(cudnnSetDropoutDescriptor(plan->dropout->get(), ctx_.cudnn(), kDropoutP,
                                                plan->dropout_states.data(), states,
                                                dropout_seed_ + static_cast<std::uint64_t>(batch)));
        }
        std::size_t reserve = 0;
        CUDNN_CHECK(cudnnDropoutGetReserveSpaceSize(st.x->get(), &reserve));
        st.dropout_reserve.resize(reserve);
        break;
      }
      case LayerKind::kConcat:  // one copy_slices launch for all inputs
        if (l.inputs.size() > static_cast<std::size_t>(kMaxSlices)) {
          throw ModelError(desc_.model + " layer '" + l.name + "': concatenates " +
                           std::to_string(l.inputs.size()) + " inputs, more than " +
                           std::to_string(kMaxSlices));
        }
        break;
      case LayerKind::kRelu:
      case LayerKind::kRelu6:
      case LayerKind::kAdd:
      case LayerKind::kFlatten:
        break;
    }
  }
  // One workspace large enough for every algorithm cached, forward and backward.
  workspace_.resize(std::max(workspace_needed, required_workspace()));
  plans_[batch] = std::move(plan);
  return *plans_[batch];
}

void Network::run_layer(Plan& plan, int i, const float* d_input, ForwardMode mode) {
  const Layer& l = desc_.layers[i];
  LayerStep& st = plan.steps[i];
  const auto input = [&](int k) -> const float* {
    const int p = l.inputs[k];
    return p == kNetworkInput ? d_input : output_ptr_[p];
  };
  const auto param = [&](const char* suffix) -> float* {
    const ParamSpec& s = layout_.specs[layout_.find(l.name + suffix)];
    return (s.trainable ? trainable_.data() : stats_.data()) + s.offset;
  };
  const float* x = input(0);
  float* y = outputs_[i].data();
  const std::size_t out_count = static_cast<std::size_t>(plan.batch) * l.out.count();
  const cudnnHandle_t dnn = ctx_.cudnn();
  switch (l.kind) {
    case LayerKind::kConv: {
      float* const w = param(".weight");
      const ConvPassCall call{
          ConvPass::kForward,
          &l,
          plan.batch,
          plan.math,
          plan.deterministic,
          0.0f,
          const_cast<float*>(x),
          w,
          y,
          static_cast<std::size_t>(plan.batch) * l.out.count(),
          st.choice->workspace,
          static_cast<int>(st.choice->algo),
          [&](float* out) {
            CUDNN_CHECK(cudnnConvolutionForward(dnn, &kOne, st.x->get(), x, st.w->get(), w,
                                                st.conv->get(), st.choice->algo, workspace_.data(),
                                                st.choice->workspace, &kZero, st.y->get(), out));
          }};
      run_conv_pass(st.choice->graph, call);
      if (l.bias) {
        CUDNN_CHECK(
            cudnnAddTensor(dnn, &kOne, st.channel->get(), param(".bias"), &kOne, st.y->get(), y));
      }
      break;
    }
    case LayerKind::kBatchNorm:
      if (mode == ForwardMode::kInference) {
        CUDNN_CHECK(cudnnBatchNormalizationForwardInference(
            dnn, CUDNN_BATCHNORM_SPATIAL, &kOne, &kZero, st.x->get(), x, st.y->get(), y,
            st.channel->get(), param(".weight"), param(".bias"), param(".running_mean"),
            param(".running_var"), kBatchNormEps));
      } else {
        CUDNN_CHECK(cudnnBatchNormalizationForwardTraining(
            dnn, cudnn_mode(last_bn_mode_), &kOne, &kZero, st.x->get(), x, st.y->get(), y,
            st.channel->get(), param(".weight"), param(".bias"), kBatchNormMomentum,
            param(".running_mean"), param(".running_var"), kBatchNormEps, st.saved_mean.data(),
            st.saved_inv_var.data()));
      }
      break;
    case LayerKind::kRelu:
    case LayerKind::kRelu6:
      activation_forward(activation_of(l.kind), x, out_count, y, ctx_.stream());
      break;
    case LayerKind::kMaxPool:  // the winners only when a backward may follow
      max_pool_forward(x, max_pool_shape(l, plan.batch), y,
                       mode == ForwardMode::kTraining ? st.pool_winner.data() : nullptr,
                       ctx_.stream());
      break;
    case LayerKind::kAvgPool:
      CUDNN_CHECK(
          cudnnPoolingForward(dnn, st.pool->get(), &kOne, st.x->get(), x, &kZero, st.y->get(), y));
      break;
    case LayerKind::kLinear: {
      // Row-major y (N x out) = x (N x in) W^T is column-major y^T = W^T' x^T with W read as the
      // column-major in x out matrix, transposed.
      const int in_features = static_cast<int>(l.in.count());
      CUBLAS_CHECK(cublasSetMathMode(ctx_.cublas(), math_ == MathMode::kTf32
                                                        ? CUBLAS_TF32_TENSOR_OP_MATH
                                                        : CUBLAS_DEFAULT_MATH));
      CUBLAS_CHECK(cublasSgemm(ctx_.cublas(), CUBLAS_OP_T, CUBLAS_OP_N, l.channels, plan.batch,
                               in_features, &kOne, param(".weight"), in_features, x, in_features,
                               &kZero, y, l.channels));
      if (l.bias) {
        CUDNN_CHECK(
            cudnnAddTensor(dnn, &kOne, st.channel->get(), param(".bias"), &kOne, st.y->get(), y));
      }
      break;
    }
    case LayerKind::kAdd:
      add_tensors(input(0), input(1), out_count, y, ctx_.stream());
      for (std::size_t k = 2; k < l.inputs.size(); ++k) {
        const SliceCopy more{input(static_cast<int>(k)), 0, y, 0, out_count, 1.0f};
        copy_slices(&more, 1, 1, ctx_.stream());
      }
      break;
    case LayerKind::kConcat: {
      const std::vector<ConcatPart> parts = concat_parts(desc_, l);  // at most kMaxSlices
      const auto image = static_cast<std::size_t>(l.out.count());    // floats per image
      std::vector<SliceCopy> slices;
      for (std::size_t k = 0; k < parts.size(); ++k) {
        slices.push_back({input(static_cast<int>(k)), parts[k].floats, y + parts[k].offset, image,
                          parts[k].floats, 0.0f});
      }
      copy_slices(slices.data(), static_cast<int>(slices.size()),
                  static_cast<std::size_t>(plan.batch), ctx_.stream());
      break;
    }
    case LayerKind::kDropout:
      if (mode == ForwardMode::kInference) {
        output_ptr_[i] = x;
        return;
      }
      CUDNN_CHECK(cudnnDropoutForward(dnn, plan.dropout->get(), st.x->get(), x, st.y->get(), y,
                                      st.dropout_reserve.data(), st.dropout_reserve.bytes()));
      break;
    case LayerKind::kFlatten:
      output_ptr_[i] = x;
      return;
  }
  output_ptr_[i] = y;
}

const float* Network::forward(const float* d_input, int batch, ForwardMode mode) {
  if (batch <= 0) throw ModelError(desc_.model + ": forward needs a batch of at least 1");
  if (!d_input) throw ModelError(desc_.model + ": forward got a null input");
  // The first forward of a plan in a mode (its algorithm search, its kernels' first launches)
  // holds the process's device setup lock; later ones only enqueue work.
  std::unique_lock<std::recursive_mutex> setup(device_setup_mutex(), std::defer_lock);
  const auto planned = plans_.find(batch);
  const bool warm = planned != plans_.end() && planned->second->math == math_ &&
                    planned->second->deterministic == deterministic_ &&
                    (mode == ForwardMode::kTraining ? planned->second->ran_training
                                                    : planned->second->ran_inference);
  if (!warm) setup.lock();
  Plan& plan = plan_for(batch);
  const int n = static_cast<int>(desc_.layers.size());
  if (mode == ForwardMode::kTraining) last_bn_mode_ = bn_mode_;  // the backward's mode too
  for (int i = 0; i < n; ++i) {
    if (timing_) forward_events_[i].record(ctx_.stream());
    run_layer(plan, i, d_input, mode);
  }
  (mode == ForwardMode::kTraining ? plan.ran_training : plan.ran_inference) = true;
  if (workspace_grown_) shrink_workspace();  // candidates' workspaces tried while deciding
  if (timing_) {
    forward_events_[n].record(ctx_.stream());
    forward_timed_ = true;
  }
  last_plan_ = &plan;
  last_input_ = d_input;
  last_mode_ = mode;
  return output_ptr_.back();
}

std::size_t Network::required_workspace() const {
  const auto graph = [](const GraphDecision& d) -> std::size_t {
    return d.plan ? d.plan->workspace() : 0;
  };
  std::size_t bytes = 0;
  for (const auto& entry : conv_choices_) {
    bytes = std::max({bytes, entry.second->workspace, graph(entry.second->graph)});
  }
  for (const auto& entry : conv_data_choices_) {
    bytes = std::max({bytes, entry.second->workspace, graph(entry.second->graph[0]),
                      graph(entry.second->graph[1])});
  }
  for (const auto& entry : conv_filter_choices_) {
    bytes = std::max({bytes, entry.second->workspace, graph(entry.second->graph)});
  }
  return bytes;
}

void Network::shrink_workspace() {
  workspace_grown_ = false;
  const std::size_t need = required_workspace();
  if (workspace_.bytes() == need) return;
  CUDA_CHECK(cudaStreamSynchronize(ctx_.stream()));  // queued passes may still use it
  workspace_.resize(need);
}

void Network::run_conv_pass(GraphDecision& d, const ConvPassCall& call) {
  // Graph plans are TF32's (models/conv_graph.h); strict FP32 keeps the legacy calls.
  const bool graph = engines_ != ConvEngines::kLegacy && call.math == MathMode::kTf32;
  if (graph && !d.decided) {
    decide_conv_pass(d, call);
    return;
  }
  if (graph && d.plan && conv_graph_aligned(call.x) && conv_graph_aligned(call.w) &&
      conv_graph_aligned(call.y)) {
    d.plan->execute(ctx_.cudnn(), call.x, call.w, call.y, workspace_.data());
  } else {
    call.legacy(call.out());
  }
}

// The legacy call writes the pass's real result first; it is the reference every graph plan must
// match (each runs on a scratch output, holding a copy of the output as it was when the pass adds
// into it), within kGraphRelTol of the largest value the pass itself contributes. Plans that match
// are timed against the legacy algorithm (timed before and after them) on that scratch, the
// fastest of all is kept, and a chosen plan then rewrites the real result, so that later runs
// use the engine the first one did. Holds the device setup lock (the first passes do already):
// it synchronises and allocates.
void Network::decide_conv_pass(GraphDecision& d, const ConvPassCall& c) {
  const DeviceSetupLock setup(device_setup_mutex());
  const cudaStream_t stream = ctx_.stream();
  const cudnnHandle_t dnn = ctx_.cudnn();
  d.decided = true;
  ConvEngineUse& use = d.use;
  use.key = shape_key(*c.layer, c.batch, c.math, c.deterministic);
  use.pass = std::string(conv_pass_name(c.pass)) + (c.beta != 0.0f ? " +=" : "");
  use.engine = "legacy algo " + std::to_string(c.legacy_algo);

  float* const out = c.out();
  const std::size_t bytes = c.out_count * sizeof(float);
  DeviceBuffer<float> before, trial(c.out_count);
  // Declared after the buffers, so it runs first on every return: the stream may still copy from
  // `before` or write `trial` when they are freed.
  struct StreamWait {
    cudaStream_t stream;
    ~StreamWait() { cudaStreamSynchronize(stream); }  // an error shows at the next checked call
  } const wait_before_free{stream};
  if (c.beta != 0.0f) {
    before.resize(c.out_count);
    CUDA_CHECK(cudaMemcpyAsync(before.data(), out, bytes, cudaMemcpyDeviceToDevice, stream));
  }
  c.legacy(out);
  if (!conv_graph_aligned(c.x) || !conv_graph_aligned(c.w) || !conv_graph_aligned(c.y)) return;

  const ConvEngineRules rules{c.deterministic, kMaxWorkspaceBytes};
  std::vector<GraphConvPlan> plans = graph_conv_plans(dnn, c.pass, conv_geometry(*c.layer, c.batch),
                                                      c.beta, rules, kGraphCandidates);
  use.candidates = static_cast<int>(plans.size());
  if (plans.empty()) return;
  const TensorDescriptor flat = make_tensor_descriptor(1, 1, 1, static_cast<int>(c.out_count));
  const float minus_one = -1.0f;
  // The pass's own contribution sets the scale: for a pass that adds, out - before (a large
  // gradient already there, as at a residual shortcut, would hide an error in the convolution).
  if (c.beta != 0.0f) {
    CUDA_CHECK(cudaMemcpyAsync(trial.data(), out, bytes, cudaMemcpyDeviceToDevice, stream));
    CUDNN_CHECK(cudnnAddTensor(dnn, &minus_one, flat.get(), before.data(), &kOne, flat.get(),
                               trial.data()));
  }
  const TensorRange ref = tensor_range(c.beta != 0.0f ? trial.data() : out, c.out_count, stream);
  if (ref.nan_count > 0 || ref.inf_count > 0) return;  // nothing to compare the plans with
  const double tolerance = kGraphRelTol * std::max(std::fabs(static_cast<double>(ref.min_value)),
                                                   std::fabs(static_cast<double>(ref.max_value)));
  std::size_t need = c.legacy_workspace;
  for (const GraphConvPlan& plan : plans) need = std::max(need, plan.workspace());
  if (workspace_.bytes() < need) {
    CUDA_CHECK(cudaStreamSynchronize(stream));
    workspace_.resize(need);
    workspace_grown_ = true;
  }

  const auto reset_trial = [&] {
    if (c.beta != 0.0f) {
      CUDA_CHECK(
          cudaMemcpyAsync(trial.data(), before.data(), bytes, cudaMemcpyDeviceToDevice, stream));
    }
  };
  const auto run_plan = [&](const GraphConvPlan& plan) {
    float* x = c.x;
    float* w = c.w;
    float* y = c.y;
    (c.pass == ConvPass::kForward ? y : c.pass == ConvPass::kBackwardData ? x : w) = trial.data();
    plan.execute(dnn, x, w, y, workspace_.data());
  };
  const float legacy_before = ms_per_run(stream, [&] { c.legacy(trial.data()); });
  std::vector<float> plan_ms(plans.size(), std::numeric_limits<float>::infinity());
  for (std::size_t k = 0; k < plans.size(); ++k) {
    reset_trial();
    run_plan(plans[k]);
    // trial - out = the plan's contribution - the legacy one's
    CUDNN_CHECK(cudnnAddTensor(dnn, &minus_one, flat.get(), out, &kOne, flat.get(), trial.data()));
    const TensorRange diff = tensor_range(trial.data(), c.out_count, stream);
    const double worst = std::max(std::fabs(static_cast<double>(diff.min_value)),
                                  std::fabs(static_cast<double>(diff.max_value)));
    if (diff.nan_count > 0 || diff.inf_count > 0 || worst > tolerance) {
      ++use.mismatched;
      continue;
    }
    plan_ms[k] = ms_per_run(stream, [&] { run_plan(plans[k]); });
  }
  use.legacy_ms = std::min(legacy_before, ms_per_run(stream, [&] { c.legacy(trial.data()); }));
  // kGraph: any matching plan beats the legacy algorithm.
  float best_ms =
      engines_ == ConvEngines::kGraph ? std::numeric_limits<float>::infinity() : use.legacy_ms;
  int best = -1;
  for (std::size_t k = 0; k < plans.size(); ++k) {
    if (plan_ms[k] < best_ms) {
      best_ms = plan_ms[k];
      best = static_cast<int>(k);
    }
  }
  if (best < 0) {
    use.chosen_ms = use.legacy_ms;
    return;
  }
  use.chosen_ms = best_ms;
  d.plan = std::make_unique<GraphConvPlan>(std::move(plans[best]));
  use.engine = d.plan->name();
  // The pass's result from the engine every later run uses (bit for bit the same as theirs when
  // the engine is deterministic: always under set_deterministic).
  if (c.beta != 0.0f) {
    CUDA_CHECK(cudaMemcpyAsync(out, before.data(), bytes, cudaMemcpyDeviceToDevice, stream));
  }
  d.plan->execute(dnn, c.x, c.w, c.y, workspace_.data());
}

std::vector<ConvEngineUse> Network::conv_engine_report() const {
  std::vector<ConvEngineUse> rows;
  const auto add = [&](const GraphDecision& d) {
    if (d.decided) rows.push_back(d.use);
  };
  for (const auto& entry : conv_choices_) add(entry.second->graph);
  for (const auto& entry : conv_data_choices_) {
    add(entry.second->graph[0]);
    add(entry.second->graph[1]);
  }
  for (const auto& entry : conv_filter_choices_) add(entry.second->graph);
  std::sort(rows.begin(), rows.end(), [](const ConvEngineUse& a, const ConvEngineUse& b) {
    return a.key != b.key ? a.key < b.key : a.pass < b.pass;
  });
  return rows;
}

const float* Network::layer_gradient(int layer) const {
  return grads_.at(layer).data();
}

float Network::beta_for(int producer) {
  if (grad_written_[producer]) return 1.0f;
  grad_written_[producer] = true;
  return 0.0f;
}

void Network::plan_backward(Plan& plan) {
  const int batch = plan.batch;
  const cudnnHandle_t dnn = ctx_.cudnn();
  workspace_.resize(kMaxWorkspaceBytes);  // for the algorithm searches
  for (std::size_t i = 0; i < desc_.layers.size(); ++i) {
    const Layer& l = desc_.layers[i];
    LayerStep& st = plan.steps[i];
    if (l.kind != LayerKind::kConv) continue;
    const std::string key = shape_key(l, batch, plan.math, plan.deterministic);
    const int p = l.inputs[0];
    const float* d_x = p == kNetworkInput ? last_input_ : output_ptr_[p];
    float* d_dw = gradients_.data() + layout_.specs[layout_.find(l.name + ".weight")].offset;
    const float* d_w = trainable_.data() + layout_.specs[layout_.find(l.name + ".weight")].offset;

    st.conv_filter = make_conv_descriptor(l);
    st.filter_choice = cached_conv_choice<cudnnConvolutionBwdFilterAlgoPerf_t,
                                          CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT>(
        conv_filter_choices_, key, st.conv_filter->get(), plan.math, plan.deterministic,
        [&](cudnnConvolutionBwdFilterAlgoPerf_t* perf, int* returned) {
          CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(
              dnn, st.x->get(), d_x, st.y->get(), grads_[i].data(), st.conv_filter->get(),
              st.w->get(), d_dw, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, returned, perf,
              workspace_.data(), workspace_.bytes()));
        },
        [&](cudnnConvolutionBwdFilterAlgo_t algo, std::size_t* bytes) {
          return cudnnGetConvolutionBackwardFilterWorkspaceSize(
              dnn, st.x->get(), st.y->get(), st.conv_filter->get(), st.w->get(), algo, bytes);
        },
        desc_.model, l, "backward-filter");

    if (p == kNetworkInput) continue;  // no gradient for the image
    st.conv_data = make_conv_descriptor(l);
    st.data_choice = cached_conv_choice<cudnnConvolutionBwdDataAlgoPerf_t,
                                        CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT>(
        conv_data_choices_, key, st.conv_data->get(), plan.math, plan.deterministic,
        [&](cudnnConvolutionBwdDataAlgoPerf_t* perf, int* returned) {
          CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(
              dnn, st.w->get(), d_w, st.y->get(), grads_[i].data(), st.conv_data->get(),
              st.x->get(), grads_[p].data(), CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, returned, perf,
              workspace_.data(), workspace_.bytes()));
        },
        [&](cudnnConvolutionBwdDataAlgo_t algo, std::size_t* bytes) {
          return cudnnGetConvolutionBackwardDataWorkspaceSize(
              dnn, st.w->get(), st.y->get(), st.conv_data->get(), st.x->get(), algo, bytes);
        },
        desc_.model, l, "backward-data");
  }
  workspace_.resize(required_workspace());
  plan.backward_planned = true;
}

void Network::backward_layer(Plan& plan, int i) {
  const Layer& l = desc_.layers[i];
  LayerStep& st = plan.steps[i];
  const cudnnHandle_t dnn = ctx_.cudnn();
  const cudaStream_t stream = ctx_.stream();
  const std::size_t out_count = static_cast<std::size_t>(plan.batch) * l.out.count();
  if (!grad_written_[i]) {  // nothing downstream reads this layer: its gradient is zero
    CUDA_CHECK(cudaMemsetAsync(grads_[i].data(), 0, out_count * sizeof(float), stream));
    grad_written_[i] = true;
  }
  const float* dy = grads_[i].data();
  const float* y = output_ptr_[i];
  const auto input = [&](std::size_t k) -> const float* {
    const int p = l.inputs[k];
    return p == kNetworkInput ? last_input_ : output_ptr_[p];
  };
  const auto spec = [&](const char* suffix) -> const ParamSpec& {
    return layout_.specs[layout_.find(l.name + suffix)];
  };
  const auto param = [&](const char* suffix) { return trainable_.data() + spec(suffix).offset; };
  const auto grad = [&](const char* suffix) { return gradients_.data() + spec(suffix).offset; };
  const int p = l.inputs[0];
  const float* x = input(0);
  // Adds `count` floats of scratch_ into producer q's gradient, described by `desc`.
  const auto add_scratch_into = [&](int q, const TensorDescriptor& desc) {
    CUDNN_CHECK(cudnnAddTensor(dnn, &kOne, desc.get(), scratch_.data(), &kOne, desc.get(),
                               grads_[q].data()));
  };

  switch (l.kind) {
    case LayerKind::kConv: {
      const std::size_t w_count = spec(".weight").count();
      float* const dw = grad(".weight");
      float* const w = param(".weight");
      float* const mutable_dy = grads_[i].data();
      const ConvPassCall filter{
          ConvPass::kBackwardFilter,
          &l,
          plan.batch,
          plan.math,
          plan.deterministic,
          0.0f,
          const_cast<float*>(x),
          dw,
          mutable_dy,
          w_count,
          st.filter_choice->workspace,
          static_cast<int>(st.filter_choice->algo),
          [&](float* out) {
            CUDNN_CHECK(cudnnConvolutionBackwardFilter(
                dnn, &kOne, st.x->get(), x, st.y->get(), dy, st.conv_filter->get(),
                st.filter_choice->algo, workspace_.data(), st.filter_choice->workspace, &kZero,
                st.w->get(), out));
          }};
      run_conv_pass(st.filter_choice->graph, filter);
      if (l.bias) {
        bias_gradient(ctx_.cublas(), dy, plan.batch, l.channels, l.out.h * l.out.w, ones_.data(),
                      bias_partial_.data(), grad(".bias"));
      }
      if (p == kNetworkInput) break;
      const float beta = beta_for(p);
      const ConvPassCall data{ConvPass::kBackwardData,
                              &l,
                              plan.batch,
                              plan.math,
                              plan.deterministic,
                              beta,
                              grads_[p].data(),
                              w,
                              mutable_dy,
                              static_cast<std::size_t>(plan.batch) * l.in.count(),
                              st.data_choice->workspace,
                              static_cast<int>(st.data_choice->algo),
                              [&](float* out) {
                                CUDNN_CHECK(cudnnConvolutionBackwardData(
                                    dnn, &kOne, st.w->get(), w, st.y->get(), dy,
                                    st.conv_data->get(), st.data_choice->algo, workspace_.data(),
                                    st.data_choice->workspace, &beta, st.x->get(), out));
                              }};
      run_conv_pass(st.data_choice->graph[beta != 0.0f ? 1 : 0], data);
      break;
    }
    case LayerKind::kBatchNorm: {
      if (p == kNetworkInput) {
        throw ModelError(desc_.model + " layer '" + l.name +
                         "': backward through a batch norm on the network input");
      }
      const float beta = beta_for(p);
      CUDNN_CHECK(cudnnBatchNormalizationBackward(
          dnn, cudnn_mode(last_bn_mode_), &kOne, &beta, &kOne, &kZero, st.x->get(), x, st.y->get(),
          dy, st.x->get(), grads_[p].data(), st.channel->get(), param(".weight"), grad(".weight"),
          grad(".bias"), kBatchNormEps, st.saved_mean.data(), st.saved_inv_var.data()));
      break;
    }
    case LayerKind::kRelu:
    case LayerKind::kRelu6: {
      if (p == kNetworkInput) break;
      activation_backward(activation_of(l.kind), y, dy, out_count, beta_for(p), grads_[p].data(),
                          stream);
      break;
    }
    case LayerKind::kMaxPool: {
      if (p == kNetworkInput) break;
      max_pool_backward(st.pool_winner.data(), dy, max_pool_shape(l, plan.batch), beta_for(p),
                        grads_[p].data(), stream);
      break;
    }
    case LayerKind::kAvgPool: {
      if (p == kNetworkInput) break;
      const float beta = beta_for(p);
      CUDNN_CHECK(cudnnPoolingBackward(dnn, st.pool->get(), &kOne, st.y->get(), y, st.y->get(), dy,
                                       st.x->get(), x, &beta, st.x->get(), grads_[p].data()));
      break;
    }
    case LayerKind::kLinear: {
      // Column-major views (see run_layer): x^T is in x N, W^T' is in x out, dy^T is out x N.
      const int in_features = static_cast<int>(l.in.count());
      CUBLAS_CHECK(cublasSetMathMode(ctx_.cublas(), plan.math == MathMode::kTf32
                                                        ? CUBLAS_TF32_TENSOR_OP_MATH
                                                        : CUBLAS_DEFAULT_MATH));
      // dW (out x in, row-major) = dy^T x, i.e. column-major (in x out) = x^T dy.
      CUBLAS_CHECK(cublasSgemm(ctx_.cublas(), CUBLAS_OP_N, CUBLAS_OP_T, in_features, l.channels,
                               plan.batch, &kOne, x, in_features, dy, l.channels, &kZero,
                               grad(".weight"), in_features));
      if (l.bias) {  // db = dy^T 1
        bias_gradient(ctx_.cublas(), dy, plan.batch, l.channels, 1, ones_.data(), nullptr,
                      grad(".bias"));
      }
      if (p == kNetworkInput) break;
      // dx (N x in, row-major) = dy W, i.e. column-major (in x N) = W^T' dy^T.
      const float beta = beta_for(p);
      CUBLAS_CHECK(cublasSgemm(ctx_.cublas(), CUBLAS_OP_N, CUBLAS_OP_N, in_features, plan.batch,
                               l.channels, &kOne, param(".weight"), in_features, dy, l.channels,
                               &beta, grads_[p].data(), in_features));
      break;
    }
    case LayerKind::kAdd:  // one launch per input: an input may appear twice (y = x + x)
      for (std::size_t k = 0; k < l.inputs.size(); ++k) {
        const int q = l.inputs[k];
        if (q == kNetworkInput) continue;
        const SliceCopy into{dy, 0, grads_[q].data(), 0, out_count, beta_for(q)};
        copy_slices(&into, 1, 1, stream);
      }
      break;
    case LayerKind::kConcat: {
      // One launch for all slices, unless a producer feeds two of them: its second slice must add
      // onto the first's result, so that one waits for a launch of its own.
      const auto image = static_cast<std::size_t>(l.out.count());  // floats per image
      std::vector<SliceCopy> slices;
      std::vector<int> producers;
      const auto flush = [&] {
        copy_slices(slices.data(), static_cast<int>(slices.size()),
                    static_cast<std::size_t>(plan.batch), stream);
        slices.clear(), producers.clear();
      };
      for (const ConcatPart& part : concat_parts(desc_, l)) {
        if (part.producer == kNetworkInput) continue;
        if (std::find(producers.begin(), producers.end(), part.producer) != producers.end()) {
          flush();
        }
        slices.push_back({dy + part.offset, image, grads_[part.producer].data(), part.floats,
                          part.floats, beta_for(part.producer)});
        producers.push_back(part.producer);
      }
      flush();
      break;
    }
    case LayerKind::kDropout: {
      if (p == kNetworkInput) break;
      const bool add = beta_for(p) != 0.0f;
      CUDNN_CHECK(cudnnDropoutBackward(dnn, plan.dropout->get(), st.y->get(), dy, st.x->get(),
                                       add ? scratch_.data() : grads_[p].data(),
                                       st.dropout_reserve.data(), st.dropout_reserve.bytes()));
      if (add) add_scratch_into(p, *st.x);
      break;
    }
    case LayerKind::kFlatten: {
      if (p == kNetworkInput) break;
      const bool add = beta_for(p) != 0.0f;
      CUDA_CHECK(cudaMemcpyAsync(add ? scratch_.data() : grads_[p].data(), dy,
                                 out_count * sizeof(float), cudaMemcpyDeviceToDevice, stream));
      if (add) add_scratch_into(p, *st.x);
      break;
    }
  }
}

void Network::backward(const float* d_grad_logits) {
  if (!d_grad_logits) throw ModelError(desc_.model + ": backward got a null gradient");
  if (!last_plan_) throw ModelError(desc_.model + ": backward before any forward");
  if (last_mode_ != ForwardMode::kTraining) {
    throw ModelError(desc_.model +
                     ": backward needs a training forward (batch statistics, dropout masks)");
  }
  Plan& plan = *last_plan_;
  std::unique_lock<std::recursive_mutex> setup(device_setup_mutex(), std::defer_lock);
  if (!plan.ran_backward) setup.lock();  // as in forward
  const int n = static_cast<int>(desc_.layers.size());
  // Gradient buffers and scratch for this batch (kept when large enough).
  std::size_t largest = 0;
  for (int i = 0; i < n; ++i) {
    const std::size_t count = static_cast<std::size_t>(plan.batch) * desc_.layers[i].out.count();
    if (grads_[i].size() < count) grads_[i].resize(count);
    largest = std::max(largest, count);
  }
  if (scratch_.size() < largest) scratch_.resize(largest);
  if (!plan.backward_planned) plan_backward(plan);

  grad_written_.assign(n, false);
  CUDA_CHECK(cudaMemcpyAsync(grads_[n - 1].data(), d_grad_logits,
                             static_cast<std::size_t>(plan.batch) * kNumClasses * sizeof(float),
                             cudaMemcpyDeviceToDevice, ctx_.stream()));
  grad_written_[n - 1] = true;
  for (int i = n - 1; i >= 0; --i) {
    if (timing_) backward_events_[i + 1].record(ctx_.stream());
    backward_layer(plan, i);
  }
  if (timing_) {
    backward_events_[0].record(ctx_.stream());
    backward_timed_ = true;
  }
  if (workspace_grown_) shrink_workspace();
  plan.ran_backward = true;
}

void Network::set_layer_timing(bool on) {
  if (on && !timing_) {
    const std::size_t events = desc_.layers.size() + 1;
    forward_events_.resize(events);
    backward_events_.resize(events);
    forward_timed_ = backward_timed_ = false;
  }
  timing_ = on;
}

Network::LayerTimes Network::layer_times() const {
  const std::size_t n = desc_.layers.size();
  LayerTimes t;
  if (forward_timed_) {
    for (std::size_t i = 0; i < n; ++i)
      t.forward_ms.push_back(forward_events_[i + 1].elapsed_ms_since(forward_events_[i]));
  }
  if (backward_timed_) {  // layer i's backward runs from event i + 1 to event i
    for (std::size_t i = 0; i < n; ++i)
      t.backward_ms.push_back(backward_events_[i].elapsed_ms_since(backward_events_[i + 1]));
  }
  return t;
}

Checkpoint Network::to_checkpoint() const {
  const std::vector<float> h_trainable = trainable_.to_host(), h_stats = stats_.to_host();
  return checkpoint_from(h_trainable.data(), h_stats.data());
}

Checkpoint Network::checkpoint_from(const float* h_trainable, const float* h_stats) const {
  Checkpoint ck;
  ck.model = desc_.model;
  for (const ParamSpec& s : layout_.specs) {
    const float* src = (s.trainable ? h_trainable : h_stats) + s.offset;
    ck.tensors.push_back({s.name, s.shape, std::vector<float>(src, src + s.count())});
  }
  return ck;
}

void Network::load(const Checkpoint& ck, const std::string& source) {
  check_checkpoint(ck, desc_, source);
  std::vector<float> h_trainable(layout_.trainable_floats, 0.0f),
      h_stats(layout_.stats_floats, 0.0f);
  for (const ParamSpec& s : layout_.specs) {
    const NamedTensor* t = ck.find(s.name);
    std::copy(t->data.begin(), t->data.end(),
              (s.trainable ? h_trainable.data() : h_stats.data()) + s.offset);
  }
  trainable_.upload(h_trainable);
  stats_.upload(h_stats);
}

}  // namespace ptq
