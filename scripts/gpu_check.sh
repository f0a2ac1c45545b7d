#!/usr/bin/env bash
# On the GPU machine: build for Hopper, run every test, then the named benchmark programs, writing
# logs and JSON under OUT (default ./gpu-out). Usage: scripts/gpu_check.sh [BENCH ...]
# e.g. OUT=/tmp/o scripts/gpu_check.sh fake_quant_bench metrics_bench
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-gpu-out}"
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv \
  >"$out/device.txt" 2>&1
export PATH="/usr/local/cuda/bin:$PATH"
CUDA_ARCHS=90 JOBS="$(nproc)" BUILD_DIR=build-gpu scripts/build.sh >"$out/build.log" 2>&1 || {
  tail -40 "$out/build.log"; echo "BUILD FAILED"; exit 1; }
ctest --test-dir build-gpu --output-on-failure -j 4 >"$out/ctest.log" 2>&1
status=$?
grep -E "tests passed|Failed|Not Run|\*\*\*" "$out/ctest.log" | tail -30
for b in "$@"; do
  if [ -x "build-gpu/bench/$b" ]; then
    "build-gpu/bench/$b" --benchmark_out="$out/$b.json" --benchmark_out_format=json \
      >"$out/$b.txt" 2>&1 || echo "$b FAILED (see $b.txt)"
  else
    echo "no benchmark program $b"
  fi
done
exit $status
