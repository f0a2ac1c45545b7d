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
#        accurate, as train_fast.sh: accurate trains VGG_16/VGG_19 at batch 256), BN (spatial,
#        persistent, or plan: each network's mode in train_fast.sh's plan; default spatial).
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
# The batches of scripts/train_fast.sh's plan.
declare -A batch=([AlexNet]=128 [AlexNet_BN]=128 [VGG_16]=128 [VGG_19]=128 [Inception_BN]=256
                  [ResNet_18]=128 [ResNet_50]=256 [ResNet_152]=256 [MobileNetV2]=256)
case "${PLAN:-fast}" in
  fast) ;;
  accurate) batch[VGG_16]=256 batch[VGG_19]=256 ;;
  *)
    echo "profile_all.sh: PLAN must be fast or accurate, got '${PLAN}'" >&2
    exit 2
    ;;
esac
# The plan's batch-norm modes (scripts/train_fast.sh): persistent but where a network has no batch
# norm (AlexNet) or keeps the spatial mode (Inception_BN).
bn_of() {
  case "${BN:-spatial}" in
    spatial | persistent) echo "${BN:-spatial}" ;;
    plan) case "$1" in AlexNet | Inception_BN) echo spatial ;; *) echo persistent ;; esac ;;
  esac
}
case "${BN:-spatial}" in
  spatial | persistent | plan) ;;
  *)
    echo "profile_all.sh: BN must be spatial, persistent or plan, got '${BN}'" >&2
    exit 2
    ;;
esac
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
