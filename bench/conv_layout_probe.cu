// What the convolutions of a network's training step would cost in NHWC instead of NCHW, through
// cuDNN's legacy API (the one models/network.cpp calls): for every convolution layer at one batch,
// the fastest forward, backward-data and backward-filter algorithm cudnnFind...Ex measures in each
// layout (TF32 tensor ops allowed, float32 tensors, at most 1 GiB of workspace), and the
// CUDA-event median of one NCHW -> NHWC transform of the layer's input and of its output (what a
// network keeping NCHW between layers would add around an NHWC convolution).
//
// usage: conv_layout_probe MODEL [--batch N]
#include <cudnn.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "gpu/cuda_check.h"
#include "gpu/device_buffer.h"
#include "gpu/gpu_context.h"
#include "models/cudnn_descriptors.h"
#include "models/model_desc.h"

namespace ptq {
namespace {

constexpr std::size_t kWorkspace = std::size_t{1} << 30;
constexpr int kTransformRuns = 7;

struct PassTimes {
  float fwd = 0, data = 0, filter = 0;
  float total() const { return fwd + data + filter; }
};

TensorDescriptor tensor(cudnnTensorFormat_t f, int n, int c, int h, int w) {
  TensorDescriptor d;
  CUDNN_CHECK(cudnnSetTensor4dDescriptor(d.get(), f, CUDNN_DATA_FLOAT, n, c, h, w));
  return d;
}

// The fastest successful algorithm's time from a Find...Ex result list, or -1 when none ran.
template <typename Perf>
float best_ms(const Perf* perf, int returned) {
  for (int k = 0; k < returned; ++k) {
    if (perf[k].status == CUDNN_STATUS_SUCCESS && perf[k].memory <= kWorkspace) return perf[k].time;
  }
  return -1.0f;
}

PassTimes find_times(GpuContext& ctx, const Layer& l, int batch, cudnnTensorFormat_t f, float* x,
                     float* y, float* w, float* dx, float* dy, float* dw, void* workspace) {
  const TensorDescriptor xd = tensor(f, batch, l.in.c, l.in.h, l.in.w);
  const TensorDescriptor yd = tensor(f, batch, l.out.c, l.out.h, l.out.w);
  FilterDescriptor wd;
  CUDNN_CHECK(cudnnSetFilter4dDescriptor(wd.get(), CUDNN_DATA_FLOAT, f, l.channels,
                                         l.in.c / l.groups, l.kernel, l.kernel));
  ConvolutionDescriptor cd;
  CUDNN_CHECK(cudnnSetConvolution2dDescriptor(cd.get(), l.padding, l.padding, l.stride, l.stride, 1,
                                              1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  CUDNN_CHECK(cudnnSetConvolutionGroupCount(cd.get(), l.groups));
  CUDNN_CHECK(cudnnSetConvolutionMathType(cd.get(), CUDNN_TENSOR_OP_MATH));
  const cudnnHandle_t h = ctx.cudnn();
  PassTimes t;
  int n = 0;
  cudnnConvolutionFwdAlgoPerf_t fp[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
  // A search cuDNN refuses as a whole counts like one whose algorithms all failed: -1.
  n = 0;
  if (cudnnFindConvolutionForwardAlgorithmEx(h, xd.get(), x, wd.get(), w, cd.get(), yd.get(), y,
                                             CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, fp, workspace,
                                             kWorkspace) != CUDNN_STATUS_SUCCESS)
    n = 0;
  t.fwd = best_ms(fp, n);
  cudnnConvolutionBwdDataAlgoPerf_t dp[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
  if (cudnnFindConvolutionBackwardDataAlgorithmEx(h, wd.get(), w, yd.get(), dy, cd.get(), xd.get(),
                                                  dx, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, dp,
                                                  workspace, kWorkspace) != CUDNN_STATUS_SUCCESS)
    n = 0;
  t.data = best_ms(dp, n);
  cudnnConvolutionBwdFilterAlgoPerf_t wp[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
  if (cudnnFindConvolutionBackwardFilterAlgorithmEx(h, xd.get(), x, yd.get(), dy, cd.get(),
                                                    wd.get(), dw,
                                                    CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, wp,
                                                    workspace, kWorkspace) != CUDNN_STATUS_SUCCESS)
    n = 0;
  t.filter = best_ms(wp, n);
  return t;
}

// Median milliseconds of one NCHW -> NHWC transform of an n x c x h x w tensor.
float transform_ms(GpuContext& ctx, int n, int c, int h, int w, const float* src, float* dst) {
  const TensorDescriptor from = tensor(CUDNN_TENSOR_NCHW, n, c, h, w);
  const TensorDescriptor to = tensor(CUDNN_TENSOR_NHWC, n, c, h, w);
  const float one = 1.0f, zero = 0.0f;
  std::vector<float> ms;
  CudaEvent start, stop;
  for (int r = 0; r < kTransformRuns + 1; ++r) {
    start.record(ctx.stream());
    CUDNN_CHECK(cudnnTransformTensor(ctx.cudnn(), &one, from.get(), src, &zero, to.get(), dst));
    stop.record(ctx.stream());
    if (r > 0) ms.push_back(stop.elapsed_ms_since(start));  // the first warms up
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

int run(const NetworkDesc& desc, int batch) {
  const std::string no_gpu = gpu_unavailable_reason();
  if (!no_gpu.empty()) {
    std::fprintf(stderr, "conv_layout_probe: %s\n", no_gpu.c_str());
    return 1;
  }
  const std::string& model = desc.model;
  std::size_t act = 0, weights = 0;
  for (const Layer& l : desc.layers) {
    if (l.kind != LayerKind::kConv) continue;
    act = std::max<std::size_t>({act, static_cast<std::size_t>(batch) * l.in.count(),
                                 static_cast<std::size_t>(batch) * l.out.count()});
    weights = std::max<std::size_t>(
        weights, static_cast<std::size_t>(l.channels) * (l.in.c / l.groups) * l.kernel * l.kernel);
  }
  GpuContext ctx;
  DeviceBuffer<float> x(act), y(act), dx(act), dy(act), w(weights), dw(weights);
  DeviceBuffer<unsigned char> workspace(kWorkspace);
  for (DeviceBuffer<float>* b : {&x, &y, &dx, &dy, &w, &dw})
    CUDA_CHECK(cudaMemset(b->data(), 0, b->bytes()));
  std::printf(
      "%s, batch %d, %s, cuDNN %zu: fastest algorithm per pass (cudnnFind, TF32 allowed), "
      "ms\n",
      model.c_str(), batch, gpu_device_name().c_str(), cudnnGetVersion());
  std::printf("  %-24s %-16s %8s %8s %8s %8s %8s %8s %9s\n", "layer", "in > out", "nchw fwd",
              "bwd-d", "bwd-f", "nhwc fwd", "bwd-d", "bwd-f", "2 transf.");
  PassTimes nchw_sum, nhwc_sum;
  float transforms = 0;
  for (const Layer& l : desc.layers) {
    if (l.kind != LayerKind::kConv) continue;
    const PassTimes a = find_times(ctx, l, batch, CUDNN_TENSOR_NCHW, x.data(), y.data(), w.data(),
                                   dx.data(), dy.data(), dw.data(), workspace.data());
    const PassTimes b = find_times(ctx, l, batch, CUDNN_TENSOR_NHWC, x.data(), y.data(), w.data(),
                                   dx.data(), dy.data(), dw.data(), workspace.data());
    const float tr = transform_ms(ctx, batch, l.in.c, l.in.h, l.in.w, x.data(), dx.data()) +
                     transform_ms(ctx, batch, l.out.c, l.out.h, l.out.w, y.data(), dy.data());
    const std::string shape = std::to_string(l.in.c) + "x" + std::to_string(l.in.h) + " > " +
                              std::to_string(l.out.c) + "x" + std::to_string(l.out.h);
    std::printf("  %-24s %-16s %8.3f %8.3f %8.3f %8.3f %8.3f %8.3f %9.3f\n", l.name.c_str(),
                shape.c_str(), a.fwd, a.data, a.filter, b.fwd, b.data, b.filter, tr);
    nchw_sum.fwd += a.fwd;
    nchw_sum.data += a.data;
    nchw_sum.filter += a.filter;
    nhwc_sum.fwd += b.fwd;
    nhwc_sum.data += b.data;
    nhwc_sum.filter += b.filter;
    transforms += tr;
  }
  std::printf("  %-24s %-16s %8.3f %8.3f %8.3f %8.3f %8.3f %8.3f %9.3f\n", "TOTAL", "",
              nchw_sum.fwd, nchw_sum.data, nchw_sum.filter, nhwc_sum.fwd, nhwc_sum.data,
              nhwc_sum.filter, transforms);
  std::printf(
      "convolutions per step: NCHW %.3f ms, NHWC %.3f ms, NHWC + 2 transforms per layer "
      "and pass %.3f ms\n",
      nchw_sum.total(), nhwc_sum.total(), nhwc_sum.total() + 3 * transforms);
  return 0;
}

}  // namespace
}  // namespace ptq

int main(int argc, char** argv) {
  if (argc != 2 && !(argc == 4 && std::string(argv[2]) == "--batch")) {
    std::fprintf(stderr, "usage: conv_layout_probe MODEL [--batch N]\n");
    return 2;
  }
  int batch = 128;
  if (argc == 4) {
    char* end = nullptr;
    const long v = std::strtol(argv[3], &end, 10);
    if (*argv[3] == '\0' || *end != '\0' || v < 1 || v > (1 << 20)) {
      std::fprintf(stderr,
                   "conv_layout_probe: --batch needs a whole number from 1 to 1048576, "
                   "got '%s'\n",
                   argv[3]);
      return 2;
    }
    batch = static_cast<int>(v);
  }
  ptq::NetworkDesc desc;
  try {
    desc = ptq::build_network_desc(argv[1]);
  } catch (const ptq::ModelError& e) {
    std::fprintf(stderr, "conv_layout_probe: %s\n", e.what());
    return 2;
  }
  return ptq::run(desc, batch);
}
