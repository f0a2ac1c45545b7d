#!/usr/bin/env bash
# Trains the nine study networks one after another with `ptqbench train`, each into OUT/<model>/,
# then merges their summary.json files into OUT/accuracy.csv (scripts/train_summary_csv.py).
#
# Usage: scripts/train_all.sh OUT [more `ptqbench train` options, e.g. --optimizer adam]
# Environment:
#   PTQBENCH   the binary (default build/cli/ptqbench)
#   DATA       the data folder (--data); unset: ptqbench's own search ($PTQBENCH_DATA, ...)
#   EPOCHS     epochs per network (default 30); EPOCHS_<model> overrides it for one network,
#              e.g. EPOCHS_VGG_19=20 EPOCHS_ResNet_152=15
#   OPTS_<model>  more `ptqbench train` options for one network, after the common ones
#              (split on spaces), e.g. OPTS_ResNet_152="--batch 512 --lr 0.4"
#   MODELS     the networks to train, space-separated (default: the nine, in the study's order)
# A network whose folder already holds a resume state is resumed (a finished one only reports
# again); one that fails is reported and the others still train; the exit code is 1 if any failed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
if [ $# -lt 1 ]; then
  sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
out="$1"
shift
ptqbench="${PTQBENCH:-build/cli/ptqbench}"
if [ ! -x "$ptqbench" ]; then
  echo "train_all.sh: no ptqbench at $ptqbench (build it, or set PTQBENCH)" >&2
  exit 2
fi
models="${MODELS:-$("$ptqbench" models --csv | tail -n +2 | cut -d, -f1 | uniq | tr '\n' ' ')}"
data_args=()
[ -n "${DATA:-}" ] && data_args=(--data "$DATA")
mkdir -p "$out"

failed=()
start=$(date +%s)
for model in $models; do
  epochs_var="EPOCHS_${model}"
  epochs="${!epochs_var:-${EPOCHS:-30}}"
  opts_var="OPTS_${model}"
  read -r -a model_opts <<<"${!opts_var:-}"
  dir="$out/$model"
  resume=()
  [ -f "$dir/resume.txt" ] && resume=(--resume)
  echo "=== $model: $epochs epochs ${model_opts[*]} -> $dir"
  mkdir -p "$dir"
  if ! "$ptqbench" train --model "$model" --epochs "$epochs" --out "$dir" "${data_args[@]}" \
      "${resume[@]}" "$@" "${model_opts[@]}" 2>&1 | tee -a "$dir/train.log"; then
    echo "=== $model FAILED (see $dir/train.log)"
    failed+=("$model")
  fi
done
echo "=== all done in $(( $(date +%s) - start )) s"

# shellcheck disable=SC2086
python3 scripts/train_summary_csv.py "$out" $models
if [ ${#failed[@]} -gt 0 ]; then
  echo "failed: ${failed[*]}" >&2
  exit 1
fi
