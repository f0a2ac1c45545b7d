// The study's divergence: softmax over dimension 1 of each (full-precision, quantized) weight pair
// (over the whole vector for a bias), then per softmax row
//
//   JS(p, q) = (KL(p||m) + KL(q||m)) / 2,  m = (p + q) / 2,  natural log, 0 log 0 = 0,
//
// summed over the rows of the tensor (kernels/tensor_list.h: softmax_rows gives the row layout;
// a conv row's elements lie kh*kw apart).
//
// Work split: one row per thread group, a warp for rows of up to 512 elements and a 256-thread
// block for longer ones (two launches, each over every row of its tensors, a row -> tensor lookup
// by binary search). A group loads its row once into registers (16 values per thread and tensor),
// reduces the maxima, the sums of exp(x - max) in double, then the JS terms: global memory is read
// once for rows of up to 4096 elements; longer rows stream through three times. Each row's JS goes
// to a per-row buffer that a third launch sums per tensor in a fixed order (deterministic).
//
// Numerics: with p = e^(x - mx) / Zx, q = e^(y - my) / Zy the term of an element uses
// d = log q - log p = ((y - x) - (my - mx)) - log(Zy / Zx), whose float parts are exact when x ~ y,
// and js_term (kernels/metric_math.h) sums it without the cancellation of p log(p/m) + q log(q/m)
// when p ~ q. Inputs holding NaN or Inf are counted and refused by name.
//
// Test:  ctest --test-dir build -R SoftmaxJs
// Bench: build/bench/metrics_bench --benchmark_filter=softmax
#include "kernels/softmax_js.cuh"

#include <cub/block/block_reduce.cuh>

#include <climits>
#include <cmath>
#include <stdexcept>
#include <string>

#include "gpu/cuda_check.h"
#include "gpu/device_buffer.h"
#include "kernels/launch.h"
#include "kernels/metric_math.h"

