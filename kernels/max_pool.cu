// Max pooling kernels (semantics in max_pool.h): y[o] = max of o's window (first maximum wins,
// NaN propagates), winner[o] = its window offset; dx[i] = beta * dx[i] + sum of dy[o] over the
// windows o that i won, added in row-major output order from 0.
//
// The study's pools (3x3 stride 1 and 2, 2x2 stride 2) run tiled. A block copies a tile into
// shared memory with 16-byte loads: several whole planes (for the backward, their dy and winners),
// or a band of rows of one plane too large for a tile. Then each thread walks one column of the
// tile down, a segment of rows long:
// - forward: the first maximum of a row-major scan is the first maximum of the rows' first
//   maxima, so each input row of a column's windows is reduced once and reused by the K / S
//   windows below that share it. Positions outside the plane are clamped onto its edge: a repeated
//   position neither beats its twin nor changes the winning offset, so no padding test is needed.
// - backward: the winners and dy of the output rows whose windows cover the walked row stay in
//   registers, one new row loaded per step; the sum runs over the same windows in the same order
//   as the generic kernel's, so the two agree bit for bit.
// Planes that share a warp are padded apart in shared memory so that their rows start in
// different banks. Other pools, planes too wide for a tile and 64-bit indexing use the generic
// kernels: one thread per output for the forward, one per input for the backward, which gathers
// from the few windows covering its position instead of scattering with atomics.
// Test: build/tests/max_pool_test; benchmark: build/bench/max_pool_bench.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <stdexcept>

#include "kernels/launch.h"
#include "kernels/max_pool.cuh"

