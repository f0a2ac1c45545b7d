// Histogram metrics of a list of (full-precision x, quantized y) tensor pairs.
//
//   bins: b(v) = clamp(floor((v - lo) * bins / (hi - lo)), 0, bins - 1) in float32 as stated in
//         kernels/metric_math.h; hx, hy bin x and y on [min(x, y), max(x, y)], ho bins x on
//         [min x, max x].
//   JS      = 1/2 sum_b [p_b log(p_b / m_b) + q_b log(q_b / m_b)], p = hx / n, q = hy / n,
//             m = (p + q) / 2, empty bins skipped: in [0, ln 2] nats.
//   Pearson = sum (hx - n/B)(hy - n/B) / sqrt(sum (hx - n/B)^2 sum (hy - n/B)^2)
//   cosine  = sum hx hy / sqrt(sum hx^2 sum hy^2)
//   coverage = sum of ho over bins holding some float(g) * scale, g on the format's grid, / n
//   MSE = sum (x - y)^2 / n,  SQNR = 10 log10(sum x^2 / sum (x - y)^2) dB.
//
// Launches over the whole list (a block -> tensor table of 4096-element chunks; each block takes a
// contiguous run of chunks, so it changes tensor rarely):
//   1. per-tensor init of the range accumulators (+ a memset of histograms and sums);
//   2. range: min/max of x and y and NaN/Inf counts, warp-reduced, one atomic per warp and tensor;
//   3. histograms: three shared-memory histograms per block (privatised; 24 KiB at 2048 bins),
//      flushed to the tensor's global histograms (non-zero bins only) when the block's run moves
//      to the next tensor, plus the double sums of (x - y)^2 and x^2;
//   4. finalize: one block per tensor; coverage finds, for each bin, the first grid value that
//      reaches it by binary search over the ascending grid (b(float(g) * scale) is monotone).
// x and y are read twice (range, histograms): the histograms need the range first.
//
// Test:  ctest --test-dir build -R HistogramMetrics
// Bench: build/bench/metrics_bench --benchmark_filter=histogram
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <cub/block/block_reduce.cuh>
#include <map>
#include <stdexcept>
#include <string>

#include "gpu/cuda_check.h"
#include "gpu/device_buffer.h"
#include "kernels/float_order.h"
#include "kernels/histogram_metrics.cuh"
#include "kernels/histogram_metrics_ref.h"
#include "kernels/launch.h"

