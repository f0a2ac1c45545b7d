// GPU tests skip, with the reason, on machines without a usable CUDA device (CI).
#pragma once

#include <gtest/gtest.h>

#include "gpu/gpu_context.h"

#define PTQ_REQUIRE_GPU()                                            \
  do {                                                               \
    const std::string ptq_reason_ = ::ptq::gpu_unavailable_reason(); \
    if (!ptq_reason_.empty()) GTEST_SKIP() << ptq_reason_;           \
  } while (0)
