// The memory-bound layers of a training step at the study's shapes: cuDNN's activation forward and
// backward, cudnnOpTensor / cudnnAddTensor and per-input cudaMemcpy2DAsync (what
// models/network.cpp called for ReLU, residual adds and concatenations until the ninth session)
// against kernels/elementwise.cuh (what it calls now, checked against kernels/elementwise_ref.h
// once per shape before timing), next to a device-to-device copy measured in the same run. Why:
// in layer_profile Inception_BN's 65 ReLUs and 9 concatenations took 10 of its 45 ms step on the
// H200 (results/profile-h200/s8/plan/).
//
// Bytes counted: every float read plus every float written (dx read too where beta is 1).
// Run: build/bench/elementwise_bench --benchmark_out=elementwise.json --benchmark_out_format=json
#include <benchmark/benchmark.h>
#include <cudnn.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "kernels/elementwise.cuh"
#include "kernels/elementwise_ref.h"
#include "models/cudnn_descriptors.h"

namespace ptq::bench {
namespace {

constexpr int kRepetitions = 10;

struct Shape {
  const char* name;
  int n, c, h, w;
  std::size_t count() const { return static_cast<std::size_t>(n) * c * h * w; }
};

// Inception_BN's widest ReLU (inc1_br1_relu1) and a mid-sized one; ResNet_50's first block.
const Shape kShapes[] = {
    {"inception_192x32x32_b256", 256, 192, 32, 32},
    {"inception_128x16x16_b256", 256, 128, 16, 16},
    {"resnet50_256x32x32_b256", 256, 256, 32, 32},
};

// Inception_BN's inc1 concatenation at batch 256: 128 + 192 + 96 + 64 channels at 32 x 32.
constexpr int kCatBatch = 256, kCatPlane = 32 * 32;
const int kCatChannels[] = {128, 192, 96, 64};
constexpr int kCatOut = 480;

struct Buffers {
  GpuContext ctx;
  DeviceBuffer<float> a, b, y, dy, dx;
  std::vector<DeviceBuffer<float>> parts;
  Buffers() {
    std::size_t n = static_cast<std::size_t>(kCatBatch) * kCatOut * kCatPlane;
    for (const Shape& s : kShapes) n = std::max(n, s.count());
    std::mt19937_64 rng(9);
    std::normal_distribution<float> dist(0.0f, 3.0f);
    const auto random = [&](std::size_t count) {
      std::vector<float> h(count);
      for (float& v : h) v = dist(rng);
      return h;
    };
    a.upload(random(n));
    b.upload(random(n));
    dy.upload(random(n));
    dx.upload(random(n));
    y.resize(n);
    for (const int c : kCatChannels) {
      parts.emplace_back();
      parts.back().upload(random(static_cast<std::size_t>(kCatBatch) * c * kCatPlane));
    }
  }
};

Buffers& buffers() {
  static Buffers b;
  return b;
}

void set_bytes(benchmark::State& state, std::size_t floats) {
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(floats * sizeof(float)));
}

// Runs `run` once over a d_got of NaNs (so that a float it fails to write shows: the cuDNN baseline
// before it wrote the same result there) and checks the result against reference(), bit for bit
// (or both NaN); else the benchmark is skipped with the error. Once per name, not per repetition
// (the references of these sizes take seconds on the host). `run` enqueues on the benchmarks'
// stream, which does not wait for the legacy default stream: the fill and the wait go there too.
bool checked(benchmark::State& state, const std::string& name, const std::function<void()>& run,
             float* d_got, const std::function<std::vector<float>()>& reference) {
  static std::set<std::string> passed;
  if (passed.count(name)) return true;
  const std::vector<float> want = reference();
  const GpuContext& ctx = buffers().ctx;
  CUDA_CHECK(cudaMemsetAsync(d_got, 0xFF, want.size() * sizeof(float), ctx.stream()));  // NaNs
  run();
  ctx.synchronize();
  std::vector<float> got(want.size());
  CUDA_CHECK(cudaMemcpy(got.data(), d_got, want.size() * sizeof(float), cudaMemcpyDeviceToHost));
  for (std::size_t i = 0; i < want.size(); ++i) {
    if (std::isnan(got[i]) && std::isnan(want[i])) continue;
    if (std::memcmp(&got[i], &want[i], sizeof(float)) != 0) {
      state.SkipWithError((name + " differs from its reference").c_str());
      return false;
    }
  }
  passed.insert(name);
  return true;
}

std::vector<float> host(const DeviceBuffer<float>& d, std::size_t count) {
  std::vector<float> h = d.to_host();
  h.resize(count);
  return h;
}

void BM_Copy(benchmark::State& state) {
  Buffers& b = buffers();
  copy_baseline(state, b.a.data(), b.y.data(), kShapes[0].count(), b.ctx.stream());
}

ActivationDescriptor relu_descriptor() {
  ActivationDescriptor act;
  CUDNN_CHECK(
      cudnnSetActivationDescriptor(act.get(), CUDNN_ACTIVATION_RELU, CUDNN_PROPAGATE_NAN, 0.0));
  return act;
}

void BM_CudnnReluForward(benchmark::State& state, const Shape& s) {
  Buffers& b = buffers();
  const TensorDescriptor t = make_tensor_descriptor(s.n, s.c, s.h, s.w);
  const ActivationDescriptor act = relu_descriptor();
  const float one = 1.0f, zero = 0.0f;
  time_with_events(state, b.ctx.stream(), [&] {
    CUDNN_CHECK(cudnnActivationForward(b.ctx.cudnn(), act.get(), &one, t.get(), b.a.data(), &zero,
                                       t.get(), b.y.data()));
  });
  set_bytes(state, 2 * s.count());
}

void BM_ReluForward(benchmark::State& state, const Shape& s) {
  Buffers& b = buffers();
  const auto run = [&] {
    activation_forward(Activation::kRelu, b.a.data(), s.count(), b.y.data(), b.ctx.stream());
  };
  const auto reference = [&] {
    std::vector<float> want;
    activation_forward_ref(Activation::kRelu, host(b.a, s.count()), want);
    return want;
  };
  if (!checked(state, std::string("relu forward ") + s.name, run, b.y.data(), reference)) return;
  time_with_events(state, b.ctx.stream(), run);
  set_bytes(state, 2 * s.count());
}

// dx = relu'(y) dy with beta 0, as the network's first contribution to a gradient.
void BM_CudnnReluBackward(benchmark::State& state, const Shape& s) {
  Buffers& b = buffers();
  const TensorDescriptor t = make_tensor_descriptor(s.n, s.c, s.h, s.w);
  const ActivationDescriptor act = relu_descriptor();
  const float one = 1.0f, zero = 0.0f;
  time_with_events(state, b.ctx.stream(), [&] {
    CUDNN_CHECK(cudnnActivationBackward(b.ctx.cudnn(), act.get(), &one, t.get(), b.a.data(),
                                        t.get(), b.dy.data(), t.get(), b.a.data(), &zero, t.get(),
                                        b.dx.data()));
  });
  set_bytes(state, 3 * s.count());
}

void BM_ReluBackward(benchmark::State& state, const Shape& s) {
  Buffers& b = buffers();
  const auto run = [&] {
    activation_backward(Activation::kRelu, b.a.data(), b.dy.data(), s.count(), 0.0f, b.dx.data(),
                        b.ctx.stream());
  };
  const auto reference = [&] {
    std::vector<float> want;
    activation_backward_ref(Activation::kRelu, host(b.a, s.count()), host(b.dy, s.count()), 0.0f,
                            want);
    return want;
  };
  if (!checked(state, std::string("relu backward ") + s.name, run, b.dx.data(), reference)) return;
  time_with_events(state, b.ctx.stream(), run);
  set_bytes(state, 3 * s.count());
}

void BM_CudnnAdd(benchmark::State& state, const Shape& s) {
  Buffers& b = buffers();
  const TensorDescriptor t = make_tensor_descriptor(s.n, s.c, s.h, s.w);
  OpTensorDescriptor op;
  CUDNN_CHECK(cudnnSetOpTensorDescriptor(op.get(), CUDNN_OP_TENSOR_ADD, CUDNN_DATA_FLOAT,
                                         CUDNN_PROPAGATE_NAN));
  const float one = 1.0f, zero = 0.0f;
  time_with_events(state, b.ctx.stream(), [&] {
    CUDNN_CHECK(cudnnOpTensor(b.ctx.cudnn(), op.get(), &one, t.get(), b.a.data(), &one, t.get(),
                              b.b.data(), &zero, t.get(), b.y.data()));
  });
  set_bytes(state, 3 * s.count());
}

void BM_Add(benchmark::State& state, const Shape& s) {
  Buffers& b = buffers();
  const auto run = [&] {
    add_tensors(b.a.data(), b.b.data(), s.count(), b.y.data(), b.ctx.stream());
  };
  const auto reference = [&] {
    std::vector<float> want;
    add_tensors_ref(host(b.a, s.count()), host(b.b, s.count()), want);
    return want;
  };
  if (!checked(state, std::string("add ") + s.name, run, b.y.data(), reference)) return;
  time_with_events(state, b.ctx.stream(), run);
  set_bytes(state, 3 * s.count());
}

// The backward of an add into a gradient that already holds a contribution: dx += dy.
void BM_CudnnAccumulate(benchmark::State& state, const Shape& s) {
  Buffers& b = buffers();
  const TensorDescriptor t = make_tensor_descriptor(s.n, s.c, s.h, s.w);
  const float one = 1.0f;
  time_with_events(state, b.ctx.stream(), [&] {
    CUDNN_CHECK(
        cudnnAddTensor(b.ctx.cudnn(), &one, t.get(), b.dy.data(), &one, t.get(), b.y.data()));
  });
  set_bytes(state, 3 * s.count());
}

void BM_Accumulate(benchmark::State& state, const Shape& s) {
  Buffers& b = buffers();
  const SliceCopy into{b.dy.data(), 0, b.y.data(), 0, s.count(), 1.0f};
  const auto run = [&] { copy_slices(&into, 1, 1, b.ctx.stream()); };
  const auto first = [&] {  // onto a copy of b, so that the reference knows what was there
    CUDA_CHECK(cudaMemcpyAsync(b.y.data(), b.b.data(), s.count() * sizeof(float),
                               cudaMemcpyDeviceToDevice, b.ctx.stream()));
    run();
  };
  const auto reference = [&] {
    std::vector<float> want = host(b.b, s.count());
    copy_slice_ref(host(b.dy, s.count()).data(), 0, want.data(), 0, s.count(), 1, 1.0f);
    return want;
  };
  if (!checked(state, std::string("accumulate ") + s.name, first, b.y.data(), reference)) return;
  time_with_events(state, b.ctx.stream(), run);
  set_bytes(state, 3 * s.count());
}

std::size_t cat_image() {
  return static_cast<std::size_t>(kCatOut) * kCatPlane;
}

void BM_MemcpyConcat(benchmark::State& state) {
  Buffers& b = buffers();
  time_with_events(state, b.ctx.stream(), [&] {
    std::size_t offset = 0;
    for (std::size_t k = 0; k < b.parts.size(); ++k) {
      const std::size_t bytes = static_cast<std::size_t>(kCatChannels[k]) * kCatPlane * 4;
      CUDA_CHECK(cudaMemcpy2DAsync(b.y.data() + offset, cat_image() * 4, b.parts[k].data(), bytes,
                                   bytes, kCatBatch, cudaMemcpyDeviceToDevice, b.ctx.stream()));
      offset += bytes / 4;
    }
  });
  set_bytes(state, 2 * kCatBatch * cat_image());
}

void BM_Concat(benchmark::State& state) {
  Buffers& b = buffers();
  std::vector<SliceCopy> slices;
  std::size_t offset = 0;
  for (std::size_t k = 0; k < b.parts.size(); ++k) {
    const std::size_t width = static_cast<std::size_t>(kCatChannels[k]) * kCatPlane;
    slices.push_back({b.parts[k].data(), width, b.y.data() + offset, cat_image(), width, 0.0f});
    offset += width;
  }
  const auto run = [&] {
    copy_slices(slices.data(), static_cast<int>(slices.size()), kCatBatch, b.ctx.stream());
  };
  const auto reference = [&] {
    std::vector<float> want(kCatBatch * cat_image());
    std::size_t at = 0;
    for (std::size_t k = 0; k < b.parts.size(); ++k) {
      const std::size_t width = slices[k].width;
      copy_slice_ref(b.parts[k].to_host().data(), width, want.data() + at, cat_image(), width,
                     kCatBatch, 0.0f);
      at += width;
    }
    return want;
  };
  if (!checked(state, "concat", run, b.y.data(), reference)) return;
  time_with_events(state, b.ctx.stream(), run);
  set_bytes(state, 2 * kCatBatch * cat_image());
}

}  // namespace
}  // namespace ptq::bench