namespace ptq {
namespace {

constexpr int kThreads = 256;
constexpr int kItems = 16;                       // values per thread and tensor held in registers
constexpr unsigned int kWarpRowMax = 32 * kItems;  // longest row a warp takes

// A tensor pair as one launch sees it: its rows are launch rows [first, first + rows).
struct RowSegment {
  const float* x;
  const float* y;
  unsigned long long first;      // first row in this launch's row numbering
  unsigned long long out_first;  // first row in the per-row output buffer
  unsigned int length;
  unsigned int stride;
  int segment;  // index in the tensor list
};

struct MaxOp {
  __device__ double operator()(double a, double b) const { return fmax(a, b); }
};
struct SumOp {
  __device__ double operator()(double a, double b) const { return a + b; }
};

// ---------------------------------------------------------------------------------------------
// Kernels

// Reduction over the kGroup threads of a row (a warp, or the whole block); every thread gets the
// result. `red` is block shared memory of kThreads / 32 doubles.
template <int kGroup, typename Op>
__device__ __forceinline__ double group_reduce(double v, Op op, double* red) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
  if constexpr (kGroup == 32) {
    return v;
  } else {
    __syncthreads();  // the previous reduction's readers are done with red
    if (threadIdx.x % 32 == 0) red[threadIdx.x / 32] = v;
    __syncthreads();
    v = red[0];
#pragma unroll
    for (int w = 1; w < kGroup / 32; ++w) v = op(v, red[w]);
    return v;
  }
}

template <int kGroup>
__device__ __forceinline__ void load_chunk(const float* x, const float* y, unsigned int chunk,
                                           unsigned int length, unsigned int stride, int lane,
                                           float (&xv)[kItems], float (&yv)[kItems]) {
#pragma unroll
  for (int i = 0; i < kItems; ++i) {
    const unsigned int j = chunk * kGroup * kItems + lane + i * kGroup;
    if (j < length) {
      xv[i] = __ldg(x + static_cast<std::size_t>(j) * stride);
      yv[i] = __ldg(y + static_cast<std::size_t>(j) * stride);
    }
  }
}

// JS of row r of sg, summed by the kGroup threads of the row; `lane` is the thread's index in it.
template <int kGroup>
__device__ void row_js(const RowSegment& sg, unsigned long long r, int lane, double* red,
                       double* out, unsigned int* nonfinite) {
  const std::size_t start = static_cast<std::size_t>(r / sg.stride) * sg.length * sg.stride +
                            r % sg.stride;
  const float* x = sg.x + start;
  const float* y = sg.y + start;
  const unsigned int length = sg.length, stride = sg.stride;
  constexpr unsigned int kSpan = kGroup * kItems;
  const unsigned int chunks = (length + kSpan - 1) / kSpan;
  const bool resident = chunks == 1;
  auto valid = [&](unsigned int c, int i) { return c * kSpan + lane + i * kGroup < length; };

  float xv[kItems], yv[kItems], ex[kItems], ey[kItems];
  if (resident) load_chunk<kGroup>(x, y, 0, length, stride, lane, xv, yv);

  // Maxima and the non-finite check.
  float mx = -INFINITY, my = -INFINITY;
  unsigned int bad_x = 0, bad_y = 0;
  for (unsigned int c = 0; c < chunks; ++c) {
    if (!resident) load_chunk<kGroup>(x, y, c, length, stride, lane, xv, yv);
#pragma unroll
    for (int i = 0; i < kItems; ++i) {
      if (!valid(c, i)) continue;
      bad_x += !isfinite(xv[i]);
      bad_y += !isfinite(yv[i]);
      mx = fmaxf(mx, xv[i]);
      my = fmaxf(my, yv[i]);
    }
  }
  // A non-finite element turns its tensor's maximum into +Inf: one reduction serves both.
  mx = static_cast<float>(group_reduce<kGroup>(bad_x ? INFINITY : mx, MaxOp{}, red));
  my = static_cast<float>(group_reduce<kGroup>(bad_y ? INFINITY : my, MaxOp{}, red));
  if (isinf(mx) || isinf(my)) {
    if (bad_x) atomicAdd(&nonfinite[2 * sg.segment], bad_x);
    if (bad_y) atomicAdd(&nonfinite[2 * sg.segment + 1], bad_y);
    if (lane == 0) *out = NAN;
    return;
  }

  // Normalisers.
  double zx = 0.0, zy = 0.0;
  for (unsigned int c = 0; c < chunks; ++c) {
    if (!resident) load_chunk<kGroup>(x, y, c, length, stride, lane, xv, yv);
#pragma unroll
    for (int i = 0; i < kItems; ++i) {
      if (!valid(c, i)) continue;
      ex[i] = expf(xv[i] - mx);
      ey[i] = expf(yv[i] - my);
      zx += ex[i];
      zy += ey[i];
    }
  }
  zx = group_reduce<kGroup>(zx, SumOp{}, red);
  zy = group_reduce<kGroup>(zy, SumOp{}, red);
  const float log_ratio = static_cast<float>(log(zy) - log(zx));
  const float inv_zx = static_cast<float>(1.0 / zx), inv_zy = static_cast<float>(1.0 / zy);
  const float max_gap = my - mx;

  // JS terms.
  float js = 0.0f;
  for (unsigned int c = 0; c < chunks; ++c) {
    if (!resident) load_chunk<kGroup>(x, y, c, length, stride, lane, xv, yv);
#pragma unroll
    for (int i = 0; i < kItems; ++i) {
      if (!valid(c, i)) continue;
      if (!resident) {
        ex[i] = expf(xv[i] - mx);
        ey[i] = expf(yv[i] - my);
      }
      const float d = ((yv[i] - xv[i]) - max_gap) - log_ratio;
      js += js_term(ex[i] * inv_zx, ey[i] * inv_zy, d);
    }
  }
  const double total = group_reduce<kGroup>(js, SumOp{}, red);
  if (lane == 0) *out = total;
}

template <int kGroup>
__global__ void __launch_bounds__(kThreads)
    softmax_js_rows_kernel(const RowSegment* __restrict__ segs, int num_segs,
                           unsigned long long rows, double* __restrict__ row_out,
                           unsigned int* __restrict__ nonfinite) {
  __shared__ double red[kThreads / 32];
  constexpr int kGroups = kThreads / kGroup;
  const int group = threadIdx.x / kGroup, lane = threadIdx.x % kGroup;
  for (unsigned long long base = static_cast<unsigned long long>(blockIdx.x) * kGroups;
       base < rows; base += static_cast<unsigned long long>(gridDim.x) * kGroups) {
    const unsigned long long v = base + group;
    if (v >= rows) continue;  // whole groups only (uniform within a warp or block)
    int lo = 0, hi = num_segs - 1;  // the last segment whose first row is <= v
    while (lo < hi) {
      const int mid = (lo + hi + 1) / 2;
      if (segs[mid].first <= v) lo = mid; else hi = mid - 1;
    }
    const RowSegment sg = segs[lo];
    const unsigned long long r = v - sg.first;
    row_js<kGroup>(sg, r, lane, red, row_out + sg.out_first + r, nonfinite);
  }
}

// One block per tensor: js[s] = sum of its rows, always in the same order.
__global__ void __launch_bounds__(kThreads)
    segment_sum_kernel(const unsigned long long* __restrict__ first,
                       const unsigned long long* __restrict__ count,
                       const double* __restrict__ row_out, double* __restrict__ js) {
  double sum = 0.0;
  const unsigned long long begin = first[blockIdx.x], end = begin + count[blockIdx.x];
  for (unsigned long long i = begin + threadIdx.x; i < end; i += kThreads) sum += row_out[i];
  using Reduce = cub::BlockReduce<double, kThreads>;
  __shared__ typename Reduce::TempStorage temp;
  const double total = Reduce(temp).Sum(sum);
  if (threadIdx.x == 0) js[blockIdx.x] = total;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Launchers

struct SoftmaxJsPlan::Impl {
  std::vector<std::string> names;
  std::vector<RowSegment> h_warp, h_block;
  unsigned long long warp_rows = 0, block_rows = 0;
  DeviceBuffer<RowSegment> warp_segs, block_segs;
  DeviceBuffer<unsigned long long> seg_first, seg_rows;
  DeviceBuffer<double> row_out, js;
  DeviceBuffer<unsigned int> nonfinite;  // per tensor: full, quant
};

SoftmaxJsPlan::SoftmaxJsPlan(const TensorList& full, const TensorList& quant)
    : impl_(std::make_unique<Impl>()) {
  check_tensor_pairs(full, quant);
  Impl& m = *impl_;
  std::vector<unsigned long long> h_first, h_rows;
  unsigned long long out_rows = 0;
  for (std::size_t i = 0; i < full.size(); ++i) {
    const SoftmaxRows r = softmax_rows(full[i]);
    if (r.length > UINT_MAX || r.stride > UINT_MAX) {
      throw std::invalid_argument("tensor '" + full[i].name + "' has rows too long for softmax_js");
    }
    const bool warp = r.length <= kWarpRowMax;
    unsigned long long& launch_rows = warp ? m.warp_rows : m.block_rows;
    (warp ? m.h_warp : m.h_block)
        .push_back(RowSegment{full[i].data, quant[i].data, launch_rows, out_rows,
                              static_cast<unsigned int>(r.length),
                              static_cast<unsigned int>(r.stride), static_cast<int>(i)});
    launch_rows += r.rows;
    h_first.push_back(out_rows);
    h_rows.push_back(r.rows);
    out_rows += r.rows;
    m.names.push_back(full[i].name);
  }
  m.warp_segs.upload(m.h_warp);
  m.block_segs.upload(m.h_block);
  m.seg_first.upload(h_first);
  m.seg_rows.upload(h_rows);
  m.row_out.resize(out_rows);
  m.js.resize(full.size());
  m.nonfinite.resize(2 * full.size());
}

SoftmaxJsPlan::~SoftmaxJsPlan() = default;
SoftmaxJsPlan::SoftmaxJsPlan(SoftmaxJsPlan&&) noexcept = default;
SoftmaxJsPlan& SoftmaxJsPlan::operator=(SoftmaxJsPlan&&) noexcept = default;

void SoftmaxJsPlan::enqueue(cudaStream_t stream) {
  Impl& m = *impl_;
  if (m.names.empty()) return;
  CUDA_CHECK(cudaMemsetAsync(m.nonfinite.data(), 0, m.nonfinite.bytes(), stream));
  if (m.warp_rows) {
    softmax_js_rows_kernel<32>
        <<<grid_size(m.warp_rows, kThreads / 32, kThreads), kThreads, 0, stream>>>(
            m.warp_segs.data(), static_cast<int>(m.h_warp.size()), m.warp_rows,
            m.row_out.data(), m.nonfinite.data());
    CUDA_CHECK_LAST();
  }
  if (m.block_rows) {
    softmax_js_rows_kernel<kThreads>
        <<<grid_size(m.block_rows, 1, kThreads), kThreads, 0, stream>>>(
            m.block_segs.data(), static_cast<int>(m.h_block.size()), m.block_rows,
            m.row_out.data(), m.nonfinite.data());
    CUDA_CHECK_LAST();
  }
  segment_sum_kernel<<<static_cast<unsigned int>(m.names.size()), kThreads, 0, stream>>>(
      m.seg_first.data(), m.seg_rows.data(), m.row_out.data(), m.js.data());
  CUDA_CHECK_LAST();
}

std::vector<double> SoftmaxJsPlan::results(cudaStream_t stream) const {
  const Impl& m = *impl_;
  CUDA_CHECK(cudaStreamSynchronize(stream));
  const std::vector<unsigned int> bad = m.nonfinite.to_host();
  for (std::size_t i = 0; i < m.names.size(); ++i) {
    if (bad[2 * i] || bad[2 * i + 1]) {
      throw std::invalid_argument(
          "softmax_js: tensor '" + m.names[i] + "' holds NaN or Inf (" +
          std::to_string(bad[2 * i]) + " in the full-precision tensor, " +
          std::to_string(bad[2 * i + 1]) + " in the quantized one)");
    }
  }
  return m.js.to_host();
}

std::vector<double> softmax_js(const TensorList& full, const TensorList& quant,
                               cudaStream_t stream) {
  SoftmaxJsPlan plan(full, quant);
  plan.enqueue(stream);
  return plan.results(stream);
}

}  // namespace ptq
