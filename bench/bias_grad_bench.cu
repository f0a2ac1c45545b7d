// The backward pass of a linear layer, piece by piece, at the study's linear shapes and training
// batches: the bias gradient through cuDNN's cudnnConvolutionBackwardBias (what models/network.cpp
// called for every linear layer and every convolution with a bias until the eighth session)
// against kernels/bias_grad.cuh (cuBLAS SGEMVs with vectors of ones: one for a linear layer, two
// for a convolution; what it calls now, checked against kernels/bias_grad_ref.h before timing),
// and the layer's two TF32 GEMMs (dW = dy^T x, dx = dy W) as models/network.cpp issues them.
// Next to a device-to-device copy measured in the same run. Why: in layer_profile every linear
// layer's backward took at least ~58 us on the H200, even 512 -> 10, against 10-20 us for its
// forward (results/profile-h200/s7/); this says which piece that is. Written at the end of the
// seventh session; first run in the eighth (bench/README.md).
//
// Run: build/bench/bias_grad_bench --benchmark_out=bias.json --benchmark_out_format=json
#include <benchmark/benchmark.h>
#include <cublas_v2.h>
#include <cudnn.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "bench/bench_util.h"
#include "kernels/bias_grad.cuh"
#include "kernels/bias_grad_ref.h"
#include "models/cudnn_descriptors.h"

