// The study's nine networks (DESIGN.md section 2) as a layer graph, and the profiler's accounting.
//
// Each network is a table of rows (model_tables.cpp); one builder expands the rows, including the
// inception, residual and inverted-residual blocks, into a flat list of layers in forward
// (topological) order. Every layer names its producers explicitly, so an add or a concat reads
// from any earlier layer, and every layer keeps its own output shape: activations, parameters,
// their gradients and quantizers can all be addressed by layer index or name later. Host-only.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace ptq {

enum class LayerKind : std::uint8_t {
  kConv,       // cross-correlation with stride, zero padding, groups, optional bias
  kBatchNorm,  // per channel: gamma * (x - mean) / sqrt(var + eps) + beta
  kRelu,       // max(x, 0)
  kRelu6,      // min(max(x, 0), 6)
  kMaxPool,    // kernel, stride, padding (padding never wins the max), floor output size
  kAvgPool,    // adaptive average pool to 1x1
  kFlatten,    // C x H x W -> (C*H*W) x 1 x 1, a view
  kDropout,    // p = kDropoutP in training, identity in inference
  kLinear,     // y = W x + b, W is out x in
  kAdd,        // residual add of two equal-shaped inputs
  kConcat,     // channel concatenation of the inputs, in input order
};

constexpr float kDropoutP = 0.5f;
constexpr float kBatchNormEps = 1e-5f;      // PyTorch's default
constexpr float kBatchNormMomentum = 0.1f;  // running = (1 - m) * running + m * batch
// kNumClasses (10 logits) is the datasets' class count, data/dataset.h: one definition, so a
// file can include both the data and the model headers.
constexpr int kNetworkInput = -1;  // producer index meaning "the network's input image"

// Short lowercase name used in the accounting CSV: conv, bn, relu, relu6, maxpool, avgpool,
// flatten, dropout, linear, add, concat.
const char* layer_kind_name(LayerKind kind);

// One image's activation shape (batch excluded), NCHW order.
struct TensorShape {
  int c = 0, h = 0, w = 0;
  std::int64_t count() const { return static_cast<std::int64_t>(c) * h * w; }
  bool operator==(const TensorShape& o) const { return c == o.c && h == o.h && w == o.w; }
  bool operator!=(const TensorShape& o) const { return !(*this == o); }
};

struct Layer {
  std::string name;  // the study's module name, e.g. "ml1_blk0_ds_conv0"
  LayerKind kind = LayerKind::kRelu;
  std::vector<int>
      inputs;      // producer layer indices (kNetworkInput for the image); 2+ for add/concat
  TensorShape in;  // shape of inputs[0]
  TensorShape out;
  int channels = 0;  // conv: output channels; linear: output features
  // Convolution and max-pool geometry; `groups` and `bias` apply to conv, `bias` to linear.
  int kernel = 0, stride = 1, padding = 0, groups = 1;
  bool bias = false;
};

struct NetworkDesc {
  std::string model;
  TensorShape input;          // 3 x 32 x 32
  std::vector<Layer> layers;  // forward order; the last layer's output is the logits
  int find(const std::string& layer_name) const;  // index or -1
};

// Thrown for an unknown model name or a table whose shapes do not fit together.
class ModelError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// The nine model names in the study's order.
const std::vector<std::string>& model_names();

// The layer graph of a study network; throws ModelError naming the known models when unknown.
NetworkDesc build_network_desc(const std::string& model);

// Checks a hand-made graph the way the builder checks its own: producers come earlier, shapes fit
// (conv channels and groups, linear in-features, add shapes, concat spatial sizes), the last
// layer gives kNumClasses logits. Throws ModelError naming the layer and the problem.
void validate_network_desc(const NetworkDesc& desc);

// The output shape of layer `index` of desc from its producers' recorded `out` shapes (the
// builder's own inference); throws ModelError when they do not fit.
TensorShape infer_shape(const NetworkDesc& desc, int index);

// ---- Accounting (ptflops conventions, batch 1) ----
struct LayerCost {
  std::int64_t params = 0;
  std::int64_t macs = 0;
};

// conv: out elements x (in/groups x k x k) MACs, + out elements for a bias; params weights + bias.
// bn: 2 x elements MACs, 2 x C params (gamma, beta; running statistics are buffers, not params).
// relu, relu6, max-pool, adaptive average pool: 1 x input elements. linear: in x out + out for
// both. flatten, dropout, add, concat: 0.
LayerCost layer_cost(const Layer& layer);
LayerCost network_cost(const NetworkDesc& desc);

// ---- Parameters ----
enum class ParamRole : std::uint8_t {
  kWeight,
  kBias,
  kBnGamma,
  kBnBeta,
  kBnRunningMean,
  kBnRunningVar
};

// One named tensor of a network. Trainable tensors (weights, biases, gamma, beta) and batch-norm
// running statistics live in two separate arenas; `offset` is the tensor's start in its arena,
// aligned to kParamAlignment floats so each tensor starts on a 256-byte boundary.
struct ParamSpec {
  std::string name;  // "<layer>.weight", ".bias", ".running_mean", ".running_var" (PyTorch's names)
  int layer = 0;
  ParamRole role = ParamRole::kWeight;
  std::vector<int> shape;  // conv weight out x in/groups x k x k; linear weight out x in; else C
  bool trainable = true;
  std::size_t offset = 0;
  std::size_t count() const;
};

constexpr std::size_t kParamAlignment = 64;

struct ParamLayout {
  std::vector<ParamSpec> specs;  // in layer order; per layer weight, bias / gamma, beta, mean, var
  std::size_t trainable_floats = 0;  // arena sizes, padding included
  std::size_t stats_floats = 0;
  int find(const std::string& name) const;  // index or -1
};

ParamLayout param_layout(const NetworkDesc& desc);

}  // namespace ptq
