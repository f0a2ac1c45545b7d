#include "gpu/device_setup_lock.h"

namespace ptq {

std::recursive_mutex& device_setup_mutex() {
  static std::recursive_mutex mutex;
  return mutex;
}

}  // namespace ptq
