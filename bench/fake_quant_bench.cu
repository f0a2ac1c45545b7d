// Fused quantize-dequantize throughput for each of the 43 study formats at 2^26 floats, next to a
// device-to-device copy of the same size measured in the same run.
//
// Bytes per element: 4 read + 4 written = 8 (SetBytesProcessed), the same count as the copy, so
// bytes_per_second / copy's bytes_per_second is the share of the memory-bound ceiling reached.
// Each format is checked against the brute-force reference on a 2^20-element slice of its output
// before timing; a mismatch ends that benchmark with an error instead of a number.
//
// Run: build/bench/fake_quant_bench --benchmark_out=fq.json --benchmark_out_format=json
//      (medians over --benchmark_repetitions, 10 by default here)
#include <benchmark/benchmark.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "kernels/fake_quant.cuh"
#include "kernels/fake_quant_ref.h"
#include "kernels/tensor_range.cuh"

namespace ptq::bench {
namespace {

constexpr std::size_t kElements = std::size_t{1} << 26;
constexpr std::size_t kChecked = std::size_t{1} << 20;
constexpr int kRepetitions = 10;

struct Buffers {
  DeviceBuffer<float> x{kElements};
  DeviceBuffer<float> y{kElements};
  std::vector<float> h_x;
  CudaStream stream;

  Buffers() {
    // Normal weights-like data (not zeros: zeros run faster than real data and hide bugs).
    std::mt19937_64 rng(7);
    std::normal_distribution<float> dist(0.0f, 0.05f);
    h_x.resize(kElements);
    for (float& v : h_x) v = dist(rng);
    x.upload(h_x.data());
  }
};

Buffers& buffers() {
  static Buffers b;
  return b;
}

void BM_Copy(benchmark::State& state) {
  Buffers& b = buffers();
  copy_baseline(state, b.x.data(), b.y.data(), kElements, b.stream.get());
}

void BM_FakeQuant(benchmark::State& state, QuantFormat f) {
  Buffers& b = buffers();
  const cudaStream_t s = b.stream.get();
  const float scale = tensor_scale(b.x.data(), kElements, f, s);

  fake_quant(b.x.data(), b.y.data(), kElements, scale, f, s);
  std::vector<float> got(kChecked), want(kChecked);
  CUDA_CHECK(
      cudaMemcpyAsync(got.data(), b.y.data(), kChecked * sizeof(float), cudaMemcpyDeviceToHost, s));
  CUDA_CHECK(cudaStreamSynchronize(s));
  fake_quant_ref(b.h_x.data(), want.data(), kChecked, scale, f);
  if (std::memcmp(got.data(), want.data(), kChecked * sizeof(float)) != 0) {  // no NaN in x
    state.SkipWithError("GPU output differs from the reference");
    return;
  }

  time_with_events(state, s, [&] { fake_quant(b.x.data(), b.y.data(), kElements, scale, f, s); });
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * 8 *
                          static_cast<int64_t>(kElements));
}

}  // namespace
}  // namespace ptq::bench

int main(int argc, char** argv) {
  using namespace ptq;
  if (!bench::start_gpu_benchmarks("fake_quant_bench")) return 1;
  benchmark::AddCustomContext("elements", std::to_string(bench::kElements));
  // The copy runs first and last: the two medians bound the drift over the run.
  bench::gpu_timed(benchmark::RegisterBenchmark("copy", bench::BM_Copy), bench::kRepetitions);
  for (const QuantFormat& f : study_formats()) {
    bench::gpu_timed(benchmark::RegisterBenchmark(("fake_quant/" + format_name(f)).c_str(),
                                                  bench::BM_FakeQuant, f),
                     bench::kRepetitions);
  }
  bench::gpu_timed(benchmark::RegisterBenchmark("copy_end", bench::BM_Copy), bench::kRepetitions);
  return bench::run_registered_benchmarks(argc, argv);
}