namespace ptq::bench {
namespace {

constexpr int kRepetitions = 10;

struct LinearCase {
  const char* name;
  int batch, in, out;
};

// VGG_16's three linear layers at batch 128, AlexNet's first, ResNet_50's at batch 256.
const LinearCase kLinear[] = {
    {"vgg_fc19_512x4096_b128", 128, 512, 4096},  {"vgg_fc22_4096x4096_b128", 128, 4096, 4096},
    {"vgg_fc25_4096x10_b128", 128, 4096, 10},    {"alexnet_fc15_2304x1024_b128", 128, 2304, 1024},
    {"resnet50_fc_2048x10_b256", 256, 2048, 10},
};

struct ConvBiasCase {
  const char* name;
  int batch, channels, h, w;
};

// AlexNet's first and last convolutions (they have biases) at batch 128; VGG_16's first and
// ResNet_50's last at batch 256 (every convolution of both has a bias).
const ConvBiasCase kConv[] = {
    {"alexnet_conv0_32x32x32_b128", 128, 32, 32, 32},
    {"alexnet_conv10_256x8x8_b128", 128, 256, 8, 8},
    {"vgg_conv0_64x32x32_b256", 256, 64, 32, 32},
    {"resnet50_last_2048x4x4_b256", 256, 2048, 4, 4},
};

struct Buffers {
  GpuContext ctx;
  DeviceBuffer<float> x, w, dy, dw, dx, db, ones, partial, copy_dst;
  Buffers() {
    std::size_t in = 0, out = 0, weights = 0, batch = 0, partials = 0;
    for (const LinearCase& c : kLinear) {
      in = std::max(in, static_cast<std::size_t>(c.batch) * c.in);
      out = std::max(out, static_cast<std::size_t>(c.batch) * c.out);
      weights = std::max(weights, static_cast<std::size_t>(c.in) * c.out);
      batch = std::max(batch, static_cast<std::size_t>(c.batch));
    }
    for (const ConvBiasCase& c : kConv) {
      out = std::max(out, static_cast<std::size_t>(c.batch) * c.channels * c.h * c.w);
      batch =
          std::max({batch, static_cast<std::size_t>(c.batch), static_cast<std::size_t>(c.h) * c.w});
      partials = std::max(partials, static_cast<std::size_t>(c.batch) * c.channels);
    }
    std::mt19937_64 rng(5);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    const auto random = [&](std::size_t n) {
      std::vector<float> h(n);
      for (float& v : h) v = dist(rng);
      return h;
    };
    x.upload(random(in));
    w.upload(random(weights));
    dy.upload(random(out));
    ones.upload(std::vector<float>(batch, 1.0f));
    partial.resize(partials);
    dw.resize(weights);
    dx.resize(in);
    db.resize(out);
    copy_dst.resize(out);
  }
};

Buffers& buffers() {
  static Buffers b;
  return b;
}

void BM_Copy(benchmark::State& state) {
  Buffers& b = buffers();
  copy_baseline(state, b.dy.data(), b.copy_dst.data(), b.dy.size(), b.ctx.stream());
}

// Bytes counted for a bias gradient: dy read once, db written.
void set_bias_bytes(benchmark::State& state, std::size_t dy_count, int channels) {
  state.SetBytesProcessed(
      state.iterations() *
      static_cast<int64_t>((dy_count + static_cast<std::size_t>(channels)) * sizeof(float)));
}

void BM_CudnnBias(benchmark::State& state, int batch, int channels, int h, int w) {
  Buffers& b = buffers();
  const TensorDescriptor dyd = make_tensor_descriptor(batch, channels, h, w);
  const TensorDescriptor dbd = make_tensor_descriptor(1, channels, 1, 1);
  const float one = 1.0f, zero = 0.0f;
  time_with_events(state, b.ctx.stream(), [&] {
    CUDNN_CHECK(cudnnConvolutionBackwardBias(b.ctx.cudnn(), &one, dyd.get(), b.dy.data(), &zero,
                                             dbd.get(), b.db.data()));
  });
  set_bias_bytes(state, static_cast<std::size_t>(batch) * channels * h * w, channels);
}

// kernels/bias_grad.cuh against its reference, once before timing; false (and the benchmark
// skipped with the error) on a mismatch beyond float rounding of the sums.
bool bias_gradient_checked(benchmark::State& state, int batch, int channels, int plane) {
  static std::set<std::tuple<int, int, int>> passed;  // once per shape, not per repetition
  if (passed.count({batch, channels, plane})) return true;
  Buffers& b = buffers();
  bias_gradient(b.ctx.cublas(), b.dy.data(), batch, channels, plane, b.ones.data(),
                b.partial.data(), b.db.data());
  b.ctx.synchronize();
  const std::size_t count = static_cast<std::size_t>(batch) * channels * plane;
  std::vector<float> dy = b.dy.to_host(), want, got = b.db.to_host();
  dy.resize(count);
  bias_gradient_ref(dy, batch, channels, plane, want);
  for (int c = 0; c < channels; ++c) {
    double magnitude = 0;
    for (int n = 0; n < batch; ++n)
      for (int p = 0; p < plane; ++p)
        magnitude += std::abs(dy[(static_cast<std::size_t>(n) * channels + c) * plane + p]);
    // A float32 sum of n terms is within n * 2^-24 of the sum of their magnitudes (analytic).
    if (std::abs(got[c] - want[c]) > (plane + batch) * std::ldexp(1.0, -24) * magnitude) {
      state.SkipWithError("bias gradient differs from its reference");
      return false;
    }
  }
  passed.insert({batch, channels, plane});
  return true;
}

void BM_GemvBias(benchmark::State& state, const LinearCase& c) {
  Buffers& b = buffers();
  if (!bias_gradient_checked(state, c.batch, c.out, 1)) return;
  time_with_events(state, b.ctx.stream(), [&] {
    bias_gradient(b.ctx.cublas(), b.dy.data(), c.batch, c.out, 1, b.ones.data(), nullptr,
                  b.db.data());
  });
  set_bias_bytes(state, static_cast<std::size_t>(c.batch) * c.out, c.out);
}

// A convolution's bias gradient as models/network.cpp computes it: per (image, channel) plane sums
// (SGEMV of the plane x (N C) column-major view with ones), then their sum over the batch.
void BM_GemvConvBias(benchmark::State& state, const ConvBiasCase& c) {
  Buffers& b = buffers();
  const int plane = c.h * c.w;
  if (!bias_gradient_checked(state, c.batch, c.channels, plane)) return;
  time_with_events(state, b.ctx.stream(), [&] {
    bias_gradient(b.ctx.cublas(), b.dy.data(), c.batch, c.channels, plane, b.ones.data(),
                  b.partial.data(), b.db.data());
  });
  // dy read, the batch x channels plane sums written and read again, db written.
  set_bias_bytes(state, static_cast<std::size_t>(c.batch) * c.channels * (plane + 2), c.channels);
}

// The two GEMMs of the layer's backward as models/network.cpp issues them (TF32 tensor ops).
void BM_Gemms(benchmark::State& state, const LinearCase& c) {
  Buffers& b = buffers();
  const float one = 1.0f, zero = 0.0f;
  CUBLAS_CHECK(cublasSetMathMode(b.ctx.cublas(), CUBLAS_TF32_TENSOR_OP_MATH));
  time_with_events(state, b.ctx.stream(), [&] {
    CUBLAS_CHECK(cublasSgemm(b.ctx.cublas(), CUBLAS_OP_N, CUBLAS_OP_T, c.in, c.out, c.batch, &one,
                             b.x.data(), c.in, b.dy.data(), c.out, &zero, b.dw.data(), c.in));
    CUBLAS_CHECK(cublasSgemm(b.ctx.cublas(), CUBLAS_OP_N, CUBLAS_OP_N, c.in, c.batch, c.out, &one,
                             b.w.data(), c.in, b.dy.data(), c.out, &zero, b.dx.data(), c.in));
  });
  CUBLAS_CHECK(cublasSetMathMode(b.ctx.cublas(), CUBLAS_DEFAULT_MATH));
  // Two GEMMs of batch x in x out multiply-adds each.
  state.counters["TFLOP/s"] = benchmark::Counter(4.0 * c.batch * c.in * c.out * 1e-12,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace
}  // namespace ptq::bench

int main(int argc, char** argv) {
  using namespace ptq;
  if (!bench::start_gpu_benchmarks("bias_grad_bench")) return 1;
  benchmark::AddCustomContext("cudnn_version", std::to_string(cudnnGetVersion()));
  bench::gpu_timed(benchmark::RegisterBenchmark("copy", bench::BM_Copy), bench::kRepetitions);
  for (const bench::LinearCase& c : bench::kLinear) {
    const std::string name(c.name);
    bench::gpu_timed(benchmark::RegisterBenchmark(("bias/cudnn/" + name).c_str(),
                                                  bench::BM_CudnnBias, c.batch, c.out, 1, 1),
                     bench::kRepetitions);
    bench::gpu_timed(
        benchmark::RegisterBenchmark(("bias/gemv/" + name).c_str(), bench::BM_GemvBias, c),
        bench::kRepetitions);
    bench::gpu_timed(
        benchmark::RegisterBenchmark(("gemms/tf32/" + name).c_str(), bench::BM_Gemms, c),
        bench::kRepetitions);
  }
  for (const bench::ConvBiasCase& c : bench::kConv) {
    bench::gpu_timed(
        benchmark::RegisterBenchmark(("bias/cudnn/" + std::string(c.name)).c_str(),
                                     bench::BM_CudnnBias, c.batch, c.channels, c.h, c.w),
        bench::kRepetitions);
    bench::gpu_timed(benchmark::RegisterBenchmark(("bias/gemv2/" + std::string(c.name)).c_str(),
                                                  bench::BM_GemvConvBias, c),
                     bench::kRepetitions);
  }
  return bench::run_registered_benchmarks(argc, argv);
}
