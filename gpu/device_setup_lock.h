// The process-wide lock that lets several threads share one GPU (see below). Header of ptq_gpu.
#pragma once

#include <mutex>

namespace ptq {

// One lock for the whole process, held around the CUDA calls that must not overlap another
// thread's stream capture: allocation and freeing (device and pinned), synchronous copies and
// cudaDeviceSynchronize, stream, event and handle creation, and the first forward or backward of
// a network at a batch size (cuDNN's algorithm search, which synchronises the device and, inside
// the library, captures streams; and the first launch of each kernel; models/trainer.cpp also
// takes it for a session's first step, first validation and a test pass without an epoch before
// it). Runs that share the GPU from several threads (models/train_group.h) then overlap only in
// steady-state work they enqueue (launches, asynchronous copies, events): measured
// on the H200, unguarded, 7 of 9 such runs failed in their first minute with
// cudaErrorStreamCaptureUnsupported or "no usable algorithm". Recursive, since a guarded call can
// allocate. Uncontended (one thread) it costs a few nanoseconds per call.
std::recursive_mutex& device_setup_mutex();
using DeviceSetupLock = std::lock_guard<std::recursive_mutex>;

}  // namespace ptq
