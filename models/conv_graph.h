// Convolutions through cuDNN's graph (backend) API: one operation graph per pass and geometry, the
// engine configurations cuDNN's heuristics offer for it (CUDNN_HEUR_MODE_A), each finalised into
// an execution plan that runs on the handle's stream.
//
// Why: the legacy calls (cudnnConvolutionForward and friends, their algorithms chosen by
// cudnnFind...Ex) do not reach cuDNN's newer engines (the sm90 implicit-GEMM kernels PyTorch runs
// through this API); bench/README.md measured VGG_16's convolutions at 2.0x PyTorch's time through
// them. models/network.cpp times these plans against the legacy algorithm at each pass's first run
// and keeps the faster one that matches the legacy result (Network::set_conv_engines).
//
// TF32 only: the plans take float32 tensors and may run them on TF32 tensor cores. Strict FP32
// stays on the legacy calls, whose FMA math type is a guarantee: on the H200 (cuDNN 9.14) one
// engine without a tensor-core note (engine 17, a 5x5 backward filter) returned errors of 1e-3 of
// the largest value, TF32's size, where FP32 sums err by 1e-7.
//
// Host code only. Tensors are float32 NCHW, packed, 16-byte aligned (conv_graph_aligned says).
#pragma once

#include <cudnn.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace ptq {

enum class ConvPass { kForward, kBackwardData, kBackwardFilter };

// "forward", "backward-data", "backward-filter".
const char* conv_pass_name(ConvPass pass);

// A 2-D cross-correlation with square kernel, stride and zero padding, dilation 1, and groups
// (the filter is out_c x in_c / groups x kernel x kernel).
struct ConvGeometry {
  int batch = 0, in_c = 0, in_h = 0, in_w = 0;
  int out_c = 0, out_h = 0, out_w = 0;
  int kernel = 1, stride = 1, padding = 0, groups = 1;
};

// Which engines a pass may use; the same rules as models/network.cpp's legacy algorithm choice.
struct ConvEngineRules {
  bool deterministic = false;  // true: no engine cuDNN notes as non-deterministic
  std::size_t max_workspace = 0;
};

// Whether p is aligned as the plans' tensors and workspace are declared (16 bytes).
bool conv_graph_aligned(const void* p);

// One finalised execution plan of one pass. Move-only.
class GraphConvPlan {
 public:
  struct State;  // the backend descriptors (conv_graph.cpp)
  explicit GraphConvPlan(std::unique_ptr<State> state);
  ~GraphConvPlan();
  GraphConvPlan(GraphConvPlan&&) noexcept;
  GraphConvPlan& operator=(GraphConvPlan&&) noexcept;

  // Enqueues the pass on dnn's stream with the beta it was built with:
  //   forward          y  = conv(x, w) + beta y
  //   backward data    x  = conv_transpose(y, w) + beta x   (x holds dx, y holds dy)
  //   backward filter  w  = correlation of x with y + beta w (w holds dw, y holds dy)
  // All device pointers, each conv_graph_aligned, as is workspace (workspace() bytes; may be
  // null when that is 0). The output is written through its pointer; the inputs are only read.
  void execute(cudnnHandle_t dnn, float* x, float* w, float* y, void* workspace) const;

  std::size_t workspace() const;
  // The engine, e.g. "engine 12 (tensor cores)": cuDNN's global engine index and its notes.
  const std::string& name() const;

 private:
  std::unique_ptr<State> state_;
};

// The usable plans for the pass, in the heuristics' order of preference, at most max_plans: the
// configurations that obey `rules`, need no runtime compilation, neither down-convert their inputs
// nor reduce in reduced precision (cuDNN's numerical notes), and finalise on this device.
// Empty when there are none (the caller keeps the legacy call).
std::vector<GraphConvPlan> graph_conv_plans(cudnnHandle_t dnn, ConvPass pass, const ConvGeometry& g,
                                            float beta, const ConvEngineRules& rules,
                                            int max_plans);

}  // namespace ptq
