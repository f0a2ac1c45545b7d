#include "gpu/device_setup_lock.h"

namespace ptq {

std::recursive_mutex& device_setup_mutex() {
  // Never destroyed: a buffer or stream of static storage may be freed after this function's
  // statics are gone, at exit.
  static auto* const mutex = new std::recursive_mutex;
  return *mutex;
}

}  // namespace ptq
