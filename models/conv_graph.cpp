// cuDNN graph-API convolutions (see conv_graph.h). The backend descriptors, in the order cuDNN
// wants them finalised:
//   tensor x3 (unique ids kUidX, kUidW, kUidY: x or dx, w or dw, y or dy) -> convolution ->
//   operation (forward, backward data or backward filter, with alpha 1 and the pass's beta) ->
//   operation graph -> heuristics (mode A) -> engine configurations -> execution plans.
// A plan runs with a variant pack naming the three device pointers and the workspace; packs are
// kept per pointer set (a layer runs on the same buffers every step), so steady steps build none.
#include "models/conv_graph.h"

#include <array>
#include <cstdint>
#include <stdexcept>
#include <utility>

#include "gpu/cuda_check.h"

namespace ptq {
namespace {

constexpr int64_t kUidX = 1, kUidW = 2, kUidY = 3;
constexpr int64_t kAlignmentBytes = 16;
// Variant packs kept per plan (ResNet_152's deepest stage runs one shape in 36 blocks).
constexpr std::size_t kMaxPacks = 256;

// Owner of one backend descriptor.
class BackendDescriptor {
 public:
  BackendDescriptor() = default;  // empty until assigned
  explicit BackendDescriptor(cudnnBackendDescriptorType_t type) {
    CUDNN_CHECK(cudnnBackendCreateDescriptor(type, &d_));
  }
  ~BackendDescriptor() {
    if (d_) cudnnBackendDestroyDescriptor(d_);
  }
  BackendDescriptor(const BackendDescriptor&) = delete;
  BackendDescriptor& operator=(const BackendDescriptor&) = delete;
  BackendDescriptor(BackendDescriptor&& o) noexcept : d_(std::exchange(o.d_, nullptr)) {}
  BackendDescriptor& operator=(BackendDescriptor&& o) noexcept {
    if (this != &o) {
      if (d_) cudnnBackendDestroyDescriptor(d_);
      d_ = std::exchange(o.d_, nullptr);
    }
    return *this;
  }
  cudnnBackendDescriptor_t get() const { return d_; }

