#!/usr/bin/env bash
# Wall time of all 30 fits of the reference set: the 2/2, 3/3 and 4/4 rational fits of acc_loss vs
# js_flops for the nine models and pooled (ALL, with its nine leave-one-model-out refits), as six
# `ptqbench fit` runs. Prints each repetition's time and the median, in seconds.
# Usage: bench/fit_bench.sh [PTQBENCH] [RESULTS_CSV] [REPEATS]
set -euo pipefail
exe="${1:-build/cli/ptqbench}"
csv="${2:-$(dirname "$0")/../../shared/reference/seed_sgd_m95_results.csv}"
repeats="${3:-7}"
[ -f "$csv" ] || { echo "no reference data at $csv" >&2; exit 2; }
times=()
for ((r = 0; r < repeats; ++r)); do
  start=$(date +%s.%N)
  for degree in 2 3 4; do
    for group in model all; do
      "$exe" fit --in "$csv" --x js_flops --degree "$degree" --group "$group" --json /dev/null >/dev/null
    done
  done
  end=$(date +%s.%N)
  times+=("$(echo "$end - $start" | bc -l)")
  printf 'run %d: %.3f s\n' "$r" "${times[-1]}"
done
printf '%s\n' "${times[@]}" | sort -g | awk '{ t[NR] = $1 } END { printf "median of %d: %.3f s\n", NR, t[int((NR + 1) / 2)] }'
