#!/usr/bin/env bash
# Configure, build and run every test. GPU tests skip with the reason on machines without a GPU.
# Usage: scripts/test.sh [BUILD_DIR]   (CUDA_ARCHS=90 for a faster build; JOBS=N build jobs)
set -euo pipefail
cd "$(dirname "$0")/.."
export BUILD_DIR="${1:-${BUILD_DIR:-build}}" JOBS="${JOBS:-2}"
scripts/build.sh
build="$BUILD_DIR"
ctest --test-dir "$build" --output-on-failure -j "${JOBS:-2}"