namespace ptq {
namespace {

constexpr int kThreads = 256;

// ---- Generic kernels -------------------------------------------------------------------------

// Index is unsigned int when every element count fits it (the usual case: 32-bit division is
// several times cheaper than 64-bit, and these kernels are otherwise memory-bound), else size_t.
// K and S, when not 0, fix the kernel size and stride at compile time (the study's 3x3 and 2x2
// pools: the window loops unroll and the divisions by the stride become shifts); 0 reads them
// from the shape.
template <typename Index, int K, int S>
__global__ void max_pool_forward_kernel(const float* __restrict__ x, MaxPoolShape s, int oh_n,
                                        int ow_n, float* __restrict__ y,
                                        std::uint8_t* __restrict__ winner) {
  const int kernel = K ? K : s.kernel, stride = S ? S : s.stride;
  const Index out_plane = static_cast<Index>(oh_n) * ow_n, in_plane = static_cast<Index>(s.h) * s.w;
  const Index total = static_cast<Index>(s.planes) * out_plane;
  for (Index o = blockIdx.x * static_cast<Index>(blockDim.x) + threadIdx.x; o < total;
       o += static_cast<Index>(gridDim.x) * blockDim.x) {
    const Index plane = o / out_plane;
    const int j = static_cast<int>(o - plane * out_plane);
    const int oh = j / ow_n, ow = j - oh * ow_n;
    const float* xp = x + plane * in_plane;
    const int r0 = oh * stride - s.padding, q0 = ow * stride - s.padding;
    float best = 0.0f;
    int best_at = -1;
#pragma unroll
    for (int u = 0; u < kernel; ++u) {
      const int r = r0 + u;
      if (r < 0 || r >= s.h) continue;
#pragma unroll
      for (int v = 0; v < kernel; ++v) {
        const int q = q0 + v;
        if (q < 0 || q >= s.w) continue;
        const float val = __ldg(xp + r * s.w + q);
        // The first valid position, then a strictly larger value, then a NaN, which stays.
        if (best_at < 0 || (!isnan(best) && (val > best || isnan(val)))) {
          best = val;
          best_at = u * kernel + v;
        }
      }
    }
    y[o] = best;
    if (winner) winner[o] = static_cast<std::uint8_t>(best_at);
  }
}

template <typename Index, int K, int S>
__global__ void max_pool_backward_kernel(const std::uint8_t* __restrict__ winner,
                                         const float* __restrict__ dy, MaxPoolShape s, int oh_n,
                                         int ow_n, float beta, float* __restrict__ dx) {
  const int kernel = K ? K : s.kernel, stride = S ? S : s.stride;
  const Index out_plane = static_cast<Index>(oh_n) * ow_n, in_plane = static_cast<Index>(s.h) * s.w;
  const Index total = static_cast<Index>(s.planes) * in_plane;
  for (Index i = blockIdx.x * static_cast<Index>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<Index>(gridDim.x) * blockDim.x) {
    const Index plane = i / in_plane;
    const int j = static_cast<int>(i - plane * in_plane);
    const int r = j / s.w, q = j - r * s.w;
    // Windows covering row r: oh * stride - padding <= r <= oh * stride - padding + kernel - 1.
    const int lo_r = r + s.padding - kernel + 1, lo_q = q + s.padding - kernel + 1;
    const int oh_lo = lo_r <= 0 ? 0 : (lo_r + stride - 1) / stride;
    const int ow_lo = lo_q <= 0 ? 0 : (lo_q + stride - 1) / stride;
    const int oh_hi = min(oh_n - 1, (r + s.padding) / stride);
    const int ow_hi = min(ow_n - 1, (q + s.padding) / stride);
    const std::uint8_t* wp = winner + plane * out_plane;
    const float* dyp = dy + plane * out_plane;
    float sum = 0.0f;
    for (int oh = oh_lo; oh <= oh_hi; ++oh) {
      const int row = (r - (oh * stride - s.padding)) * kernel;
      for (int ow = ow_lo; ow <= ow_hi; ++ow) {
        const int o = oh * ow_n + ow;
        if (__ldg(wp + o) == row + q - (ow * stride - s.padding)) sum += __ldg(dyp + o);
      }
    }
    dx[i] = beta == 0.0f ? sum : beta * dx[i] + sum;
  }
}

// ---- Tiled kernels ---------------------------------------------------------------------------

// Shared memory for a tiled block's data (plus at most a 16-byte chunk per array for alignment):
// four or five blocks fit an H200 SM, with enough bytes in flight between them to keep HBM busy
// while each block works on its own tile.
constexpr int kTileBytes = 40 * 1024;
// A walker's halo rows are read twice, so a column is split into segments no shorter than this.
constexpr int kMinSegmentRows = 4;

// How a tiled launch cuts the work. Walked rows are output rows for the forward and input rows for
// the backward; a tile is `planes` whole planes, or a band of `band` rows of one plane (`bands`
// tiles per plane). Each column of a tile is walked by `segments` threads, `segment` rows each.
struct PoolTiling {
  int planes = 1;
  int bands = 1;
  int band = 0;
  int segments = 1;
  int segment = 0;
  // Shared-memory distance between a tile's planes in elements, per array (forward: x; backward:
  // dy, winner); 0 when the planes are copied as one contiguous range.
  int stride[2] = {0, 0};
  int second = 0;  // the backward's winner array starts this many 16-byte chunks in
  int blocks = 0, threads = 0;
  std::size_t smem_bytes = 0;
};

// 16-byte chunks that hold `count` elements copied by load_tile (which may start them up to one
// chunk minus one element in).
template <typename T>
__host__ __device__ constexpr int tile_chunks(int count) {
  constexpr int kPer = 16 / sizeof(T);
  return (kPer - 1 + count + kPer - 1) / kPer;
}

// Loads in flight per thread while a tile is copied.
constexpr int kLoadBatch = 4;

// Copies 16-byte chunks [first, last) of `from` (global memory) to chunk dest(c) of `to` (shared
// memory), kLoadBatch loads in flight per thread. Every thread of the block calls it.
template <typename Index, typename Dest>
__device__ void copy_chunks(const uint4* __restrict__ from, Index first, Index last, uint4* to,
                            Dest dest) {
  const Index threads = blockDim.x;
  for (Index c = first + threadIdx.x; c < last; c += kLoadBatch * threads) {
    uint4 v[kLoadBatch];
#pragma unroll
    for (int b = 0; b < kLoadBatch; ++b) {
      if (c + b * threads < last) v[b] = __ldg(from + c + b * threads);
    }
#pragma unroll
    for (int b = 0; b < kLoadBatch; ++b) {
      if (c + b * threads < last) to[dest(c + b * threads)] = v[b];
    }
  }
}

// Copies src[0, count) (global memory) into the shared array tile from element `lead` on, lead
// being src's offset from a 16-byte boundary: the aligned chunks of src then land on chunks of tile
// and are copied with 16-byte loads, the elements of a partial first and last chunk one by one.
// Returns lead. Every thread of the block (at least 16) calls it.
template <typename T>
__device__ int load_tile(const T* __restrict__ src, int count, T* tile) {
  constexpr int kPer = 16 / sizeof(T);
  const int lead = static_cast<int>(reinterpret_cast<std::uintptr_t>(src) / sizeof(T) % kPer);
  const uint4* from = reinterpret_cast<const uint4*>(src - lead);
  uint4* to = reinterpret_cast<uint4*>(tile);
  // Whole chunks first .. last - 1 hold elements [head, tail).
  const int first = lead == 0 ? 0 : 1, last = (lead + count) / kPer;
  const int head = min(count, first * kPer - lead), tail = max(head, last * kPer - lead);
  copy_chunks(from, first, last, to, [](int c) { return c; });
  const int t = threadIdx.x;
  if (t < head) tile[lead + t] = src[t];
  if (tail + t < count) tile[lead + tail + t] = src[tail + t];
  return lead;
}

// Copies `planes` planes of `count` elements, consecutive in global memory from src, into the
// shared array tile: `stride` elements apart (planes 16-byte aligned, count a whole number of
// chunks), or with stride 0 as one contiguous range. Returns the offset of the first plane in tile.
template <typename T>
__device__ int load_planes(const T* __restrict__ src, int planes, int count, int stride, T* tile) {
  if (stride == 0) return load_tile(src, planes * count, tile);
  constexpr int kPer = 16 / sizeof(T);
  // Chunk c of the copy is chunk c % per_plane of plane c / per_plane: `gap` chunks further per
  // plane in the tile.
  const unsigned per_plane = count / kPer, gap = (stride - count) / kPer,
                 total = planes * per_plane;
  copy_chunks(reinterpret_cast<const uint4*>(src), 0u, total, reinterpret_cast<uint4*>(tile),
              [=](unsigned c) { return c + c / per_plane * gap; });
  return 0;
}

// The block's tile: planes [plane, plane + planes) and walked rows [begin, end) of each.
struct Tile {
  int plane, planes, begin, end;
};

__device__ Tile block_tile(const PoolTiling& t, int planes, int walked_rows) {
  const int group = blockIdx.x / t.bands, band = blockIdx.x - group * t.bands;
  Tile tile;
  tile.plane = group * t.planes;
  tile.planes = min(t.planes, planes - tile.plane);
  tile.begin = band * t.band;
  tile.end = min(walked_rows, tile.begin + t.band);
  return tile;
}

// Walker k of a tile: column fastest, then plane, then segment (so that a warp holds the same rows
// of neighbouring planes, which the padding puts in different banks).
struct Walker {
  int col, plane, begin, end;
};

__device__ Walker tile_walker(int k, const PoolTiling& t, const Tile& tile, int cols) {
  const int rest = k / cols, segment = rest / tile.planes;
  Walker w;
  w.col = k - rest * cols;
  w.plane = rest - segment * tile.planes;
  w.begin = tile.begin + segment * t.segment;
  w.end = min(tile.end, w.begin + t.segment);
  return w;
}

// The first maximum of a scan, or its first NaN, and where it is.
struct Pick {
  float value;
  int at;
};

// A later position takes the pick only when strictly larger, or a NaN while the pick is not
// (!(value <= pick) is value > pick or a NaN on either side).
__device__ __forceinline__ void scan(Pick& pick, float value, int at) {
  if (!(value <= pick.value) && !isnan(pick.value)) pick = {value, at};
}

// One thread's walk down output column ow of one plane, output rows [oh, oh_end). `in` holds the
// plane's input rows from r_lo on, s.w apart; y and winner (null: not written) point at output
// (oh, ow), ow_n apart.
template <int K, int S>
__device__ void forward_column(const float* in, int r_lo, const MaxPoolShape& s, int ow, int oh,
                               int oh_end, int ow_n, float* __restrict__ y,
                               std::uint8_t* __restrict__ winner) {
  const int q0 = ow * S - s.padding;
  int col[K];
#pragma unroll
  for (int v = 0; v < K; ++v) col[v] = min(max(q0 + v, 0), s.w - 1);
  // The pick of input row r, clamped into the plane, over the window's columns; `at` is
  // row * K + kw, so that a window starting at input row r0 finds its offset at - r0 * K.
  const auto row_pick = [&](int r) {
    const int row = min(max(r, 0), s.h - 1);
    const float* in_row = in + (row - r_lo) * s.w;
    Pick pick = {in_row[col[0]], row * K + col[0] - q0};
#pragma unroll
    for (int v = 1; v < K; ++v) scan(pick, in_row[col[v]], row * K + col[v] - q0);
    return pick;
  };
  // rows[u]: the pick of window row u of output row oh, whose window starts at input row r0.
  int r0 = oh * S - s.padding;
  Pick rows[K];
#pragma unroll
  for (int u = 0; u < K; ++u) rows[u] = row_pick(r0 + u);
  for (;;) {
    Pick best = rows[0];
#pragma unroll
    for (int u = 1; u < K; ++u) scan(best, rows[u].value, rows[u].at);
    *y = best.value;
    if (winner) *winner = static_cast<std::uint8_t>(best.at - r0 * K);
    if (++oh == oh_end) break;
    y += ow_n;
    if (winner) winner += ow_n;
    r0 += S;
    // The next window shares its first K - S rows with this one's last.
#pragma unroll
    for (int u = 0; u < K; ++u) rows[u] = u + S < K ? rows[u + S] : row_pick(r0 + u);
  }
}

// One thread's walk down input column q of one plane, input rows [r, r_end). dy and won hold the
// plane's dy and winners from output row oh_lo on, ow_n apart; dx points at input (r, q), s.w
// apart.
template <int K, int S>
__device__ void backward_column(const float* dy, const std::uint8_t* won, int oh_lo, int oh_n,
                                int ow_n, const MaxPoolShape& s, int q, int r, int r_end,
                                float beta, float* __restrict__ dx) {
  static_assert(S <= K, "a window row must cover every input row it steps over");
  constexpr int kReach = (K + S - 1) / S;  // windows per axis that can cover one position
  constexpr int kNever = -(1 << 12);       // an offset no winner byte (nor -1) equals
  const int p = s.padding;
  // Candidate window columns ow = (q + p) / S - (kReach - 1) + i, ascending; at_col[i] is q's
  // offset kw in window column i, or kNever when it does not cover q or lies outside the output.
  int ows[kReach], at_col[kReach];
#pragma unroll
  for (int i = 0; i < kReach; ++i) {
    const int ow = (q + p) / S - (kReach - 1) + i, kw = q + p - ow * S;
    const bool covers = ow >= 0 && ow < ow_n && kw < K;
    ows[i] = covers ? ow : 0;
    at_col[i] = covers ? kw : kNever;
  }
  // The winners and dy of kReach candidate window rows, ascending, at the candidate columns; a row
  // is loaded while it covers the walked row, and covers the rows below until it drops out.
  int winner[kReach][kReach];
  float grad[kReach][kReach];
  const auto load_row = [&](int j, int oh, int row) {
    const bool covers = oh >= 0 && oh < oh_n && row + p - oh * S < K;
    const int at = (oh - oh_lo) * ow_n;
#pragma unroll
    for (int i = 0; i < kReach; ++i) {
      if (covers) {
        winner[j][i] = won[at + ows[i]];
        grad[j][i] = dy[at + ows[i]];
      } else {
        winner[j][i] = -1;
        grad[j][i] = 0.0f;
      }
    }
  };
  // The cache holds window rows loaded - (kReach - 1) .. loaded; rows outside the output, or not
  // covering the row they were loaded for, hold winner -1, which no offset equals.
  int loaded = (r + p) / S;
#pragma unroll
  for (int j = 0; j < kReach; ++j) load_row(j, loaded - (kReach - 1) + j, r);
  for (; r < r_end; ++r, dx += s.w) {
    // The last window row covering r grows by at most one per row: then the first drops out.
    const int last = (r + p) / S;
    if (last != loaded) {
#pragma unroll
      for (int j = 0; j + 1 < kReach; ++j) {
#pragma unroll
        for (int i = 0; i < kReach; ++i) {
          winner[j][i] = winner[j + 1][i];
          grad[j][i] = grad[j + 1][i];
        }
      }
      load_row(kReach - 1, last, r);
      loaded = last;
    }
    // Row-major output order, as the generic kernel: window rows, then columns, ascending. (With
    // stride 1 every cached row covers r, and kh is known at compile time.)
    float sum = 0.0f;
#pragma unroll
    for (int j = 0; j < kReach; ++j) {
      const int kh = r + p - (last - (kReach - 1) + j) * S;
      const int at_row = kh < K ? kh * K : kNever;
#pragma unroll
      for (int i = 0; i < kReach; ++i) {
        if (winner[j][i] == at_row + at_col[i]) sum += grad[j][i];
      }
    }
    *dx = beta == 0.0f ? sum : beta * *dx + sum;
  }
}

template <int K, int S>
__global__ void __launch_bounds__(kThreads)
    max_pool_forward_tiled_kernel(const float* __restrict__ x, MaxPoolShape s, int oh_n, int ow_n,
                                  PoolTiling t, float* __restrict__ y,
                                  std::uint8_t* __restrict__ winner) {
  extern __shared__ uint4 smem[];
  const Tile tile = block_tile(t, s.planes, oh_n);
  // The input rows the tile's windows reach; all of them for whole planes, which are contiguous.
  const int r_lo = t.bands == 1 ? 0 : max(0, tile.begin * S - s.padding);
  const int r_hi = t.bands == 1 ? s.h : min(s.h, (tile.end - 1) * S - s.padding + K);
  const int count = (r_hi - r_lo) * s.w;
  const int stride = t.stride[0] ? t.stride[0] : count;
  float* in = reinterpret_cast<float*>(smem);
  in += load_planes(x + (static_cast<unsigned>(tile.plane) * s.h + r_lo) * s.w, tile.planes, count,
                    t.stride[0], in);
  __syncthreads();
  const int walkers = tile.planes * t.segments * ow_n, threads = blockDim.x;
  for (int k = threadIdx.x; k < walkers; k += threads) {
    const Walker w = tile_walker(k, t, tile, ow_n);
    if (w.begin >= w.end) continue;
    const unsigned o =
        (static_cast<unsigned>(tile.plane + w.plane) * oh_n + w.begin) * ow_n + w.col;
    forward_column<K, S>(in + w.plane * stride, r_lo, s, w.col, w.begin, w.end, ow_n, y + o,
                         winner ? winner + o : nullptr);
  }
}

template <int K, int S>
__global__ void __launch_bounds__(kThreads)
    max_pool_backward_tiled_kernel(const std::uint8_t* __restrict__ winner,
                                   const float* __restrict__ dy, MaxPoolShape s, int oh_n, int ow_n,
                                   PoolTiling t, float beta, float* __restrict__ dx) {
  extern __shared__ uint4 smem[];
  const Tile tile = block_tile(t, s.planes, s.h);
  // The output rows whose windows reach the tile's input rows; all of them for whole planes.
  int oh_lo = 0, oh_hi = oh_n;
  if (t.bands > 1) {
    const int lo = tile.begin + s.padding - K + 1;
    oh_lo = lo <= 0 ? 0 : (lo + S - 1) / S;
    oh_hi = max(oh_lo, min(oh_n, (tile.end - 1 + s.padding) / S + 1));
  }
  const int count = (oh_hi - oh_lo) * ow_n;
  const unsigned first = (static_cast<unsigned>(tile.plane) * oh_n + oh_lo) * ow_n;
  float* tile_dy = reinterpret_cast<float*>(smem);
  std::uint8_t* tile_won = reinterpret_cast<std::uint8_t*>(smem + t.second);
  tile_dy += load_planes(dy + first, tile.planes, count, t.stride[0], tile_dy);
  tile_won += load_planes(winner + first, tile.planes, count, t.stride[1], tile_won);
  __syncthreads();
  const int dy_stride = t.stride[0] ? t.stride[0] : count;
  const int won_stride = t.stride[1] ? t.stride[1] : count;
  const int walkers = tile.planes * t.segments * s.w, threads = blockDim.x;
  for (int k = threadIdx.x; k < walkers; k += threads) {
    const Walker w = tile_walker(k, t, tile, s.w);
    if (w.begin >= w.end) continue;
    const unsigned i = (static_cast<unsigned>(tile.plane + w.plane) * s.h + w.begin) * s.w + w.col;
    backward_column<K, S>(tile_dy + w.plane * dy_stride, tile_won + w.plane * won_stride, oh_lo,
                          oh_n, ow_n, s, w.col, w.begin, w.end, beta, dx + i);
  }
}

// ---- Launchers -------------------------------------------------------------------------------

// Whether the kernels index with unsigned int: every count of the shape below 2^31 leaves room
// for the grid stride.
bool use_32bit(const MaxPoolShape& shape, MaxPoolIndex index) {
  const bool fits = std::max(shape.in_count(), shape.out_count()) <=
                    static_cast<std::size_t>(std::numeric_limits<int>::max());
  if (index == MaxPoolIndex::k32 && !fits)
    throw std::invalid_argument("max pool: element counts too large for 32-bit indices");
  return index == MaxPoolIndex::k32 || (index == MaxPoolIndex::kAuto && fits);
}

bool aligned16(const void* p) {
  return reinterpret_cast<std::uintptr_t>(p) % 16 == 0;
}

template <typename T>
std::size_t tile_bytes(std::size_t count) {
  return static_cast<std::size_t>(tile_chunks<T>(static_cast<int>(count))) * 16;
}

// Shared-memory distance between a tile's planes of `count` elements of type T, when walkers of
// `cols` columns put several planes in one warp. Planes of a multiple of 32 words would start at
// the same bank, so each row of every plane in the warp would hit the same banks: padded, they
// start 32 / (planes per warp) words apart. Padding copies plane by plane in whole 16-byte chunks,
// so it needs planes 16-byte aligned in global memory; 0 (one contiguous copy) otherwise.
template <typename T>
int plane_stride(std::size_t count, int cols, bool aligned) {
  const int per_warp = cols < 32 ? 32 / cols : 1;
  if (per_warp < 2 || !aligned || count * sizeof(T) % 16 != 0) return 0;
  const std::size_t shift = std::max(4, 32 / per_warp / 4 * 4);  // words, whole chunks
  const std::size_t words = count * sizeof(T) / 4;
  return static_cast<int>((words + (shift + 32 - words % 32) % 32) * 4 / sizeof(T));
}

// Cuts `planes` planes, walked `walked_rows` rows down by walkers of `cols` columns, into tiles:
// whole planes of plane_bytes shared memory each, as many as fill a block's walkers (splitting
// columns into segments when the planes alone do not), or bands of at most max_band rows of one
// plane when one does not fit. False when not even a band of one row fits.
bool plan_tiling(int planes, int walked_rows, int cols, std::size_t plane_bytes, int max_band,
                 PoolTiling& t) {
  const int most_segments = std::max(1, walked_rows / kMinSegmentRows);
  if (plane_bytes <= kTileBytes) {
    const int fit = static_cast<int>(kTileBytes / plane_bytes);
    const int most = std::min({planes, fit, std::max(1, kThreads / cols)});
    int best = 0;
    for (int n = most; n >= 1; --n) {  // the most walkers up to kThreads, then the most planes
      const int segments = std::clamp(kThreads / (n * cols), 1, most_segments);
      if (n * cols * segments > best) {
        best = n * cols * segments;
        t.planes = n;
        t.segments = segments;
      }
    }
    t.bands = 1;
    t.band = walked_rows;
  } else {
    if (max_band < 1) return false;
    t.planes = 1;
    t.bands = (walked_rows + max_band - 1) / max_band;
    t.band = (walked_rows + t.bands - 1) / t.bands;
    t.segments = std::clamp(kThreads / cols, 1, std::max(1, t.band / kMinSegmentRows));
  }
  t.segment = (t.band + t.segments - 1) / t.segments;
  t.segments = (t.band + t.segment - 1) / t.segment;
  t.threads = std::min(kThreads, (t.planes * cols * t.segments + 31) / 32 * 32);
  t.blocks = (planes + t.planes - 1) / t.planes * t.bands;
  return true;
}

// The tiling of the forward for the K x K stride S pools (x 16-byte aligned or not); false when
// rows of this plane's width do not fit a tile.
template <int K, int S>
bool plan_forward_tiled(const MaxPoolShape& s, bool aligned, PoolTiling& t) {
  const int oh_n = s.out_h(), ow_n = s.out_w();
  const std::size_t plane = static_cast<std::size_t>(s.h) * s.w;
  t.stride[0] = plane_stride<float>(plane, ow_n, aligned);
  const std::size_t plane_bytes = (t.stride[0] ? t.stride[0] : plane) * sizeof(float);
  // A band of b output rows reads b * S + K - S input rows.
  const int rows_fit = kTileBytes / static_cast<int>(sizeof(float)) / s.w;
  if (!plan_tiling(s.planes, oh_n, ow_n, plane_bytes, (rows_fit - K + S) / S, t)) return false;
  if (t.planes == 1) t.stride[0] = 0;
  t.smem_bytes =
      t.stride[0] ? t.planes * plane_bytes
      : t.bands == 1
          ? tile_bytes<float>(t.planes * plane)
          : tile_bytes<float>(std::min(s.h, t.band * S + K - S) * static_cast<std::size_t>(s.w));
  return true;
}

// The tiled forward for the K x K stride S pools; false (nothing launched) when
// plan_forward_tiled finds no tiling.
template <int K, int S>
bool forward_tiled(const float* d_x, const MaxPoolShape& s, float* d_y, std::uint8_t* d_winner,
                   cudaStream_t stream) {
  PoolTiling t;
  if (!plan_forward_tiled<K, S>(s, aligned16(d_x), t)) return false;
  max_pool_forward_tiled_kernel<K, S><<<t.blocks, t.threads, t.smem_bytes, stream>>>(
      d_x, s, s.out_h(), s.out_w(), t, d_y, d_winner);
  return true;
}

// The tiling of the backward for the K x K stride S pools (dy and the winners 16-byte aligned or
// not); false when rows of this plane's output width do not fit a tile.
template <int K, int S>
bool plan_backward_tiled(const MaxPoolShape& s, bool dy_aligned, bool winner_aligned,
                         PoolTiling& t) {
  const int oh_n = s.out_h(), ow_n = s.out_w();
  const std::size_t plane = static_cast<std::size_t>(oh_n) * ow_n;
  t.stride[0] = plane_stride<float>(plane, s.w, dy_aligned);
  t.stride[1] = plane_stride<std::uint8_t>(plane, s.w, winner_aligned);
  const std::size_t plane_bytes =
      (t.stride[0] ? t.stride[0] : plane) * sizeof(float) + (t.stride[1] ? t.stride[1] : plane);
  // A band of b input rows reads the output rows of (b + K - 2) / S + 1 windows, at most.
  const int rows_fit = kTileBytes / static_cast<int>(sizeof(float) + 1) / ow_n;
  if (!plan_tiling(s.planes, s.h, s.w, plane_bytes, rows_fit * S - K + 1, t)) return false;
  if (t.planes == 1) t.stride[0] = t.stride[1] = 0;
  const std::size_t count =
      t.bands == 1 ? t.planes * plane
                   : std::min(oh_n, (t.band + K - 2) / S + 1) * static_cast<std::size_t>(ow_n);
  const std::size_t dy_bytes =
      t.stride[0] ? t.planes * t.stride[0] * sizeof(float) : tile_bytes<float>(count);
  const std::size_t won_bytes =
      t.stride[1] ? t.planes * t.stride[1] : tile_bytes<std::uint8_t>(count);
  t.second = static_cast<int>(dy_bytes / 16);
  t.smem_bytes = dy_bytes + won_bytes;
  return true;
}

// The tiled backward for the K x K stride S pools; false (nothing launched) when
// plan_backward_tiled finds no tiling.
template <int K, int S>
bool backward_tiled(const std::uint8_t* d_winner, const float* d_dy, const MaxPoolShape& s,
                    float beta, float* d_dx, cudaStream_t stream) {
  PoolTiling t;
  if (!plan_backward_tiled<K, S>(s, aligned16(d_dy), aligned16(d_winner), t)) return false;
  max_pool_backward_tiled_kernel<K, S><<<t.blocks, t.threads, t.smem_bytes, stream>>>(
      d_winner, d_dy, s, s.out_h(), s.out_w(), t, beta, d_dx);
  return true;
}

// Whether a pass of this shape can run tiled (its kernel and stride have tiled kernels and a
// tiling fits), for 16-byte aligned arrays.
bool tiles(const MaxPoolShape& shape, bool forward) {
  PoolTiling t;
  const int k = shape.kernel, s = shape.stride;
  if (k == 3 && s == 1)
    return forward ? plan_forward_tiled<3, 1>(shape, true, t)
                   : plan_backward_tiled<3, 1>(shape, true, true, t);
  if (k == 3 && s == 2)
    return forward ? plan_forward_tiled<3, 2>(shape, true, t)
                   : plan_backward_tiled<3, 2>(shape, true, true, t);
  if (k == 2 && s == 2)
    return forward ? plan_forward_tiled<2, 2>(shape, true, t)
                   : plan_backward_tiled<2, 2>(shape, true, true, t);
  return false;
}

MaxPoolKernels kernels_for(const MaxPoolShape& shape, MaxPoolIndex index, bool forward) {
  check_max_pool_shape(shape);
  if (!use_32bit(shape, index)) return MaxPoolKernels::kGeneric64;
  return tiles(shape, forward) ? MaxPoolKernels::kTiled : MaxPoolKernels::kGeneric;
}

}  // namespace

MaxPoolKernels max_pool_forward_kernels(const MaxPoolShape& shape, MaxPoolIndex index) {
  return kernels_for(shape, index, true);
}

MaxPoolKernels max_pool_backward_kernels(const MaxPoolShape& shape, MaxPoolIndex index) {
  return kernels_for(shape, index, false);
}

void max_pool_forward(const float* d_x, const MaxPoolShape& shape, float* d_y,
                      std::uint8_t* d_winner, cudaStream_t stream, MaxPoolIndex index) {
  check_max_pool_shape(shape);
  const std::size_t n = shape.out_count();
  const int blocks = grid_size(n, kThreads, kThreads);
  const auto launch = [&](auto kernel) {
    kernel<<<blocks, kThreads, 0, stream>>>(d_x, shape, shape.out_h(), shape.out_w(), d_y,
                                            d_winner);
  };
  const int k = shape.kernel, s = shape.stride;
  if (!use_32bit(shape, index)) {
    launch(max_pool_forward_kernel<std::size_t, 0, 0>);
  } else if (k == 3 && s == 1) {
    if (!forward_tiled<3, 1>(d_x, shape, d_y, d_winner, stream))
      launch(max_pool_forward_kernel<unsigned int, 3, 1>);
  } else if (k == 3 && s == 2) {
    if (!forward_tiled<3, 2>(d_x, shape, d_y, d_winner, stream))
      launch(max_pool_forward_kernel<unsigned int, 3, 2>);
  } else if (k == 2 && s == 2) {
    if (!forward_tiled<2, 2>(d_x, shape, d_y, d_winner, stream))
      launch(max_pool_forward_kernel<unsigned int, 2, 2>);
  } else {
    launch(max_pool_forward_kernel<unsigned int, 0, 0>);
  }
  CUDA_CHECK(cudaGetLastError());
}

void max_pool_backward(const std::uint8_t* d_winner, const float* d_dy, const MaxPoolShape& shape,
                       float beta, float* d_dx, cudaStream_t stream, MaxPoolIndex index) {
  check_max_pool_shape(shape);
  const std::size_t n = shape.in_count();
  const int blocks = grid_size(n, kThreads, kThreads);
  const auto launch = [&](auto kernel) {
    kernel<<<blocks, kThreads, 0, stream>>>(d_winner, d_dy, shape, shape.out_h(), shape.out_w(),
                                            beta, d_dx);
  };
  const int k = shape.kernel, s = shape.stride;
  if (!use_32bit(shape, index)) {
    launch(max_pool_backward_kernel<std::size_t, 0, 0>);
  } else if (k == 3 && s == 1) {
    if (!backward_tiled<3, 1>(d_winner, d_dy, shape, beta, d_dx, stream))
      launch(max_pool_backward_kernel<unsigned int, 3, 1>);
  } else if (k == 3 && s == 2) {
    if (!backward_tiled<3, 2>(d_winner, d_dy, shape, beta, d_dx, stream))
      launch(max_pool_backward_kernel<unsigned int, 3, 2>);
  } else if (k == 2 && s == 2) {
    if (!backward_tiled<2, 2>(d_winner, d_dy, shape, beta, d_dx, stream))
      launch(max_pool_backward_kernel<unsigned int, 2, 2>);
  } else {
    launch(max_pool_backward_kernel<unsigned int, 0, 0>);
  }
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace ptq