int main(int argc, char** argv) {
  using namespace ptq;
  if (!bench::start_gpu_benchmarks("elementwise_bench")) return 1;
  benchmark::AddCustomContext("cudnn_version", std::to_string(cudnnGetVersion()));
  const auto add = [](const std::string& name, auto fn, auto... args) {
    bench::gpu_timed(benchmark::RegisterBenchmark(name.c_str(), fn, args...), bench::kRepetitions);
  };
  add("copy", bench::BM_Copy);
  for (const bench::Shape& s : bench::kShapes) {
    const std::string n(s.name);
    add("relu_forward/cudnn/" + n, bench::BM_CudnnReluForward, s);
    add("relu_forward/ours/" + n, bench::BM_ReluForward, s);
    add("relu_backward/cudnn/" + n, bench::BM_CudnnReluBackward, s);
    add("relu_backward/ours/" + n, bench::BM_ReluBackward, s);
    add("add/cudnn/" + n, bench::BM_CudnnAdd, s);
    add("add/ours/" + n, bench::BM_Add, s);
    add("accumulate/cudnn/" + n, bench::BM_CudnnAccumulate, s);
    add("accumulate/ours/" + n, bench::BM_Accumulate, s);
  }
  add("concat/memcpy2d/inception_inc1_480x32x32_b256", bench::BM_MemcpyConcat);
  add("concat/ours/inception_inc1_480x32x32_b256", bench::BM_Concat);
  return bench::run_registered_benchmarks(argc, argv);
}
