// Memory-bound layer kernels (contracts in elementwise.cuh):
//   ReLU(6) forward   y = min(max(x, 0), ceiling)            (NaN passes through)
//   ReLU(6) backward  dx = beta * dx + (0 < y ? dy : 0)   (ReLU6: 0 < y < 6)
//   add               y = a + b
//   slice copies      dst[r * dst_stride + c] = src[r * src_stride + c] + beta * dst[...]
// Each is a grid-stride loop over 16-byte vectors (float4) when every array is 16-byte aligned
// and every row length and stride a multiple of 4 floats (always so at the study's shapes), one
// float at a time otherwise. beta * dx + g is one fused multiply-add, as in the references.
// Test: build/tests/elementwise_test; benchmark: build/bench/elementwise_bench.
#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "kernels/elementwise.cuh"
#include "kernels/launch.h"

namespace ptq {
namespace {

constexpr int kThreads = 256;

bool aligned16(const void* p) {
  return reinterpret_cast<std::uintptr_t>(p) % 16 == 0;
}

// ---- Per-element operations, shared by the vector and scalar loops -----------------------------

// out = f(a, b, out_old) per element: b is read when not null, out_old when read_out (else 0).
struct ForwardOp {
  float ceiling;
  __device__ float operator()(float x, float, float) const {
    const float v = x < 0.0f ? 0.0f : x;  // NaN fails both tests and stays NaN
    return v > ceiling ? ceiling : v;
  }
};

struct BackwardOp {
  bool clipped;  // ReLU6: the gradient stops at the ceiling too
  float beta;
  __device__ float operator()(float y, float dy, float dx) const {
    const float g = (y > 0.0f && (!clipped || y < 6.0f)) ? dy : 0.0f;
    return beta == 0.0f ? g : fmaf(beta, dx, g);
  }
};

struct AddOp {
  __device__ float operator()(float a, float b, float) const { return a + b; }
};

// ---- Kernel ------------------------------------------------------------------------------------

// out[i] = f(a[i], b[i], out[i]) over count floats; the vector form covers count / 4 float4s and
// leaves the last count % 4 floats to the first threads.
template <bool kVector, typename F>
__global__ void map_kernel(F f, const float* __restrict__ a, const float* __restrict__ b,
                           bool read_out, std::size_t count, float* __restrict__ out) {
  const std::size_t first = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x;
  const std::size_t step = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  std::size_t done = 0;
  if (kVector) {
    const std::size_t n4 = count / 4;
    const float4* a4 = reinterpret_cast<const float4*>(a);
    const float4* b4 = reinterpret_cast<const float4*>(b);
    float4* out4 = reinterpret_cast<float4*>(out);
    const float4 zero = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    for (std::size_t i = first; i < n4; i += step) {
      const float4 u = a4[i], v = b ? b4[i] : zero, o = read_out ? out4[i] : zero;
      out4[i] = make_float4(f(u.x, v.x, o.x), f(u.y, v.y, o.y), f(u.z, v.z, o.z), f(u.w, v.w, o.w));
    }
    done = n4 * 4;
  }
  for (std::size_t i = done + first; i < count; i += step) {
    out[i] = f(a[i], b ? b[i] : 0.0f, read_out ? out[i] : 0.0f);
  }
}

// Launches map_kernel, in float4s when every array given is 16-byte aligned.
template <typename F>
void launch_map(F f, const float* a, const float* b, bool read_out, std::size_t count, float* out,
                cudaStream_t stream) {
  if (count == 0) return;
  const bool vector = aligned16(a) && (b == nullptr || aligned16(b)) && aligned16(out);
  const std::size_t items = vector ? count / 4 + 1 : count;
  const int blocks = grid_size(items, kThreads, kThreads);
  if (vector) {
    map_kernel<true><<<blocks, kThreads, 0, stream>>>(f, a, b, read_out, count, out);
  } else {
    map_kernel<false><<<blocks, kThreads, 0, stream>>>(f, a, b, read_out, count, out);
  }
  CUDA_CHECK(cudaGetLastError());
}

// The slices by value (kMaxSlices * 48 bytes of kernel parameters); blockIdx.z picks the slice,
// blockIdx.y strides over its rows, the x dimension over its columns.
struct SliceArgs {
  SliceCopy slice[kMaxSlices];
  bool vector[kMaxSlices];
};

__device__ float blend(float src, float dst_old, float beta) {
  return beta == 0.0f ? src : fmaf(beta, dst_old, src);
}

__global__ void copy_slices_kernel(SliceArgs args, std::size_t rows) {
  const SliceCopy s = args.slice[blockIdx.z];
  const std::size_t first = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x;
  const std::size_t step = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  const bool read_dst = s.beta != 0.0f;
  if (args.vector[blockIdx.z]) {
    const std::size_t w4 = s.width / 4;
    for (std::size_t r = blockIdx.y; r < rows; r += gridDim.y) {
      const float4* src = reinterpret_cast<const float4*>(s.src + r * s.src_stride);
      float4* dst = reinterpret_cast<float4*>(s.dst + r * s.dst_stride);
      for (std::size_t c = first; c < w4; c += step) {
        const float4 v = src[c];
        const float4 old = read_dst ? dst[c] : make_float4(0, 0, 0, 0);
        dst[c] = make_float4(blend(v.x, old.x, s.beta), blend(v.y, old.y, s.beta),
                             blend(v.z, old.z, s.beta), blend(v.w, old.w, s.beta));
      }
    }
  } else {
    for (std::size_t r = blockIdx.y; r < rows; r += gridDim.y) {
      const float* src = s.src + r * s.src_stride;
      float* dst = s.dst + r * s.dst_stride;
      for (std::size_t c = first; c < s.width; c += step) {
        dst[c] = blend(src[c], read_dst ? dst[c] : 0.0f, s.beta);
      }
    }
  }
}

}  // namespace

// ---- Launchers ---------------------------------------------------------------------------------

void activation_forward(Activation act, const float* d_x, std::size_t count, float* d_y,
                        cudaStream_t stream) {
  launch_map(ForwardOp{activation_ceiling(act)}, d_x, nullptr, false, count, d_y, stream);
}

void activation_backward(Activation act, const float* d_y, const float* d_dy, std::size_t count,
                         float beta, float* d_dx, cudaStream_t stream) {
  launch_map(BackwardOp{act == Activation::kRelu6, beta}, d_y, d_dy, beta != 0.0f, count, d_dx,
             stream);
}

void add_tensors(const float* d_a, const float* d_b, std::size_t count, float* d_y,
                 cudaStream_t stream) {
  launch_map(AddOp{}, d_a, d_b, false, count, d_y, stream);
}

void copy_slices(const SliceCopy* slices, int count, std::size_t rows, cudaStream_t stream) {
  if (count < 0 || count > kMaxSlices) {
    throw std::invalid_argument("copy_slices: " + std::to_string(count) + " slices, outside 0.." +
                                std::to_string(kMaxSlices));
  }
  SliceArgs args{};
  std::size_t widest = 0;
  int used = 0;
  for (int k = 0; k < count; ++k) {
    const SliceCopy& s = slices[k];
    if (s.width == 0 || rows == 0) continue;
    if (rows > 1 && (s.width > s.src_stride || s.width > s.dst_stride)) {
      throw std::invalid_argument("copy_slices: slice " + std::to_string(k) + " is " +
                                  std::to_string(s.width) + " floats wide, above its stride (" +
                                  std::to_string(s.src_stride) + " source, " +
                                  std::to_string(s.dst_stride) + " destination)");
    }
    if (s.src == nullptr || s.dst == nullptr) {
      throw std::invalid_argument("copy_slices: slice " + std::to_string(k) + " has no array");
    }
    const bool vector = aligned16(s.src) && aligned16(s.dst) && s.width % 4 == 0 &&
                        s.src_stride % 4 == 0 && s.dst_stride % 4 == 0;
    args.slice[used] = s;
    args.vector[used] = vector;
    widest = std::max(widest, vector ? s.width / 4 : s.width);
    ++used;
  }
  if (used == 0) return;
  // Enough blocks over the columns of the widest slice, then over the rows, for four waves.
  const std::size_t wave = static_cast<std::size_t>(device_sm_count()) * (2048 / kThreads) * 4;
  const std::size_t x = std::min<std::size_t>((widest + kThreads - 1) / kThreads, wave);
  const std::size_t y = std::max<std::size_t>(
      1, std::min<std::size_t>({rows, 65535, wave / (x * static_cast<std::size_t>(used))}));
  const dim3 grid(static_cast<unsigned>(x), static_cast<unsigned>(y), static_cast<unsigned>(used));
  copy_slices_kernel<<<grid, kThreads, 0, stream>>>(args, rows);
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace ptq
