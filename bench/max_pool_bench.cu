// Max pooling forward (with winners) and backward, ours against cuDNN's deterministic max pooling
// (what models/network.cpp called before) on the study's pooling shapes at training batch sizes,
// next to a device-to-device copy of the largest input measured in the same run.
//
// Bytes counted per pass (SetBytesProcessed): forward reads the input once and writes the output
// (plus one winner byte per output for ours); backward reads dy (and our winners) and writes dx.
// cuDNN's backward also reads x and y, which is not counted. Before timing, ours is checked bit
// for bit against our generic kernels (64-bit indexing, untiled) on the same shape.
//
// Run: build/bench/max_pool_bench --benchmark_out=pool.json --benchmark_out_format=json
#include <benchmark/benchmark.h>
#include <cudnn.h>

#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "kernels/max_pool.cuh"
#include "models/cudnn_descriptors.h"

namespace ptq::bench {
namespace {

constexpr int kRepetitions = 10;

struct PoolCase {
  const char* name;
  int batch, channels;
  MaxPoolShape shape;  // planes = batch x channels
};

// Inception_BN's largest branch pool (inc 3b: 256 channels at 32 x 32) and a stage pool, VGG_16's
// first pool, at the batch sizes scripts/train_fast.sh trains them with; then Inception_BN's
// branch pools at 16 x 16 (inc 4b-4d) and 8 x 8 (inc 5a, 5b), its second stage pool and AlexNet's
// last pool.
const PoolCase kCases[] = {
    {"inception_branch_3x3s1p1_b256", 256, 256, {256 * 256, 32, 32, 3, 1, 1}},
    {"inception_stage_3x3s2p1_b256", 256, 480, {256 * 480, 32, 32, 3, 2, 1}},
    {"vgg_2x2s2_b128", 128, 64, {128 * 64, 32, 32, 2, 2, 0}},
    {"inception_branch16_3x3s1p1_b256", 256, 512, {256 * 512, 16, 16, 3, 1, 1}},
    {"inception_branch8_3x3s1p1_b256", 256, 832, {256 * 832, 8, 8, 3, 1, 1}},
    {"inception_stage16_3x3s2p1_b256", 256, 832, {256 * 832, 16, 16, 3, 2, 1}},
    {"alexnet_3x3s2_b128", 128, 256, {128 * 256, 8, 8, 3, 2, 0}},
};

struct Buffers {
  DeviceBuffer<float> x, y, dx, dy;
  DeviceBuffer<std::uint8_t> winner;
  DeviceBuffer<float> y_generic, dx_generic;  // the generic kernels' results, for the check
  DeviceBuffer<std::uint8_t> winner_generic;
  GpuContext ctx;
  Buffers() {
    std::size_t in = 0, out = 0;
    for (const PoolCase& c : kCases) {
      in = std::max(in, c.shape.in_count());
      out = std::max(out, c.shape.out_count());
    }
    std::mt19937_64 rng(3);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    std::vector<float> h(in);
    for (float& v : h) v = std::max(dist(rng), 0.0f);  // post-ReLU: half zeros, ties included
    x.upload(h);
    h.resize(out);
    for (float& v : h) v = dist(rng);
    dy.upload(h);
    y.resize(out);
    winner.resize(out);
    dx.resize(in);
    y_generic.resize(out);
    winner_generic.resize(out);
    dx_generic.resize(in);
  }
};

Buffers& buffers() {
  static Buffers b;
  return b;
}

// Whether the first n elements of two device buffers are equal bit for bit.
template <typename T>
bool same_bits(const DeviceBuffer<T>& a, const DeviceBuffer<T>& b, std::size_t n) {
  std::vector<T> ha(n), hb(n);
  CUDA_CHECK(cudaMemcpy(ha.data(), a.data(), n * sizeof(T), cudaMemcpyDeviceToHost));
  CUDA_CHECK(cudaMemcpy(hb.data(), b.data(), n * sizeof(T), cudaMemcpyDeviceToHost));
  return std::memcmp(ha.data(), hb.data(), n * sizeof(T)) == 0;
}

// Our pass on shape s (automatic indexing: the tiled kernels for the study's pools) against the
// generic kernels with 64-bit indices; an empty string when they agree bit for bit. Leaves the
// forward's winners in b.winner.
std::string check_against_generic(Buffers& b, const MaxPoolShape& s, bool backward) {
  const cudaStream_t stream = b.ctx.stream();
  max_pool_forward(b.x.data(), s, b.y.data(), b.winner.data(), stream);
  if (!backward) {
    max_pool_forward(b.x.data(), s, b.y_generic.data(), b.winner_generic.data(), stream,
                     MaxPoolIndex::k64);
    CUDA_CHECK(cudaStreamSynchronize(stream));
    if (!same_bits(b.y, b.y_generic, s.out_count())) return "y differs from the generic kernel's";
    if (!same_bits(b.winner, b.winner_generic, s.out_count()))
      return "winners differ from the generic kernel's";
    return "";
  }
  max_pool_backward(b.winner.data(), b.dy.data(), s, 0.0f, b.dx.data(), stream);
  max_pool_backward(b.winner.data(), b.dy.data(), s, 0.0f, b.dx_generic.data(), stream,
                    MaxPoolIndex::k64);
  CUDA_CHECK(cudaStreamSynchronize(stream));
  if (!same_bits(b.dx, b.dx_generic, s.in_count())) return "dx differs from the generic kernel's";
  return "";
}

void BM_Copy(benchmark::State& state) {
  Buffers& b = buffers();
  copy_baseline(state, b.x.data(), b.dx.data(), b.x.size(), b.ctx.stream());
}

void BM_Ours(benchmark::State& state, MaxPoolShape s, bool backward) {
  Buffers& b = buffers();
  const cudaStream_t stream = b.ctx.stream();
  // Checked once per shape and pass (the benchmark runs once per repetition).
  static std::map<std::string, std::string> errors;
  const std::string key = std::to_string(s.planes) + "x" + std::to_string(s.h) + "x" +
                          std::to_string(s.w) + "k" + std::to_string(s.kernel) + "s" +
                          std::to_string(s.stride) + "p" + std::to_string(s.padding) +
                          (backward ? "b" : "f");
  if (!errors.count(key)) errors[key] = check_against_generic(b, s, backward);
  if (!errors[key].empty()) {
    state.SkipWithError(errors[key].c_str());
    return;
  }
  max_pool_forward(b.x.data(), s, b.y.data(), b.winner.data(), stream);
  if (backward) {
    time_with_events(state, stream, [&] {
      max_pool_backward(b.winner.data(), b.dy.data(), s, 0.0f, b.dx.data(), stream);
    });
    state.SetBytesProcessed(state.iterations() *
                            static_cast<int64_t>(s.out_count() * 5 + s.in_count() * 4));
  } else {
    time_with_events(state, stream,
                     [&] { max_pool_forward(b.x.data(), s, b.y.data(), b.winner.data(), stream); });
    state.SetBytesProcessed(state.iterations() *
                            static_cast<int64_t>(s.in_count() * 4 + s.out_count() * 5));
  }
}

void BM_Cudnn(benchmark::State& state, const PoolCase& c, bool backward) {
  Buffers& b = buffers();
  const MaxPoolShape& s = c.shape;
  const TensorDescriptor xd = make_tensor_descriptor(c.batch, c.channels, s.h, s.w);
  const TensorDescriptor yd = make_tensor_descriptor(c.batch, c.channels, s.out_h(), s.out_w());
  PoolingDescriptor pool;
  CUDNN_CHECK(cudnnSetPooling2dDescriptor(pool.get(), CUDNN_POOLING_MAX_DETERMINISTIC,
                                          CUDNN_PROPAGATE_NAN, s.kernel, s.kernel, s.padding,
                                          s.padding, s.stride, s.stride));
  const float one = 1.0f, zero = 0.0f;
  const cudnnHandle_t h = b.ctx.cudnn();
  const auto forward = [&] {
    CUDNN_CHECK(cudnnPoolingForward(h, pool.get(), &one, xd.get(), b.x.data(), &zero, yd.get(),
                                    b.y.data()));
  };
  forward();
  if (backward) {
    time_with_events(state, b.ctx.stream(), [&] {
      CUDNN_CHECK(cudnnPoolingBackward(h, pool.get(), &one, yd.get(), b.y.data(), yd.get(),
                                       b.dy.data(), xd.get(), b.x.data(), &zero, xd.get(),
                                       b.dx.data()));
    });
    state.SetBytesProcessed(state.iterations() *
                            static_cast<int64_t>(s.out_count() * 4 + s.in_count() * 4));
  } else {
    time_with_events(state, b.ctx.stream(), forward);
    state.SetBytesProcessed(state.iterations() *
                            static_cast<int64_t>(s.in_count() * 4 + s.out_count() * 4));
  }
}

}  // namespace
}  // namespace ptq::bench

int main(int argc, char** argv) {
  using namespace ptq;
  if (!bench::start_gpu_benchmarks("max_pool_bench")) return 1;
  benchmark::AddCustomContext("cudnn_version", std::to_string(cudnnGetVersion()));
  bench::gpu_timed(benchmark::RegisterBenchmark("copy", bench::BM_Copy), bench::kRepetitions);
  for (const bench::PoolCase& c : bench::kCases) {
    for (const bool backward : {false, true}) {
      const std::string pass = backward ? "/backward" : "/forward";
      bench::gpu_timed(benchmark::RegisterBenchmark(("ours/" + std::string(c.name) + pass).c_str(),
                                                    bench::BM_Ours, c.shape, backward),
                       bench::kRepetitions);
      bench::gpu_timed(benchmark::RegisterBenchmark(("cudnn/" + std::string(c.name) + pass).c_str(),
                                                    bench::BM_Cudnn, c, backward),
                       bench::kRepetitions);
    }
  }
  return bench::run_registered_benchmarks(argc, argv);
}
