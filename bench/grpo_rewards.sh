#!/usr/bin/env bash
# GRPO reward comparisons on the offline task (issue 19), SEEDS seeds per reward, the same budget (STEPS steps), two
# runs at a time on one thread each, then `prm grpo compare` (held-out pass@1 change with 95% CIs over seeds, the
# overoptimization view: gold and proxy reward against sqrt(KL), seeds where the monitor fired). Needs `make demo`.
#
#   SWEEP=likelihood: the quickstart likelihood PRM (it ranks within a problem): answer vs PRM outcome vs PRM
#     process (sum and PURE's min credit) vs answer + process.
#   SWEEP=finetuned: a PRM fine-tuned from the policy (two_class, trained here on the quickstart labels, seeds
#     0-2, unless OUT/prm-sK exists): answer (watching the PRM) vs PRM outcome vs an ensemble of the three
#     (mean - 1 std) vs an ensemble of the first and the likelihood PRM (min) vs PRM process with and without
#     --process-clip; the case where a PRM is exploited.
#
#   SWEEP=likelihood|finetuned OUT=runs/grpo-rewards SEEDS="0 1 2" STEPS=50 bash bench/grpo_rewards.sh
set -euo pipefail
SWEEP=${SWEEP:-likelihood}
OUT=${OUT:-runs/grpo-$SWEEP}
SEEDS=${SEEDS:-"0 1 2"}
STEPS=${STEPS:-50}
POLICY=${POLICY:-runs/quickstart/policy}
PYTHON=${PYTHON:-.venv/bin/python}
mkdir -p "$OUT"
if [[ $SWEEP == finetuned ]]; then
  for s in 0 1 2; do
    [[ -f $OUT/prm-s$s/prm_config.json ]] && continue
    $PYTHON -m prm.cli train --head two_class --data runs/quickstart/labels/train-exact.jsonl \
      --eval-data runs/quickstart/labels/test-exact.jsonl --eval-limit 1000 --model "$POLICY" --out-dir "$OUT/prm-s$s" \
      --threads 1 --batch-size 16 --lr 1e-4 --seed "$s" --eval-problems none > "$OUT/prm-s$s.log" 2>&1
  done
  PRM=${PRM:-$OUT/prm-s0}
  ENSEMBLE="--prm ensemble --prm-options members=$OUT/prm-s0+$OUT/prm-s1+$OUT/prm-s2,aggregate=mean_minus_std,k=1"
  MIXED="--prm ensemble --prm-options members=$OUT/prm-s0+runs/quickstart/prm,aggregate=min"
  NAMES=(answer prm_outcome prm_outcome_ensemble prm_outcome_mixed prm_process prm_process_clip)
else
  PRM=${PRM:-runs/quickstart/prm}
  NAMES=(answer prm_outcome prm_process prm_process_min answer_process)
fi
declare -A REWARDS=(
  [answer]="--prm $PRM --rewards answer:1.0,prm_outcome:0"          # the PRM watched (weight 0), not trained on
  [prm_outcome]="--prm $PRM --rewards prm_outcome:1.0"
  [prm_outcome_ensemble]="${ENSEMBLE:-} --rewards prm_outcome:1.0"
  [prm_outcome_mixed]="${MIXED:-} --rewards prm_outcome:1.0"
  [prm_process]="--prm $PRM --rewards prm_process:1.0"
  [prm_process_clip]="--prm $PRM --rewards prm_process:1.0 --process-clip 0.5"
  [prm_process_min]="--prm $PRM --rewards prm_process:1.0 --process-credit min"
  [answer_process]="--prm $PRM --rewards answer:1.0,prm_process:0.5"
)
running=0
for seed in $SEEDS; do
  for name in "${NAMES[@]}"; do
    # shellcheck disable=SC2086
    $PYTHON -m prm.cli grpo --model "$POLICY" --out-dir "$OUT/$name-s$seed" --seed "$seed" \
      --max-steps "$STEPS" --threads 1 ${REWARDS[$name]} > "$OUT/$name-s$seed.log" 2>&1 &
    running=$((running + 1))
    if (( running % 2 == 0 )); then wait; fi
  done
done
wait
folders=()
for name in "${NAMES[@]}"; do
  for seed in $SEEDS; do folders+=("$OUT/$name-s$seed"); done
done
$PYTHON -m prm.cli grpo compare "${folders[@]}" --out-dir "$OUT/compare"
