#!/usr/bin/env bash
# GRPO reward comparison on the offline task (issue 19): answer vs PRM outcome vs PRM process (sum and PURE's
# min credit) vs answer + process, SEEDS seeds each, the same budget (STEPS steps), two runs at a time on one
# thread each, then `prm grpo compare` (held-out pass@1 change with 95% CIs over seeds, the overoptimization
# view: gold and proxy reward against sqrt(KL)). Needs `make demo` first (its policy and likelihood PRM).
#
#   bash bench/grpo_rewards.sh [OUT=runs/grpo-rewards] [SEEDS="0 1 2"] [STEPS=50]
set -euo pipefail
OUT=${OUT:-runs/grpo-rewards}
SEEDS=${SEEDS:-"0 1 2"}
STEPS=${STEPS:-50}
POLICY=${POLICY:-runs/quickstart/policy}
PRM=${PRM:-runs/quickstart/prm}
PYTHON=${PYTHON:-.venv/bin/python}
declare -A REWARDS=(
  [answer]="--rewards answer:1.0,prm_outcome:0"          # the PRM watched (weight 0), not trained on
  [prm_outcome]="--rewards prm_outcome:1.0"
  [prm_process]="--rewards prm_process:1.0"
  [prm_process_min]="--rewards prm_process:1.0 --process-credit min"
  [answer_process]="--rewards answer:1.0,prm_process:0.5"
)
mkdir -p "$OUT"
running=0
for seed in $SEEDS; do
  for name in answer prm_outcome prm_process prm_process_min answer_process; do
    # shellcheck disable=SC2086
    $PYTHON -m prm.cli grpo --model "$POLICY" --prm "$PRM" --out-dir "$OUT/$name-s$seed" --seed "$seed" \
      --max-steps "$STEPS" --threads 1 ${REWARDS[$name]} > "$OUT/$name-s$seed.log" 2>&1 &
    running=$((running + 1))
    if (( running % 2 == 0 )); then wait; fi
  done
done
wait
folders=()
for name in answer prm_outcome prm_process prm_process_min answer_process; do
  for seed in $SEEDS; do folders+=("$OUT/$name-s$seed"); done
done
$PYTHON -m prm.cli grpo compare "${folders[@]}" --out-dir "$OUT/compare"