 private:
  cudnnBackendDescriptor_t d_ = nullptr;
};

void set(const BackendDescriptor& d, cudnnBackendAttributeName_t name,
         cudnnBackendAttributeType_t type, int64_t count, const void* values) {
  CUDNN_CHECK(cudnnBackendSetAttribute(d.get(), name, type, count, values));
}

void set_descriptor(const BackendDescriptor& d, cudnnBackendAttributeName_t name,
                    const BackendDescriptor& value) {
  const cudnnBackendDescriptor_t raw = value.get();
  set(d, name, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &raw);
}

int64_t get_int64(const BackendDescriptor& d, cudnnBackendAttributeName_t name) {
  int64_t value = 0, count = 0;
  CUDNN_CHECK(cudnnBackendGetAttribute(d.get(), name, CUDNN_TYPE_INT64, 1, &count, &value));
  return value;
}

BackendDescriptor make_tensor(int64_t uid, int n, int c, int h, int w) {
  BackendDescriptor t(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
  const cudnnDataType_t type = CUDNN_DATA_FLOAT;
  const int64_t dims[4] = {n, c, h, w};
  const int64_t strides[4] = {static_cast<int64_t>(c) * h * w, static_cast<int64_t>(h) * w, w, 1};
  set(t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &type);
  set(t, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dims);
  set(t, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, strides);
  set(t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid);
  set(t, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &kAlignmentBytes);
  CUDNN_CHECK(cudnnBackendFinalize(t.get()));
  return t;
}

// A pass's operation descriptor and its attributes for the tensors in the roles x, w, y (x or dx,
// w or dw, y or dy), the convolution, alpha and beta.
struct OperationAttributes {
  cudnnBackendDescriptorType_t type;
  cudnnBackendAttributeName_t x, w, y, conv, alpha, beta;
};

const OperationAttributes& operation_attributes(ConvPass pass) {
  static const OperationAttributes forward{CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR,
                                           CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X,
                                           CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W,
                                           CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y,
                                           CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC,
                                           CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA,
                                           CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA};
  static const OperationAttributes data{
      CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_DATA_DESCRIPTOR,
      CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DX,
      CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_W,
      CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DY,
      CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_CONV_DESC,
      CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_ALPHA,
      CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_BETA};
  static const OperationAttributes filter{
      CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_FILTER_DESCRIPTOR,
      CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_X,
      CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DW,
      CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DY,
      CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_CONV_DESC,
      CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_ALPHA,
      CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_BETA};
  return pass == ConvPass::kForward ? forward : pass == ConvPass::kBackwardData ? data : filter;
}

bool has_note(const std::vector<cudnnBackendNumericalNote_t>& notes,
              cudnnBackendNumericalNote_t note) {
  for (const auto n : notes) {
    if (n == note) return true;
  }
  return false;
}

}  // namespace

const char* conv_pass_name(ConvPass pass) {
  switch (pass) {
    case ConvPass::kForward:
      return "forward";
    case ConvPass::kBackwardData:
      return "backward-data";
    case ConvPass::kBackwardFilter:
      return "backward-filter";
  }
  return "?";
}

bool conv_graph_aligned(const void* p) {
  return reinterpret_cast<std::uintptr_t>(p) % kAlignmentBytes == 0;
}

// The operation graph of one pass, shared by its plans (they keep it alive).
struct GraphConvOp {
  BackendDescriptor x, w, y, op;
  BackendDescriptor conv{CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR};
  BackendDescriptor graph{CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR};
};

struct GraphConvPlan::State {
  std::shared_ptr<GraphConvOp> op;
  BackendDescriptor config;
  BackendDescriptor plan{CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR};
  std::size_t workspace = 0;
  std::string name;
  // Variant packs built so far and the pointers (x, w, y, workspace) each names: layers of one
  // shape share a plan, each on its own buffers.
  struct Pack {
    std::array<void*, 4> pointers;
    BackendDescriptor pack;
  };
  mutable std::vector<Pack> packs;
};

GraphConvPlan::GraphConvPlan(std::unique_ptr<State> state) : state_(std::move(state)) {}
GraphConvPlan::~GraphConvPlan() = default;
GraphConvPlan::GraphConvPlan(GraphConvPlan&&) noexcept = default;
GraphConvPlan& GraphConvPlan::operator=(GraphConvPlan&&) noexcept = default;

std::size_t GraphConvPlan::workspace() const {
  return state_->workspace;
}
const std::string& GraphConvPlan::name() const {
  return state_->name;
}

void GraphConvPlan::execute(cudnnHandle_t dnn, float* x, float* w, float* y,
                            void* workspace) const {
  State& s = *state_;
  if (!conv_graph_aligned(x) || !conv_graph_aligned(w) || !conv_graph_aligned(y) ||
      !conv_graph_aligned(workspace)) {
    throw std::invalid_argument("graph convolution (" + s.name +
                                "): a pointer is not 16-byte aligned");
  }
  const std::array<void*, 4> now = {x, w, y, workspace};
  const State::Pack* found = nullptr;
  for (const State::Pack& p : s.packs) {
    if (p.pointers == now) found = &p;
  }
  if (!found) {
    if (s.packs.size() >= kMaxPacks) s.packs.clear();
    BackendDescriptor pack(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR);
    const int64_t uids[3] = {kUidX, kUidW, kUidY};
    void* data[3] = {x, w, y};
    set(pack, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, 3, uids);
    set(pack, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, 3, data);
    set(pack, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &workspace);
    CUDNN_CHECK(cudnnBackendFinalize(pack.get()));
    s.packs.push_back({now, std::move(pack)});
    found = &s.packs.back();
  }
  CUDNN_CHECK(cudnnBackendExecute(dnn, s.plan.get(), found->pack.get()));
}

std::vector<GraphConvPlan> graph_conv_plans(cudnnHandle_t dnn, ConvPass pass, const ConvGeometry& g,
                                            float beta, const ConvEngineRules& rules,
                                            int max_plans) {
  auto op = std::make_shared<GraphConvOp>();
  op->x = make_tensor(kUidX, g.batch, g.in_c, g.in_h, g.in_w);
  op->w = make_tensor(kUidW, g.out_c, g.in_c / g.groups, g.kernel, g.kernel);
  op->y = make_tensor(kUidY, g.batch, g.out_c, g.out_h, g.out_w);

  const int64_t spatial = 2;
  const cudnnDataType_t compute = CUDNN_DATA_FLOAT;
  const cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
  const int64_t padding[2] = {g.padding, g.padding}, stride[2] = {g.stride, g.stride},
                dilation[2] = {1, 1};
  set(op->conv, CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, 1, &spatial);
  set(op->conv, CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &compute);
  set(op->conv, CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, 1, &mode);
  set(op->conv, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, 2, padding);
  set(op->conv, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, 2, padding);
  set(op->conv, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, 2, stride);
  set(op->conv, CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, 2, dilation);
  CUDNN_CHECK(cudnnBackendFinalize(op->conv.get()));

  const OperationAttributes& names = operation_attributes(pass);
  const float alpha = 1.0f;
  op->op = BackendDescriptor(names.type);
  set_descriptor(op->op, names.x, op->x);
  set_descriptor(op->op, names.w, op->w);
  set_descriptor(op->op, names.y, op->y);
  set_descriptor(op->op, names.conv, op->conv);
  set(op->op, names.alpha, CUDNN_TYPE_FLOAT, 1, &alpha);
  set(op->op, names.beta, CUDNN_TYPE_FLOAT, 1, &beta);
  CUDNN_CHECK(cudnnBackendFinalize(op->op.get()));

  std::vector<GraphConvPlan> plans;
  const cudnnBackendDescriptor_t op_raw = op->op.get();
  set(op->graph, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &op_raw);
  set(op->graph, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &dnn);
  // A graph cuDNN cannot take (or heuristics that find nothing) leaves the legacy call.
  if (cudnnBackendFinalize(op->graph.get()) != CUDNN_STATUS_SUCCESS) return plans;

  BackendDescriptor heuristics(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
  set_descriptor(heuristics, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, op->graph);
  const cudnnBackendHeurMode_t heur_mode = CUDNN_HEUR_MODE_A;
  set(heuristics, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &heur_mode);
  if (cudnnBackendFinalize(heuristics.get()) != CUDNN_STATUS_SUCCESS) return plans;
  int64_t offered = 0;
  CUDNN_CHECK(cudnnBackendGetAttribute(heuristics.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                       CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &offered, nullptr));
  std::vector<BackendDescriptor> configs;
  std::vector<cudnnBackendDescriptor_t> raw;
  for (int64_t k = 0; k < offered; ++k) {
    configs.emplace_back(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR);
    raw.push_back(configs.back().get());
  }
  int64_t returned = 0;
  if (offered > 0) {
    CUDNN_CHECK(cudnnBackendGetAttribute(heuristics.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                         CUDNN_TYPE_BACKEND_DESCRIPTOR, offered, &returned,
                                         raw.data()));
  }

  for (int64_t k = 0; k < returned && static_cast<int>(plans.size()) < max_plans; ++k) {
    BackendDescriptor engine(CUDNN_BACKEND_ENGINE_DESCRIPTOR);
    int64_t count = 0;
    cudnnBackendDescriptor_t engine_raw = engine.get();
    CUDNN_CHECK(cudnnBackendGetAttribute(configs[k].get(), CUDNN_ATTR_ENGINECFG_ENGINE,
                                         CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &count, &engine_raw));
    std::vector<cudnnBackendNumericalNote_t> notes(CUDNN_NUMERICAL_NOTE_TYPE_COUNT);
    CUDNN_CHECK(cudnnBackendGetAttribute(engine.get(), CUDNN_ATTR_ENGINE_NUMERICAL_NOTE,
                                         CUDNN_TYPE_NUMERICAL_NOTE, CUDNN_NUMERICAL_NOTE_TYPE_COUNT,
                                         &count, notes.data()));
    notes.resize(static_cast<std::size_t>(count));
    cudnnBackendBehaviorNote_t behaviour[CUDNN_BEHAVIOR_NOTE_TYPE_COUNT];
    CUDNN_CHECK(cudnnBackendGetAttribute(engine.get(), CUDNN_ATTR_ENGINE_BEHAVIOR_NOTE,
                                         CUDNN_TYPE_BEHAVIOR_NOTE, CUDNN_BEHAVIOR_NOTE_TYPE_COUNT,
                                         &count, behaviour));
    bool compiles = false;
    for (int64_t b = 0; b < count; ++b)
      compiles = compiles || behaviour[b] == CUDNN_BEHAVIOR_NOTE_RUNTIME_COMPILATION;
    const bool tensor_cores = has_note(notes, CUDNN_NUMERICAL_NOTE_TENSOR_CORE);
    if (compiles) continue;  // seconds of NVRTC per plan
    // Never inputs converted below TF32 or sums in reduced precision (PyTorch drops these too): a
    // first-run check on one batch would not see the range they lose later.
    if (has_note(notes, CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS) ||
        has_note(notes, CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION))
      continue;
    if (rules.deterministic && has_note(notes, CUDNN_NUMERICAL_NOTE_NONDETERMINISTIC)) continue;

    auto state = std::make_unique<GraphConvPlan::State>();
    state->op = op;
    state->config = std::move(configs[k]);
    set(state->plan, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &dnn);
    set_descriptor(state->plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, state->config);
    if (cudnnBackendFinalize(state->plan.get()) != CUDNN_STATUS_SUCCESS) continue;
    state->workspace =
        static_cast<std::size_t>(get_int64(state->plan, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE));
    if (state->workspace > rules.max_workspace) continue;
    state->name = "engine " + std::to_string(get_int64(engine, CUDNN_ATTR_ENGINE_GLOBAL_INDEX)) +
                  " (heuristic #" + std::to_string(k) + (tensor_cores ? ", tensor cores" : "") +
                  ")";
    plans.emplace_back(std::move(state));
  }
  return plans;
}

}  // namespace ptq
