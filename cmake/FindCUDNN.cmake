# Finds cuDNN 9: Debian/NVIDIA tarball layout under the CUDA Toolkit, or Ubuntu's packages under
# /usr/include/x86_64-linux-gnu and /usr/lib/x86_64-linux-gnu. Hints: CUDNN_ROOT (environment or
# cache), CUDNN_INCLUDE_DIR, CUDNN_LIBRARY. Defines the imported target CUDNN::cudnn.
set(_cudnn_roots ${CUDNN_ROOT} $ENV{CUDNN_ROOT} ${CUDAToolkit_LIBRARY_ROOT} /usr/local/cuda /usr)
find_path(CUDNN_INCLUDE_DIR cudnn.h
  HINTS ${_cudnn_roots}
  PATH_SUFFIXES include include/x86_64-linux-gnu)
find_library(CUDNN_LIBRARY cudnn
  HINTS ${_cudnn_roots}
  PATH_SUFFIXES lib64 lib lib/x86_64-linux-gnu)

if(CUDNN_INCLUDE_DIR)
  foreach(_h cudnn_version.h cudnn_version_v9.h cudnn.h)
    if(EXISTS "${CUDNN_INCLUDE_DIR}/${_h}")
      file(STRINGS "${CUDNN_INCLUDE_DIR}/${_h}" _major REGEX "^#define CUDNN_MAJOR [0-9]+")
      file(STRINGS "${CUDNN_INCLUDE_DIR}/${_h}" _minor REGEX "^#define CUDNN_MINOR [0-9]+")
      if(_major)
        string(REGEX MATCH "[0-9]+" CUDNN_VERSION_MAJOR "${_major}")
        string(REGEX MATCH "[0-9]+" CUDNN_VERSION_MINOR "${_minor}")
        set(CUDNN_VERSION "${CUDNN_VERSION_MAJOR}.${CUDNN_VERSION_MINOR}")
        break()
      endif()
    endif()
  endforeach()
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(CUDNN
  REQUIRED_VARS CUDNN_LIBRARY CUDNN_INCLUDE_DIR
  VERSION_VAR CUDNN_VERSION)

if(CUDNN_FOUND AND NOT TARGET CUDNN::cudnn)
  add_library(CUDNN::cudnn UNKNOWN IMPORTED)
  set_target_properties(CUDNN::cudnn PROPERTIES
    IMPORTED_LOCATION "${CUDNN_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${CUDNN_INCLUDE_DIR}")
endif()
