// Training feed throughput: the BatchLoader (data/loader.h) at batch 128 with augmentation over a
// synthetic 50,000-image dataset held in memory, next to the fused augment kernel alone and a
// device-to-device copy of one batch's output, all in the same run.
//
//   augment       one batch through kernels/augment.cuh; bytes = 128 x 3072 x (1 read + 4
//                 written), so GB/s compares with the copy (which counts read + written too)
//   copy          device copy of one float batch (128 x 3072 x 4 bytes), the memory-bound ceiling
//   loader        whole epochs (391 batches) of next() with nothing consuming the batches: the
//                 feed's own rate (host gather into pinned staging + copy + kernel)
//   network       a stand-in network: one kernel per batch that holds the GPU for 1 ms
//   loader+network the loader feeding that stand-in; the feed keeps ahead when its time per
//                 batch matches `network` (counter ms_per_batch; overhead_pct = the excess)
// items_per_second is images/s throughout. The kernel is checked against the CPU reference
// before timing.
//
// Run: build/bench/loader_bench --benchmark_out=loader_bench.json --benchmark_out_format=json
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "data/loader.h"
#include "kernels/augment.cuh"
#include "kernels/augment_ref.h"

namespace ptq::bench {
namespace {

constexpr std::size_t kImages = 50000;
constexpr std::size_t kBatch = 128;
constexpr std::uint64_t kNetworkNs = 1000000;  // the stand-in network's time per batch
constexpr int kRepetitions = 5;

struct Fixture {
  Dataset data;
  CudaStream stream;
  DeviceBuffer<std::uint8_t> d_batch{kBatch * kImageBytes};
  DeviceBuffer<std::uint32_t> d_ids{kBatch};
  DeviceBuffer<float> d_out{kBatch * kImageBytes};
  DeviceBuffer<float> d_copy{kBatch * kImageBytes};
  std::vector<std::uint32_t> h_ids;

  Fixture() {
    // Random pixels: the kernel's cost does not depend on them, but a real-looking dataset keeps
    // the host gather honest (no zero pages).
    std::mt19937_64 rng(7);
    data.name = "synthetic";
    data.images.resize(kImages * kImageBytes);
    for (std::uint8_t& b : data.images) b = static_cast<std::uint8_t>(rng() & 0xff);
    data.labels.resize(kImages);
    for (std::uint8_t& l : data.labels) l = static_cast<std::uint8_t>(rng() % 10);
    d_batch.upload(data.images.data());
    h_ids.resize(kBatch);
    for (std::uint32_t& id : h_ids) id = static_cast<std::uint32_t>(rng() % kImages);
    d_ids.upload(h_ids);
  }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

// Holds the GPU for ns nanoseconds (globaltimer), standing in for a network's forward/backward.
__global__ void network_stand_in_kernel(std::uint64_t ns) {
  std::uint64_t start = 0, now = 0;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(start));
  do {
    __nanosleep(500);
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(now));
  } while (now - start < ns);
}

void network_stand_in(cudaStream_t stream) {
  network_stand_in_kernel<<<1, 1, 0, stream>>>(kNetworkNs);
  CUDA_CHECK_LAST();
}

void BM_Copy(benchmark::State& state) {
  Fixture& f = fixture();
  copy_baseline(state, f.d_out.data(), f.d_copy.data(), kBatch * kImageBytes, f.stream.get());
}

void BM_Augment(benchmark::State& state) {
  Fixture& f = fixture();
  const cudaStream_t s = f.stream.get();
  const AugmentSettings augment{true, 3, 1};
  augment_normalize(f.d_batch.data(), f.d_ids.data(), f.d_out.data(), kBatch, kCifar10Normalization,
                    augment, s);
  CUDA_CHECK(cudaStreamSynchronize(s));
  const std::vector<float> got = f.d_out.to_host();
  std::vector<float> want(kBatch * kImageBytes);
  augment_normalize_ref(f.data.images.data(), f.h_ids.data(), want.data(), kBatch,
                        kCifar10Normalization, augment);
  if (std::memcmp(got.data(), want.data(), want.size() * sizeof(float)) != 0) {
    state.SkipWithError("GPU output differs from the reference");
    return;
  }
  time_with_events(state, s, [&] {
    augment_normalize(f.d_batch.data(), f.d_ids.data(), f.d_out.data(), kBatch,
                      kCifar10Normalization, augment, s);
  });
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kBatch * kImageBytes * 5));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kBatch));
}

enum class Work { kLoader, kNetwork, kLoaderAndNetwork };

// One iteration = one epoch, wall clock from start_epoch to the stream being idle.
void run_epochs(benchmark::State& state, Work work) {
  const bool loader = work != Work::kNetwork;
  const bool with_network = work != Work::kLoader;
  Fixture& f = fixture();
  const cudaStream_t s = f.stream.get();
  BatchLoader feed(f.data, LoaderOptions::training(0, kBatch), s);
  const std::size_t batches = feed.batches_per_epoch();
  std::uint64_t epoch = 0;
  auto one_epoch = [&] {
    if (loader) {
      feed.start_epoch(epoch++);
      Batch b;
      while (feed.next(&b)) {
        if (with_network) network_stand_in(s);
      }
    } else {
      for (std::size_t i = 0; i < batches; ++i) network_stand_in(s);
    }
    CUDA_CHECK(cudaStreamSynchronize(s));
  };
  one_epoch();  // warm-up: page-in, module load
  double seconds = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    one_epoch();
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    state.SetIterationTime(dt);
    seconds += dt;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * batches * kBatch));
  const double ms_per_batch = 1e3 * seconds / (static_cast<double>(state.iterations()) * batches);
  state.counters["ms_per_batch"] = ms_per_batch;
  if (with_network) {
    state.counters["overhead_pct"] = 100.0 * (ms_per_batch / (kNetworkNs / 1e6) - 1.0);
  }
}

void BM_Loader(benchmark::State& state) {
  run_epochs(state, Work::kLoader);
}
void BM_Network(benchmark::State& state) {
  run_epochs(state, Work::kNetwork);
}
void BM_LoaderAndNetwork(benchmark::State& state) {
  run_epochs(state, Work::kLoaderAndNetwork);
}

}  // namespace
}  // namespace ptq::bench

int main(int argc, char** argv) {
  using namespace ptq;
  if (!bench::start_gpu_benchmarks("loader_bench")) return 1;
  benchmark::AddCustomContext("images", std::to_string(bench::kImages));
  benchmark::AddCustomContext("batch", std::to_string(bench::kBatch));
  auto kernel_bench = [](const char* name, void (*fn)(benchmark::State&)) {
    benchmark::RegisterBenchmark(name, fn)
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond)
        ->Repetitions(bench::kRepetitions)
        ->ReportAggregatesOnly(true);
  };
  kernel_bench("copy", bench::BM_Copy);
  kernel_bench("augment", bench::BM_Augment);
  auto epoch_bench = [](const char* name, void (*fn)(benchmark::State&)) {
    benchmark::RegisterBenchmark(name, fn)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond)
        ->Iterations(3)
        ->Repetitions(3)
        ->ReportAggregatesOnly(true);
  };
  epoch_bench("loader", bench::BM_Loader);
  epoch_bench("network", bench::BM_Network);
  epoch_bench("loader+network", bench::BM_LoaderAndNetwork);
  return bench::run_registered_benchmarks(argc, argv);
}
