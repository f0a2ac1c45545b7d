// Throughput of the divergence and coverage metrics, next to a device copy measured in the same
// run.
//
// Bytes (SetBytesProcessed): the input, both tensors of each pair read once, 8 bytes per element
// pair. The histogram metrics read it twice (range pass, then histograms), the softmax JS once
// (rows of up to 4096 elements stay in registers). The copy of one tensor set moves the same 8
// bytes per element (4 read + 4 written), so its time is the "read both tensor sets once"
// reference: metric time / copy time is how far a metric is from the memory-bound floor.
//
// Cases: single tensors (softmax JS on a 4096 x 4096 linear weight and on a 512 x 512 x 3 x 3 conv
// weight; histogram JS + coverage + trend + MSE on 2^24 elements, with CUB's DeviceHistogram on
// both tensors as a binning baseline), and a whole-model pass over VGG_19's 38.9M conv/linear
// weight and bias values (DESIGN.md section 2). y = fake_quant(x) at INT_4 (single) or INT_8
// (model), per tensor. Every metric is checked against its CPU reference before timing
// (SkipWithError on mismatch).
//
// Run: build/bench/metrics_bench --benchmark_out=metrics_bench.json --benchmark_out_format=json
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cub/device/device_histogram.cuh>
#include <random>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "kernels/fake_quant.cuh"
#include "kernels/histogram_metrics.cuh"
#include "kernels/histogram_metrics_ref.h"
#include "kernels/softmax_js.cuh"
#include "kernels/softmax_js_ref.h"
#include "kernels/tensor_range.cuh"

namespace ptq::bench {
namespace {

constexpr std::size_t kSingle = std::size_t{1} << 24;  // 4096 x 4096
constexpr int kRepetitions = 5;
// The kernels' test tolerances (tests/softmax_js_test.cu, tests/histogram_metrics_test.cu).
constexpr double kSoftmaxJsRelTol = 1e-5;
constexpr double kHistogramRelTol = 1e-10;

// conv(in, out, 3x3) + bias and fc(in, out) + bias of VGG_19 (DESIGN.md section 2), in order.
std::vector<std::vector<std::int64_t>> vgg19_shapes() {
  const int channels[] = {64,  64,  128, 128, 256, 256, 256, 256,
                          512, 512, 512, 512, 512, 512, 512, 512};
  std::vector<std::vector<std::int64_t>> shapes;
  std::int64_t in = 3;
  for (int out : channels) {
    shapes.push_back({out, in, 3, 3});
    shapes.push_back({out});
    in = out;
  }
  for (auto [fin, fout] : {std::pair<int, int>{512, 4096}, {4096, 4096}, {4096, 10}}) {
    shapes.push_back({fout, fin});
    shapes.push_back({fout});
  }
  return shapes;
}

// A list of tensor pairs in two flat device buffers: x ~ normal(0, sigma), y its fake quantization
// per tensor in `format`.
struct PairSet {
  DeviceBuffer<float> d_x, d_y;
  std::vector<float> h_x, h_y;
  TensorList full, quant, h_full, h_quant;
  std::vector<CoverageSpec> specs;
  std::size_t elements = 0;

  PairSet(const std::vector<std::vector<std::int64_t>>& shapes, const QuantFormat& f, float sigma,
          cudaStream_t s) {
    std::vector<std::size_t> offsets;
    for (const auto& shape : shapes) {
      offsets.push_back(elements);
      std::size_t n = 1;
      for (auto d : shape) n *= static_cast<std::size_t>(d);
      elements += n;
    }
    std::mt19937_64 rng(7);
    std::normal_distribution<float> dist(0.0f, sigma);
    h_x.resize(elements);
    for (float& v : h_x) v = dist(rng);
    d_x.upload(h_x);
    d_y.resize(elements);
    for (std::size_t i = 0; i < shapes.size(); ++i) {
      const std::size_t n = (i + 1 < shapes.size() ? offsets[i + 1] : elements) - offsets[i];
      const float scale = tensor_scale(d_x.data() + offsets[i], n, f, s);
      fake_quant(d_x.data() + offsets[i], d_y.data() + offsets[i], n, scale, f, s);
      specs.push_back({f, scale});
    }
    h_y = d_y.to_host();
    for (std::size_t i = 0; i < shapes.size(); ++i) {
      const std::string name = "t" + std::to_string(i);
      full.push_back({name, d_x.data() + offsets[i], shapes[i]});
      quant.push_back({name + ".q", d_y.data() + offsets[i], shapes[i]});
      h_full.push_back({name, h_x.data() + offsets[i], shapes[i]});
      h_quant.push_back({name + ".q", h_y.data() + offsets[i], shapes[i]});
    }
  }
};

struct Data {
  CudaStream stream;
  PairSet fc{{{4096, 4096}}, parse_format("INT_4"), 0.02f, stream.get()};
  PairSet conv{{{512, 512, 3, 3}}, parse_format("INT_4"), 0.02f, stream.get()};
  PairSet vgg{vgg19_shapes(), parse_format("INT_8"), 0.02f, stream.get()};
  DeviceBuffer<float> scratch{std::max(kSingle, vgg.elements)};
};

Data& data() {
  static Data d;
  return d;
}

void set_bytes(benchmark::State& state, std::size_t pair_elements) {
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * 8 *
                          static_cast<int64_t>(pair_elements));
}

void BM_Copy(benchmark::State& state, PairSet* set) {
  Data& d = data();
  copy_baseline(state, set->d_x.data(), d.scratch.data(), set->elements, d.stream.get());
}

void BM_SoftmaxJs(benchmark::State& state, PairSet* set) {
  const cudaStream_t s = data().stream.get();
  SoftmaxJsPlan plan(set->full, set->quant);
  plan.enqueue(s);
  const std::vector<double> got = plan.results(s);
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double want = softmax_js_ref(set->h_full[i], set->h_quant[i]);
    if (!(std::fabs(got[i] - want) <= std::fabs(want) * kSoftmaxJsRelTol + 1e-12)) {
      state.SkipWithError(
          ("softmax JS differs from the reference on " + set->full[i].name).c_str());
      return;
    }
  }
  time_with_events(state, s, [&] { plan.enqueue(s); });
  set_bytes(state, set->elements);
}

