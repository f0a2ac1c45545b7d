#!/usr/bin/env bash
# Converts the shared JPEG archive of CIFAR-10 into the official binary layout that ptqbench reads
# (data_batch_1..5.bin, test_batch.bin) with ../shared/tools/cifar_jpeg_to_bin.py (needs Pillow).
# Usage: scripts/get_cifar10.sh [ARCHIVE] [OUT_DIR]
#   ARCHIVE  default ../shared/data/cifar10-jpeg.tar.xz
#   OUT_DIR  default /tmp/ptqbench-data/cifar-10-batches-bin (keep datasets out of the repository)
# Then: PTQBENCH_DATA=OUT_DIR, or pass --data OUT_DIR (or its parent). PYTHON picks the interpreter.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
archive="${1:-$root/../shared/data/cifar10-jpeg.tar.xz}"
out="${2:-/tmp/ptqbench-data/cifar-10-batches-bin}"
converter="$root/../shared/tools/cifar_jpeg_to_bin.py"

[ -f "$archive" ] || { echo "get_cifar10.sh: no archive at $archive" >&2; exit 2; }
[ -f "$converter" ] || { echo "get_cifar10.sh: no converter at $converter" >&2; exit 2; }

# The first interpreter that has Pillow: $PYTHON, python3 on PATH, the system one.
python=""
for candidate in ${PYTHON:-} python3 /usr/bin/python3; do
  if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c "import PIL" 2>/dev/null; then
    python="$candidate"
    break
  fi
done
[ -n "$python" ] || {
  echo "get_cifar10.sh: no python3 with Pillow (apt-get install python3-pil, or set PYTHON)" >&2
  exit 2
}

"$python" "$converter" "$archive" "$out"
expected=$((10000 * 3073))
for f in data_batch_1 data_batch_2 data_batch_3 data_batch_4 data_batch_5 test_batch; do
  size=$(stat -c %s "$out/$f.bin")
  [ "$size" -eq "$expected" ] || { echo "get_cifar10.sh: $out/$f.bin has $size bytes, expected $expected" >&2; exit 1; }
done
echo "CIFAR-10 ready: PTQBENCH_DATA=$out"
