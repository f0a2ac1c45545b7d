// Helpers shared by the Google Benchmark programs: CUDA-event timing of one iteration, the
// device-to-device copy baseline every program measures in the same run, and the start and end of
// their main.
#pragma once

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdio>
#include <functional>
#include <string>

#include "gpu/cuda_check.h"
#include "gpu/device_buffer.h"
#include "gpu/gpu_context.h"

namespace ptq::bench {

// Times `work` (enqueued on stream) once per benchmark iteration with CUDA events and feeds the
// elapsed time to SetIterationTime; the benchmark must use UseManualTime(). Two untimed runs first
// warm up module load and caches of the launch path.
inline void time_with_events(benchmark::State& state, cudaStream_t stream,
                             const std::function<void()>& work) {
  work();
  work();
  CUDA_CHECK(cudaStreamSynchronize(stream));
  CudaEvent start, stop;
  for (auto _ : state) {
    start.record(stream);
    work();
    stop.record(stream);
    state.SetIterationTime(stop.elapsed_ms_since(start) / 1e3);
  }
}

// Device-to-device copy of `n` floats: bytes read plus bytes written, the memory-bound ceiling.
inline void copy_baseline(benchmark::State& state, const float* d_src, float* d_dst, std::size_t n,
                          cudaStream_t stream) {
  time_with_events(state, stream, [&] {
    CUDA_CHECK(cudaMemcpyAsync(d_dst, d_src, n * sizeof(float), cudaMemcpyDeviceToDevice, stream));
  });
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * 2 *
                          static_cast<int64_t>(n * sizeof(float)));
}

// Settings every GPU benchmark shares: event timing, microseconds, `repetitions` repetitions of at
// least 50 ms each, aggregates (mean, median, stddev) only.
inline benchmark::internal::Benchmark* gpu_timed(benchmark::internal::Benchmark* b,
                                                 int repetitions) {
  return b->UseManualTime()
      ->Unit(benchmark::kMicrosecond)
      ->MinTime(0.05)
      ->Repetitions(repetitions)
      ->ReportAggregatesOnly(true);
}

// The start of every GPU benchmark program's main: prints why no GPU can run `program` and returns
// false, or records the device name in the JSON context and returns true.
inline bool start_gpu_benchmarks(const char* program) {
  const std::string reason = gpu_unavailable_reason();
  if (!reason.empty()) {
    std::fprintf(stderr, "%s: %s\n", program, reason.c_str());
    return false;
  }
  benchmark::AddCustomContext("device", gpu_device_name());
  return true;
}

// The end of main: parses the Google Benchmark flags, runs what was registered and returns main's
// exit code (2 for an argument it does not know).
inline int run_registered_benchmarks(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace ptq::bench