void BM_HistogramMetrics(benchmark::State& state, PairSet* set) {
  const cudaStream_t s = data().stream.get();
  HistogramMetricsPlan plan(set->full, set->quant, set->specs, kDefaultBins);
  plan.enqueue(s);
  const std::vector<HistogramMetrics> got = plan.results(s);
  for (std::size_t i = 0; i < got.size(); ++i) {
    const HistogramMetrics want =
        histogram_metrics_ref(set->h_full[i], set->h_quant[i], set->specs[i]).metrics;
    const bool same = got[i].covered_elements == want.covered_elements &&
                      std::fabs(got[i].js - want.js) <= 1e-12 + want.js * kHistogramRelTol &&
                      std::fabs(got[i].cosine - want.cosine) <= 1e-12 &&
                      std::fabs(got[i].mse - want.mse) <= want.mse * kHistogramRelTol;
    if (!same) {
      state.SkipWithError(
          ("histogram metrics differ from the reference on " + set->full[i].name).c_str());
      return;
    }
  }
  time_with_events(state, s, [&] { plan.enqueue(s); });
  set_bytes(state, set->elements);
}

// CUB's DeviceHistogram::HistogramEven on x and on y over their shared range: the binning alone.
void BM_CubHistogram(benchmark::State& state, PairSet* set) {
  const cudaStream_t s = data().stream.get();
  const auto [x_lo, x_hi] = std::minmax_element(set->h_x.begin(), set->h_x.end());
  const auto [y_lo, y_hi] = std::minmax_element(set->h_y.begin(), set->h_y.end());
  const float lo = std::min(*x_lo, *y_lo);
  const float hi = std::nextafter(std::max(*x_hi, *y_hi), INFINITY);  // CUB's upper is exclusive
  const int n = static_cast<int>(set->elements);
  DeviceBuffer<int> d_hist(2 * kDefaultBins);
  std::size_t temp_bytes = 0;
  CUDA_CHECK(cub::DeviceHistogram::HistogramEven(nullptr, temp_bytes, set->d_x.data(),
                                                 d_hist.data(), kDefaultBins + 1, lo, hi, n, s));
  DeviceBuffer<unsigned char> temp(temp_bytes);
  auto run = [&] {
    CUDA_CHECK(cub::DeviceHistogram::HistogramEven(temp.data(), temp_bytes, set->d_x.data(),
                                                   d_hist.data(), kDefaultBins + 1, lo, hi, n, s));
    CUDA_CHECK(cub::DeviceHistogram::HistogramEven(temp.data(), temp_bytes, set->d_y.data(),
                                                   d_hist.data() + kDefaultBins, kDefaultBins + 1,
                                                   lo, hi, n, s));
  };
  run();
  const std::vector<int> h = d_hist.to_host();
  long long total = 0;
  for (int c : h) total += c;
  if (total != 2LL * n) {  // CUB's bin arithmetic differs from ours at edges; totals must agree
    state.SkipWithError("CUB histogram lost elements");
    return;
  }
  time_with_events(state, s, run);
  set_bytes(state, set->elements);
}

void add(const std::string& name, void (*fn)(benchmark::State&, PairSet*), PairSet* set) {
  benchmark::RegisterBenchmark(name.c_str(), fn, set)
      ->UseManualTime()
      ->Unit(benchmark::kMicrosecond)
      ->MinTime(0.1)
      ->Repetitions(kRepetitions)
      ->ReportAggregatesOnly(true);
}

}  // namespace
}  // namespace ptq::bench

int main(int argc, char** argv) {
  using namespace ptq;
  using namespace ptq::bench;
  if (!bench::start_gpu_benchmarks("metrics_bench")) return 1;
  Data& d = data();
  benchmark::AddCustomContext("bins", std::to_string(kDefaultBins));
  benchmark::AddCustomContext("vgg19_elements", std::to_string(d.vgg.elements));
  add("copy/4096x4096", BM_Copy, &d.fc);
  add("softmax_js/4096x4096", BM_SoftmaxJs, &d.fc);
  add("copy/512x512x3x3", BM_Copy, &d.conv);
  add("softmax_js/512x512x3x3", BM_SoftmaxJs, &d.conv);
  add("histogram_metrics/2^24", BM_HistogramMetrics, &d.fc);
  add("cub_histogram_x2/2^24", BM_CubHistogram, &d.fc);
  add("copy/vgg19", BM_Copy, &d.vgg);
  add("histogram_metrics/vgg19", BM_HistogramMetrics, &d.vgg);
  add("softmax_js/vgg19", BM_SoftmaxJs, &d.vgg);
  return bench::run_registered_benchmarks(argc, argv);
}
