// PTQ_HD marks a function compiled for both the host and the device (nvcc) or as a plain inline
// host function (a C++ compiler), so CPU references and kernels share one definition; and the
// float <-> bits casts such functions need.
#pragma once

#include <cstdint>
#include <cstring>

#ifdef __CUDACC__
#define PTQ_HD __host__ __device__ __forceinline__
#else
#define PTQ_HD inline
#endif

namespace ptq {

PTQ_HD std::uint32_t float_bits(float f) {
#ifdef __CUDA_ARCH__
  return __float_as_uint(f);
#else
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
#endif
}

PTQ_HD float bits_float(std::uint32_t u) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
#endif
}

}  // namespace ptq
