#!/usr/bin/env bash
# Configure and build ptqbench into build/ (CUDA_ARCHS, JOBS and BUILD_DIR override the defaults).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/cuda/bin:$PATH"
build="${BUILD_DIR:-build}"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCHS:-80;90}"
cmake --build "$build" -j "${JOBS:-$(nproc)}"
