// Inference forward throughput of the nine networks (models/network.h) at batch 128 and 1024, in
// strict FP32 and with TF32 tensor cores, next to a device-to-device copy of one batch-1024
// activation-sized buffer measured in the same run.
//
// One iteration = one forward of a whole batch (input already on the device, logits left there).
// items_per_second = images/s. TFLOPS = 2 x MACs per image (the profiler's count, models/
// model_desc.h: convolutions, batch norm, activations, pools, linear layers) x batch / time.
// Before timing, each configuration runs once and its logits must be finite (SkipWithError
// otherwise); the CPU-reference comparison lives in tests/network_test.cpp.
// Reference point: the study's PyTorch forward at batch 128 on the H100 took 1.31 ms
// (AlexNet_BN), 2.46 ms (ResNet_18), 1.74 ms (VGG_16); bench/torch_forward.py measures PyTorch
// in the same session.
//
// Run: build/bench/forward_bench --benchmark_out=forward_bench.json --benchmark_out_format=json
//      (median of kRepetitions repetitions; --benchmark_filter=ResNet_18 for one model)
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "models/network.h"

namespace ptq::bench {
namespace {

constexpr int kRepetitions = 10;
constexpr int kBatches[] = {128, 1024};
constexpr int kMaxBatch = 1024;
constexpr std::uint64_t kSeed = 7;

struct Session {
  GpuContext ctx;
  DeviceBuffer<float> input{static_cast<std::size_t>(kMaxBatch) * 3 * 32 * 32};
  DeviceBuffer<float> copy_dst{static_cast<std::size_t>(kMaxBatch) * 3 * 32 * 32};
  std::unique_ptr<Network> net;  // one network at a time: batch-1024 activations are large

  Session() {
    // Normalised-image-like input (not zeros: zeros run faster than real data and hide bugs).
    std::mt19937_64 rng(kSeed);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    std::vector<float> h(input.size());
    for (float& v : h) v = dist(rng);
    input.upload(h.data());
  }

  Network& network(const std::string& model) {
    if (!net || net->desc().model != model) {
      net.reset();
      net = std::make_unique<Network>(ctx, build_network_desc(model), kSeed);
    }
    return *net;
  }
};

Session& session() {
  static Session s;
  return s;
}

void BM_Copy(benchmark::State& state) {
  Session& s = session();
  copy_baseline(state, s.input.data(), s.copy_dst.data(), s.input.size(), s.ctx.stream());
}

void BM_Forward(benchmark::State& state, const std::string& model, int batch, MathMode math) {
  Session& s = session();
  Network& net = s.network(model);
  net.set_math_mode(math);
  const float* d_logits = net.forward(s.input.data(), batch, ForwardMode::kInference);
  std::vector<float> logits(static_cast<std::size_t>(batch) * kNumClasses);
  CUDA_CHECK(cudaMemcpyAsync(logits.data(), d_logits, logits.size() * sizeof(float),
                             cudaMemcpyDeviceToHost, s.ctx.stream()));
  s.ctx.synchronize();
  for (float v : logits) {
    if (!std::isfinite(v)) {
      state.SkipWithError("non-finite logits");
      return;
    }
  }
  time_with_events(state, s.ctx.stream(),
                   [&] { net.forward(s.input.data(), batch, ForwardMode::kInference); });
  const double macs = static_cast<double>(network_cost(net.desc()).macs);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * batch);
  state.counters["TFLOPS"] =
      benchmark::Counter(2.0 * macs * batch * static_cast<double>(state.iterations()) / 1e12,
                         benchmark::Counter::kIsRate);
  state.counters["batch"] = batch;
  state.counters["workspace_MiB"] = static_cast<double>(net.workspace_bytes()) / (1 << 20);
}

}  // namespace
}  // namespace ptq::bench

int main(int argc, char** argv) {
  using namespace ptq;
  if (!bench::start_gpu_benchmarks("forward_bench")) return 1;
  benchmark::AddCustomContext("cudnn_version", std::to_string(cudnnGetVersion()));
  benchmark::AddCustomContext("layout", "NCHW float32, inference mode");
  bench::gpu_timed(benchmark::RegisterBenchmark("copy", bench::BM_Copy), bench::kRepetitions);
  for (const std::string& model : model_names()) {
    for (int batch : bench::kBatches) {
      for (MathMode math : {MathMode::kFp32, MathMode::kTf32}) {
        const std::string name = "forward/" + model + "/" + std::to_string(batch) + "/" +
                                 (math == MathMode::kTf32 ? "tf32" : "fp32");
        bench::gpu_timed(
            benchmark::RegisterBenchmark(name.c_str(), bench::BM_Forward, model, batch, math),
            bench::kRepetitions)
            ->Unit(benchmark::kMillisecond);
      }
    }
  }
  return bench::run_registered_benchmarks(argc, argv);
}
