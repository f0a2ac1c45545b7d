#!/usr/bin/env bash
# One training step of each study network, profiled layer by layer (bench/layer_profile) under
# each convolution path asked for, at the batch scripts/train_fast.sh trains it with; writes
# OUT/<model>_<conv>.txt (layer_profile's report: step, groups, slowest layers, the decisions) and
# .csv (every layer's medians), and OUT/steps.md, a table of the step times with the speedup of
# each path over the first one.
#
# Usage: bench/profile_all.sh OUT [CONV ...]      CONV: fastest, legacy or graph (default:
#        legacy fastest). Environment: LAYER_PROFILE (default build/bench/layer_profile), MODELS
#        (default the nine), STEPS (default 10), MATH (tf32 or fp32, default tf32), PLAN (fast or
#        accurate: whose batches, read from the plan train_fast.sh writes), BN (spatial,
#        persistent, or plan: each network's mode in that plan; default spatial).
set -euo pipefail
if [ $# -lt 1 ]; then
  awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
out="$1"
shift
convs=("$@")
[ ${#convs[@]} -gt 0 ] || convs=(legacy fastest)
for c in "${convs[@]}"; do
  case "$c" in
    fastest | legacy | graph) ;;
    *)
      echo "profile_all.sh: CONV must be fastest, legacy or graph, got '$c'" >&2
      exit 2
      ;;
  esac
done
profile="${LAYER_PROFILE:-build/bench/layer_profile}"
if [ ! -x "$profile" ]; then
  echo "profile_all.sh: no layer_profile at $profile (build it, or set LAYER_PROFILE)" >&2
  exit 2
fi
# Each network's batch and batch-norm mode in scripts/train_fast.sh's plan (PLAN fast or
# accurate), read from the plan it writes.
plan_dir="$(mktemp -d)"
trap 'rm -rf "$plan_dir"' EXIT
env -u BN -u MODELS -u EPOCHS PLAN_ONLY=1 JOBS=all PLAN="${PLAN:-fast}" \
  "$(dirname "$0")/../scripts/train_fast.sh" "$plan_dir" \
  >/dev/null
declare -A batch plan_bn
while read -r -a words; do
  [ "${words[0]:-}" = --model ] || continue
  m="${words[1]}"
  for ((i = 0; i + 1 < ${#words[@]}; i++)); do  # the last of an option wins, as in ptqbench
    case "${words[i]}" in
      --batch) batch[$m]="${words[i + 1]}" ;;
      --bn) plan_bn[$m]="${words[i + 1]}" ;;
    esac
  done
done <"$plan_dir/plan.txt"
case "${BN:-spatial}" in
  spatial | persistent | plan) ;;
  *)
    echo "profile_all.sh: BN must be spatial, persistent or plan, got '${BN}'" >&2
    exit 2
    ;;
esac
bn_of() {
  if [ "${BN:-spatial}" = plan ]; then echo "${plan_bn[$1]:-spatial}"; else echo "${BN:-spatial}"; fi
}
models=(${MODELS:-AlexNet AlexNet_BN VGG_16 VGG_19 Inception_BN ResNet_18 ResNet_50 ResNet_152 MobileNetV2})
for m in "${models[@]}"; do
  if [ -z "${batch[$m]:-}" ]; then
    echo "profile_all.sh: unknown model '$m' (MODELS)" >&2
    exit 2
  fi
done
mkdir -p "$out"

table="$out/steps.md.tmp"
{
  printf '| network, batch |'
  for c in "${convs[@]}"; do printf ' %s step (ms) |' "$c"; done
  for c in "${convs[@]:1}"; do printf ' %s vs %s |' "$c" "${convs[0]}"; done
  printf '\n|---|'
  for _ in "${convs[@]}" "${convs[@]:1}"; do printf -- '---|'; done
  printf '\n'
} >"$table"
status=0
for m in "${models[@]}"; do
  steps=()
  for c in "${convs[@]}"; do
    report="$out/${m}_${c}.txt"
    if "$profile" "$m" --batch "${batch[$m]}" --steps "${STEPS:-10}" --math "${MATH:-tf32}" \
      --conv "$c" --bn "$(bn_of "$m")" --csv "$out/${m}_${c}.csv" >"$report" 2>&1; then
      # "training step 5.378 ms: ..." on the report's second line
      steps+=("$(awk 'NR == 2 { print $3 }' "$report")")
      echo "$m $c: $(sed -n 2p "$report")"
    else
      status=1
      steps+=("-")
      echo "$m $c: failed, see $report" >&2
    fi
  done
  {
    printf '| %s, %s |' "$m" "${batch[$m]}"
    for s in "${steps[@]}"; do printf ' %s |' "$s"; done
    for s in "${steps[@]:1}"; do
      if [ "$s" = "-" ] || [ "${steps[0]}" = "-" ]; then
        printf ' - |'
      else
        awk -v a="${steps[0]}" -v b="$s" 'BEGIN { printf " %.2fx |", a / b }'
      fi
    done
    printf '\n'
  } >>"$table"
done
mv "$table" "$out/steps.md"
cat "$out/steps.md"
exit "$status"
