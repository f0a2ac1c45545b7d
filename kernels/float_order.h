// Floats as ints that order like the floats, so ranges can be reduced with integer min/max
// (atomicMin/atomicMax, CUB). order_key keeps non-negative floats' bits and flips the magnitude
// bits of negative ones: -Inf < ... < -0 < +0 < ... < +Inf in key order (NaNs land beyond the
// infinities, by sign; callers count them apart). float_from_order_key inverts it exactly.
// Host and device.
#pragma once

#include "kernels/host_device.h"

namespace ptq {

PTQ_HD int order_key(float f) {
  const int i = static_cast<int>(float_bits(f));
  return i >= 0 ? i : i ^ 0x7FFFFFFF;
}

PTQ_HD float float_from_order_key(int key) {
  return bits_float(static_cast<std::uint32_t>(key >= 0 ? key : key ^ 0x7FFFFFFF));
}

}  // namespace ptq