namespace ptq {
namespace {

constexpr int kThreads = 256;
constexpr int kItems = 16;
constexpr unsigned int kChunk = kThreads * kItems;  // elements per block -> tensor table entry

struct HistSegment {
  const float* x;
  const float* y;
  unsigned long long n;
  unsigned long long first_chunk;
  const float* grid;  // POT/FLOAT grid values, ascending; null: the integers kmin, kmin + 1, ...
  long long kmin;
  unsigned long long grid_count;
  float scale;
};

// Order-preserving integer keys of the finite values' range, and the non-finite counts.
struct RangeAcc {
  int x_lo, x_hi, y_lo, y_hi;
  unsigned int bad_x, bad_y;
};

struct FinalAcc {
  double js, cxy, cxx, cyy, dot, nxx, nyy;
  unsigned long long covered_elements;
  unsigned int covered_bins, mismatches;
};

struct FinalSum {
  __device__ FinalAcc operator()(const FinalAcc& a, const FinalAcc& b) const {
    return FinalAcc{a.js + b.js,
                    a.cxy + b.cxy,
                    a.cxx + b.cxx,
                    a.cyy + b.cyy,
                    a.dot + b.dot,
                    a.nxx + b.nxx,
                    a.nyy + b.nyy,
                    a.covered_elements + b.covered_elements,
                    a.covered_bins + b.covered_bins,
                    a.mismatches + b.mismatches};
  }
};

__host__ __device__ inline BinRule shared_rule(const RangeAcc& r, int bins) {
  const int lo = r.x_lo < r.y_lo ? r.x_lo : r.y_lo;
  const int hi = r.x_hi > r.y_hi ? r.x_hi : r.y_hi;
  return make_bin_rule(float_from_order_key(lo), float_from_order_key(hi), bins);
}

__host__ __device__ inline BinRule own_rule(const RangeAcc& r, int bins) {
  return make_bin_rule(float_from_order_key(r.x_lo), float_from_order_key(r.x_hi), bins);
}

// ---------------------------------------------------------------------------------------------
// Kernels

// This block's contiguous run of chunks [begin, end).
__device__ __forceinline__ void block_chunks(unsigned long long chunks, unsigned long long& begin,
                                             unsigned long long& end) {
  begin = chunks * blockIdx.x / gridDim.x;
  end = chunks * (blockIdx.x + 1) / gridDim.x;
}

// Loads this thread's elements of chunk c of sg; returns how many of them exist (a prefix).
__device__ __forceinline__ int load_chunk(const HistSegment& sg, unsigned long long c,
                                          float (&xv)[kItems], float (&yv)[kItems]) {
  const unsigned long long base = (c - sg.first_chunk) * kChunk + threadIdx.x;
  int count = 0;
#pragma unroll
  for (int i = 0; i < kItems; ++i) {
    const unsigned long long j = base + static_cast<unsigned long long>(i) * kThreads;
    if (j < sg.n) {
      xv[i] = __ldg(sg.x + j);
      yv[i] = __ldg(sg.y + j);
      count = i + 1;
    }
  }
  return count;
}

__global__ void range_init_kernel(RangeAcc* ranges, int segments) {
  const int s = blockIdx.x * blockDim.x + threadIdx.x;
  if (s < segments) ranges[s] = RangeAcc{INT_MAX, INT_MIN, INT_MAX, INT_MIN, 0u, 0u};
}

__global__ void __launch_bounds__(kThreads)
    range_kernel(const HistSegment* __restrict__ segs, const int* __restrict__ chunk_seg,
                 unsigned long long chunks, RangeAcc* __restrict__ ranges) {
  unsigned long long c, end;
  block_chunks(chunks, c, end);
  int cur = -1;
  RangeAcc acc{INT_MAX, INT_MIN, INT_MAX, INT_MIN, 0u, 0u};
  // Every warp reaches each flush (the chunk loop is uniform over the block).
  auto flush = [&] {
    const int lo_x = __reduce_min_sync(0xffffffffu, acc.x_lo);
    const int hi_x = __reduce_max_sync(0xffffffffu, acc.x_hi);
    const int lo_y = __reduce_min_sync(0xffffffffu, acc.y_lo);
    const int hi_y = __reduce_max_sync(0xffffffffu, acc.y_hi);
    const unsigned int bad_x = __reduce_add_sync(0xffffffffu, acc.bad_x);
    const unsigned int bad_y = __reduce_add_sync(0xffffffffu, acc.bad_y);
    if (threadIdx.x % 32 == 0) {
      RangeAcc& r = ranges[cur];
      atomicMin(&r.x_lo, lo_x);
      atomicMax(&r.x_hi, hi_x);
      atomicMin(&r.y_lo, lo_y);
      atomicMax(&r.y_hi, hi_y);
      if (bad_x) atomicAdd(&r.bad_x, bad_x);
      if (bad_y) atomicAdd(&r.bad_y, bad_y);
    }
    acc = RangeAcc{INT_MAX, INT_MIN, INT_MAX, INT_MIN, 0u, 0u};
  };
  for (; c < end; ++c) {
    const int s = chunk_seg[c];
    if (s != cur) {
      if (cur >= 0) flush();
      cur = s;
    }
    float xv[kItems], yv[kItems];
    const int count = load_chunk(segs[s], c, xv, yv);
#pragma unroll
    for (int i = 0; i < kItems; ++i) {
      if (i >= count) break;
      if (isfinite(xv[i])) {
        const int k = order_key(xv[i]);
        acc.x_lo = min(acc.x_lo, k);
        acc.x_hi = max(acc.x_hi, k);
      } else {
        ++acc.bad_x;
      }
      if (isfinite(yv[i])) {
        const int k = order_key(yv[i]);
        acc.y_lo = min(acc.y_lo, k);
        acc.y_hi = max(acc.y_hi, k);
      } else {
        ++acc.bad_y;
      }
    }
  }
  if (cur >= 0) flush();
}

__global__ void __launch_bounds__(kThreads)
    histogram_kernel(const HistSegment* __restrict__ segs, const int* __restrict__ chunk_seg,
                     unsigned long long chunks, const RangeAcc* __restrict__ ranges, int bins,
                     unsigned int* __restrict__ hists, double* __restrict__ sums) {
  extern __shared__ unsigned int sh[];  // hx | hy | ho, `bins` each
  const int total = 3 * bins;
  for (int b = threadIdx.x; b < total; b += kThreads) sh[b] = 0;
  __syncthreads();

  unsigned long long c, end;
  block_chunks(chunks, c, end);
  int cur = -1;
  BinRule shared{}, own{};
  double diff2 = 0.0, full2 = 0.0;
  auto flush = [&] {
    __syncthreads();
    unsigned int* h = hists + static_cast<std::size_t>(cur) * total;
    for (int b = threadIdx.x; b < total; b += kThreads) {
      const unsigned int v = sh[b];
      if (v) {
        atomicAdd(h + b, v);
        sh[b] = 0;
      }
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
      diff2 += __shfl_xor_sync(0xffffffffu, diff2, o);
      full2 += __shfl_xor_sync(0xffffffffu, full2, o);
    }
    if (threadIdx.x % 32 == 0) {
      atomicAdd(&sums[2 * cur], diff2);
      atomicAdd(&sums[2 * cur + 1], full2);
    }
    diff2 = full2 = 0.0;
    __syncthreads();
  };
  for (; c < end; ++c) {
    const int s = chunk_seg[c];
    if (s != cur) {
      if (cur >= 0) flush();
      cur = s;
      const RangeAcc r = ranges[s];
      shared = shared_rule(r, bins);
      own = own_rule(r, bins);
    }
    float xv[kItems], yv[kItems];
    const int count = load_chunk(segs[s], c, xv, yv);
#pragma unroll
    for (int i = 0; i < kItems; ++i) {
      if (i >= count) break;
      atomicAdd(&sh[bin_of(xv[i], shared)], 1u);
      atomicAdd(&sh[bins + bin_of(yv[i], shared)], 1u);
      atomicAdd(&sh[2 * bins + bin_of(xv[i], own)], 1u);
      const double d = static_cast<double>(xv[i]) - static_cast<double>(yv[i]);
      diff2 += d * d;
      full2 += static_cast<double>(xv[i]) * xv[i];
    }
  }
  if (cur >= 0) flush();
}

__device__ __forceinline__ float grid_value(const HistSegment& sg, unsigned long long j) {
  const float g = sg.grid ? sg.grid[j]
                          : static_cast<float>(static_cast<long long>(
                                j + static_cast<unsigned long long>(sg.kmin)));
  return __fmul_rn(g, sg.scale);
}

// Whether some scaled grid value lies in bin b of rule (and inside [lo, hi]).
__device__ bool bin_covered(int b, const BinRule& rule, const HistSegment& sg) {
  // First grid index whose value is above hi or at least reaches bin b: a monotone predicate.
  unsigned long long lo = 0, hi = sg.grid_count;
  while (lo < hi) {
    const unsigned long long mid = lo + (hi - lo) / 2;
    const float v = grid_value(sg, mid);
    if (v > rule.hi || (v >= rule.lo && bin_of(v, rule) >= b))
      hi = mid;
    else
      lo = mid + 1;
  }
  if (lo == sg.grid_count) return false;
  const float v = grid_value(sg, lo);
  return v >= rule.lo && v <= rule.hi && bin_of(v, rule) == b;
}

__global__ void __launch_bounds__(kThreads)
    finalize_kernel(const HistSegment* __restrict__ segs, const RangeAcc* __restrict__ ranges,
                    const unsigned int* __restrict__ hists, const double* __restrict__ sums,
                    int bins, HistogramMetrics* __restrict__ out) {
  const int s = blockIdx.x;
  const HistSegment sg = segs[s];
  const BinRule own = own_rule(ranges[s], bins);
  const unsigned int* hx = hists + static_cast<std::size_t>(s) * 3 * bins;
  const unsigned int* hy = hx + bins;
  const unsigned int* ho = hy + bins;
  const double count = static_cast<double>(sg.n);
  const double mean = count / bins;
  FinalAcc a{};
  for (int b = threadIdx.x; b < bins; b += kThreads) {
    const double cx = hx[b], cy = hy[b];
    const double p = cx / count, q = cy / count, mid = (p + q) / 2;
    if (p > 0) a.js += p * log(p / mid);
    if (q > 0) a.js += q * log(q / mid);
    a.cxy += (cx - mean) * (cy - mean);
    a.cxx += (cx - mean) * (cx - mean);
    a.cyy += (cy - mean) * (cy - mean);
    a.dot += cx * cy;
    a.nxx += cx * cx;
    a.nyy += cy * cy;
    a.mismatches += hx[b] != hy[b];
    if (bin_covered(b, own, sg)) {
      a.covered_elements += ho[b];
      ++a.covered_bins;
    }
  }
  using Reduce = cub::BlockReduce<FinalAcc, kThreads>;
  __shared__ typename Reduce::TempStorage temp;
  const FinalAcc t = Reduce(temp).Reduce(a, FinalSum{});
  if (threadIdx.x != 0) return;
  HistogramMetrics m;
  m.js = t.js / 2;
  m.pearson =
      (t.cxx > 0 && t.cyy > 0) ? t.cxy / sqrt(t.cxx * t.cyy) : (t.mismatches == 0 ? 1.0 : 0.0);
  m.cosine = t.dot / sqrt(t.nxx * t.nyy);
  m.covered_elements = t.covered_elements;
  m.covered_bins = t.covered_bins;
  m.coverage = static_cast<double>(t.covered_elements) / count;
  const double diff2 = sums[2 * s], full2 = sums[2 * s + 1];
  m.mse = diff2 / count;
  m.sqnr_db = diff2 > 0 ? 10 * log10(full2 / diff2) : INFINITY;
  out[s] = m;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Launchers

struct HistogramMetricsPlan::Impl {
  std::vector<std::string> names;
  int bins = kDefaultBins;
  unsigned long long chunks = 0;
  std::size_t smem = 0;
  int hist_blocks = 0;
  DeviceBuffer<HistSegment> segs;
  DeviceBuffer<int> chunk_seg;
  DeviceBuffer<float> grids;
  DeviceBuffer<RangeAcc> ranges;
  DeviceBuffer<unsigned int> hists;
  DeviceBuffer<double> sums;
  DeviceBuffer<HistogramMetrics> out;
};

HistogramMetricsPlan::HistogramMetricsPlan(const TensorList& full, const TensorList& quant,
                                           const std::vector<CoverageSpec>& coverage, int bins)
    : impl_(std::make_unique<Impl>()) {
  check_tensor_pairs(full, quant);
  if (coverage.size() != full.size()) {
    throw std::invalid_argument("histogram_metrics: " + std::to_string(coverage.size()) +
                                " coverage specs for " + std::to_string(full.size()) + " tensors");
  }
  if (bins < 1 || bins > kMaxBins) {
    throw std::invalid_argument("histogram_metrics: bins must be in [1, " +
                                std::to_string(kMaxBins) + "], got " + std::to_string(bins));
  }
  Impl& m = *impl_;
  m.bins = bins;

  // POT/FLOAT grids, one copy per distinct format, then the segment table pointing into them.
  std::vector<float> h_grids;
  std::map<std::string, std::size_t> grid_offset;
  for (const CoverageSpec& spec : coverage) {
    if (!std::isfinite(spec.scale) || spec.scale < 0.0f) {
      throw std::invalid_argument("histogram_metrics: coverage scale must be finite and >= 0");
    }
    if (spec.format.kind == FormatKind::kInt) continue;
    if (grid_offset.emplace(format_name(spec.format), h_grids.size()).second) {
      for (double g : format_grid(spec.format)) h_grids.push_back(static_cast<float>(g));
    }
  }
  m.grids.upload(h_grids);

  std::vector<HistSegment> h_segs;
  std::vector<int> h_chunk_seg;
  for (std::size_t i = 0; i < full.size(); ++i) {
    const std::size_t n = element_count(full[i]);
    if (n > UINT_MAX) {
      throw std::invalid_argument("histogram_metrics: tensor '" + full[i].name +
                                  "' has 2^32 or more elements");
    }
    const QuantFormat& f = coverage[i].format;
    HistSegment sg{full[i].data,     quant[i].data, n, h_chunk_seg.size(), nullptr, 0, 0,
                   coverage[i].scale};
    if (f.kind == FormatKind::kInt) {
      const long long qmax = int_grid_max(f);
      sg.kmin = -qmax;
      sg.grid_count = 2 * static_cast<unsigned long long>(qmax) + 1;
    } else {
      sg.grid = m.grids.data() + grid_offset.at(format_name(f));
      sg.grid_count = format_grid(f).size();
    }
    h_segs.push_back(sg);
    h_chunk_seg.insert(h_chunk_seg.end(), (n + kChunk - 1) / kChunk, static_cast<int>(i));
    m.names.push_back(full[i].name);
  }
  m.chunks = h_chunk_seg.size();
  m.segs.upload(h_segs);
  m.chunk_seg.upload(h_chunk_seg);
  m.ranges.resize(full.size());
  m.hists.resize(full.size() * 3 * static_cast<std::size_t>(bins));
  m.sums.resize(2 * full.size());
  m.out.resize(full.size());

  // One wave of histogram blocks, as many as fit beside their shared memory.
  m.smem = 3 * static_cast<std::size_t>(bins) * sizeof(unsigned int);
  CUDA_CHECK(cudaFuncSetAttribute(histogram_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                  static_cast<int>(m.smem)));
  int per_sm = 0;
  CUDA_CHECK(
      cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, histogram_kernel, kThreads, m.smem));
  if (per_sm < 1) throw std::invalid_argument("histogram_metrics: too many bins for this GPU");
  m.hist_blocks = static_cast<int>(
      std::min<unsigned long long>(std::max<unsigned long long>(m.chunks, 1),
                                   static_cast<unsigned long long>(per_sm) * device_sm_count()));
}

HistogramMetricsPlan::~HistogramMetricsPlan() = default;
HistogramMetricsPlan::HistogramMetricsPlan(HistogramMetricsPlan&&) noexcept = default;
HistogramMetricsPlan& HistogramMetricsPlan::operator=(HistogramMetricsPlan&&) noexcept = default;

void HistogramMetricsPlan::enqueue(cudaStream_t stream) {
  Impl& m = *impl_;
  const int segments = static_cast<int>(m.names.size());
  if (segments == 0) return;
  CUDA_CHECK(cudaMemsetAsync(m.hists.data(), 0, m.hists.bytes(), stream));
  CUDA_CHECK(cudaMemsetAsync(m.sums.data(), 0, m.sums.bytes(), stream));
  range_init_kernel<<<(segments + kThreads - 1) / kThreads, kThreads, 0, stream>>>(m.ranges.data(),
                                                                                   segments);
  CUDA_CHECK_LAST();
  range_kernel<<<grid_size(m.chunks, 1, kThreads), kThreads, 0, stream>>>(
      m.segs.data(), m.chunk_seg.data(), m.chunks, m.ranges.data());
  CUDA_CHECK_LAST();
  histogram_kernel<<<m.hist_blocks, kThreads, m.smem, stream>>>(m.segs.data(), m.chunk_seg.data(),
                                                                m.chunks, m.ranges.data(), m.bins,
                                                                m.hists.data(), m.sums.data());
  CUDA_CHECK_LAST();
  finalize_kernel<<<segments, kThreads, 0, stream>>>(m.segs.data(), m.ranges.data(), m.hists.data(),
                                                     m.sums.data(), m.bins, m.out.data());
  CUDA_CHECK_LAST();
}

std::vector<HistogramMetrics> HistogramMetricsPlan::results(cudaStream_t stream) const {
  const Impl& m = *impl_;
  CUDA_CHECK(cudaStreamSynchronize(stream));
  const std::vector<RangeAcc> ranges = m.ranges.to_host();
  for (std::size_t i = 0; i < m.names.size(); ++i) {
    if (ranges[i].bad_x || ranges[i].bad_y) {
      throw std::invalid_argument("histogram_metrics: tensor '" + m.names[i] +
                                  "' holds NaN or Inf (" + std::to_string(ranges[i].bad_x) +
                                  " in the full-precision tensor, " +
                                  std::to_string(ranges[i].bad_y) + " in the quantized one)");
    }
  }
  return m.out.to_host();
}

std::vector<TensorHistograms> HistogramMetricsPlan::histograms(cudaStream_t stream) const {
  const Impl& m = *impl_;
  CUDA_CHECK(cudaStreamSynchronize(stream));
  const std::vector<RangeAcc> ranges = m.ranges.to_host();
  const std::vector<unsigned int> counts = m.hists.to_host();
  std::vector<TensorHistograms> out(m.names.size());
  const std::size_t bins = static_cast<std::size_t>(m.bins);
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i].shared = shared_rule(ranges[i], m.bins);
    out[i].own = own_rule(ranges[i], m.bins);
    const auto first = counts.begin() + static_cast<std::ptrdiff_t>(3 * bins * i);
    out[i].full.assign(first, first + bins);
    out[i].quant.assign(first + bins, first + 2 * bins);
    out[i].full_own.assign(first + 2 * bins, first + 3 * bins);
  }
  return out;
}

std::vector<HistogramMetrics> histogram_metrics(const TensorList& full, const TensorList& quant,
                                                const std::vector<CoverageSpec>& coverage, int bins,
                                                cudaStream_t stream) {
  HistogramMetricsPlan plan(full, quant, coverage, bins);
  plan.enqueue(stream);
  return plan.results(stream);
}

}  // namespace ptq
