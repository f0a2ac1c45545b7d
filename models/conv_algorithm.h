// Choosing a cuDNN convolution algorithm from what cudnnFind...AlgorithmEx measured: the rules
// one pass (forward, backward data or backward filter) of models/network.cpp applies. Header-only
// and free of device calls, so it is tested on the CPU with made-up measurements.
#pragma once

#include <cudnn.h>

#include <cstddef>
#include <optional>

namespace ptq {

// What an algorithm must satisfy to be chosen.
struct ConvAlgoRules {
  std::size_t max_workspace = 0;  // bytes
  bool tensor_ops = false;        // TF32 tensor-core algorithms allowed; else strict FP32 (FMA)
  bool deterministic = false;     // only algorithms cuDNN reports as deterministic
};

template <typename Algo>
struct AlgoChoice {
  Algo algo;
  cudnnMathType_t math;  // the math type to set on the convolution descriptor
  std::size_t workspace;
};

// The first of perf[0..returned) (Find...Ex sorts them fastest first) that succeeded, needs at
// most rules.max_workspace bytes, is not a tensor-op algorithm unless rules.tensor_ops (without
// them the math type is pinned to CUDNN_FMA_MATH), is deterministic when rules.deterministic
// (backward-filter ALGO_0 and ALGO_3 and backward-data ALGO_0 add with atomics in a varying
// order), and for which workspace(algo, math type) gives a size (nothing: cuDNN refuses it).
template <typename Perf, typename WorkspaceQuery>
auto pick_conv_algorithm(const Perf* perf, int returned, const ConvAlgoRules& rules,
                         WorkspaceQuery workspace)
    -> std::optional<AlgoChoice<decltype(perf->algo)>> {
  for (int k = 0; k < returned; ++k) {
    const Perf& p = perf[k];
    if (p.status != CUDNN_STATUS_SUCCESS || p.memory > rules.max_workspace) continue;
    if (rules.deterministic && p.determinism != CUDNN_DETERMINISTIC) continue;
    const bool tensor_op =
        p.mathType == CUDNN_TENSOR_OP_MATH || p.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
    if (!rules.tensor_ops && tensor_op) continue;
    const cudnnMathType_t m = rules.tensor_ops ? p.mathType : CUDNN_FMA_MATH;
    if (const std::optional<std::size_t> bytes = workspace(p.algo, m)) {
      return AlgoChoice<decltype(perf->algo)>{p.algo, m, *bytes};
    }
  }
  return std::nullopt;
}

}  // namespace ptq
