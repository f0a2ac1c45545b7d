// Fused quantize-dequantize (fake quantization) and quantize-only kernels.
//
//   q = sign(x / s) * nearest(min(|x / s|, qmax)),  y = q * s
//
// nearest() is arithmetic, per format kind (kernels/quant_math.h): rintf for INT, the exponent
// field and one mantissa bit for POT, round-to-nearest-even on the top m mantissa bits for FLOAT.
// The kind is a template argument, chosen once by the launcher; the rest of the format travels as
// a small parameter struct. Each thread moves kUnroll float4 per grid-stride step, all loads
// issued before the first use. A buffer that is not 16-byte aligned takes the scalar path.
//
// Test:  ctest --test-dir build -R FakeQuant   (GPU vs brute-force grid search, bit for bit)
// Bench: build/bench/fake_quant_bench
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "gpu/cuda_check.h"
#include "kernels/fake_quant.cuh"
#include "kernels/fake_quant_ref.h"
#include "kernels/launch.h"
#include "kernels/quant_math.h"

namespace ptq {
namespace {

constexpr int kThreads = 256;
constexpr int kUnroll = 4;

// ---------------------------------------------------------------------------------------------
// Kernels

template <int Kind, bool Dequantize>
__device__ __forceinline__ float apply(float x, float scale, const FormatParams& p) {
  const float q = quantize_value<Kind>(x, scale, p);
  return Dequantize ? q * scale : q;
}

template <int Kind, bool Dequantize>
__global__ void fake_quant_vec4_kernel(const float4* __restrict__ x, float4* __restrict__ y,
                                       std::size_t n4, float scale, FormatParams p) {
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  for (; i + (kUnroll - 1) * stride < n4; i += kUnroll * stride) {
    float4 v[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) v[u] = x[i + u * stride];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      v[u].x = apply<Kind, Dequantize>(v[u].x, scale, p);
      v[u].y = apply<Kind, Dequantize>(v[u].y, scale, p);
      v[u].z = apply<Kind, Dequantize>(v[u].z, scale, p);
      v[u].w = apply<Kind, Dequantize>(v[u].w, scale, p);
      y[i + u * stride] = v[u];
    }
  }
  for (; i < n4; i += stride) {
    float4 v = x[i];
    v.x = apply<Kind, Dequantize>(v.x, scale, p);
    v.y = apply<Kind, Dequantize>(v.y, scale, p);
    v.z = apply<Kind, Dequantize>(v.z, scale, p);
    v.w = apply<Kind, Dequantize>(v.w, scale, p);
    y[i] = v;
  }
}

template <int Kind, bool Dequantize>
__global__ void fake_quant_scalar_kernel(const float* __restrict__ x, float* __restrict__ y,
                                         std::size_t n, float scale, FormatParams p) {
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  for (std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    y[i] = apply<Kind, Dequantize>(x[i], scale, p);
  }
}

// ---------------------------------------------------------------------------------------------
// Launchers

template <int Kind, bool Dequantize>
void launch_kind(const float* d_x, float* d_y, std::size_t n, float scale, const FormatParams& p,
                 cudaStream_t stream) {
  const bool aligned = (reinterpret_cast<std::uintptr_t>(d_x) % 16 == 0) &&
                       (reinterpret_cast<std::uintptr_t>(d_y) % 16 == 0);
  const std::size_t n4 = aligned ? n / 4 : 0;
  if (n4 > 0) {
    const int blocks = grid_size(n4, kThreads * kUnroll, kThreads);
    fake_quant_vec4_kernel<Kind, Dequantize><<<blocks, kThreads, 0, stream>>>(
        reinterpret_cast<const float4*>(d_x), reinterpret_cast<float4*>(d_y), n4, scale, p);
    CUDA_CHECK_LAST();
  }
  const std::size_t rest = n - 4 * n4;
  if (rest > 0) {
    const int blocks = grid_size(rest, kThreads, kThreads);
    fake_quant_scalar_kernel<Kind, Dequantize>
        <<<blocks, kThreads, 0, stream>>>(d_x + 4 * n4, d_y + 4 * n4, rest, scale, p);
    CUDA_CHECK_LAST();
  }
}

template <bool Dequantize>
void launch(const float* d_x, float* d_y, std::size_t n, float scale, const QuantFormat& f,
            cudaStream_t stream) {
  if (!std::isfinite(scale) || scale < 0.0f) {
    throw std::invalid_argument("quantization scale must be finite and >= 0, got " +
                                std::to_string(scale));
  }
  if (n == 0) return;
  const FormatParams p = make_format_params(f);
  switch (f.kind) {
    case FormatKind::kInt:
      return launch_kind<kKindInt, Dequantize>(d_x, d_y, n, scale, p, stream);
    case FormatKind::kPot:
      return launch_kind<kKindPot, Dequantize>(d_x, d_y, n, scale, p, stream);
    case FormatKind::kFloat:
      return launch_kind<kKindFloat, Dequantize>(d_x, d_y, n, scale, p, stream);
  }
}

}  // namespace

void fake_quant(const float* d_x, float* d_y, std::size_t n, float scale, const QuantFormat& f,
                cudaStream_t stream) {
  launch<true>(d_x, d_y, n, scale, f, stream);
}

void quantize(const float* d_x, float* d_q, std::size_t n, float scale, const QuantFormat& f,
              cudaStream_t stream) {
  launch<false>(d_x, d_q, n, scale, f, stream);
}

}  // namespace ptq
