#!/usr/bin/env bash
# Pointwise vs pairwise (Bradley-Terry) training on the offline task (issue 19): a PRM (step pairs) and an
# outcome RM (correct vs wrong solutions of a problem) for each objective, HEAD head (two_class: fine-tuned from
# the policy; likelihood: the frozen verifier LM), then a table of the held-out pair accuracy (for the outcome RM
# the within-problem ranking AUC) beside the step metrics. Two runs at a time, one thread each. Needs `make demo`.
#
#   OUT=runs/pairwise-heads HEAD=two_class EPOCHS=1 LR=1e-4 bash bench/pairwise_heads.sh
set -euo pipefail
OUT=${OUT:-runs/pairwise-heads}
HEAD=${HEAD:-two_class}
EPOCHS=${EPOCHS:-1}
LR=${LR:-1e-4}
PYTHON=${PYTHON:-.venv/bin/python}
if [[ $HEAD == likelihood ]]; then MODEL=${MODEL:-runs/quickstart/verifier}; else MODEL=${MODEL:-runs/quickstart/policy}; fi
mkdir -p "$OUT"
run() {  # name, extra options
  # shellcheck disable=SC2086
  $PYTHON -m prm.cli train --head "$HEAD" --data runs/quickstart/labels/train-exact.jsonl \
    --eval-data runs/quickstart/labels/test-exact.jsonl --eval-limit 1000 --model "$MODEL" --out-dir "$OUT/$1" \
    --threads 1 --batch-size 8 --lr "$LR" --epochs "$EPOCHS" --seed 0 --eval-problems none $2 > "$OUT/$1.log" 2>&1
}
run prm-pointwise "" & run prm-pairwise "--objective pairwise" & wait
run orm-pointwise "--outcome" & run orm-pairwise "--outcome --objective pairwise" & wait
$PYTHON - "$OUT" <<'EOF'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
print("| model | objective | pair accuracy (held-out pairs) | step AUC | step accuracy | train s |")
print("|---|---|---:|---:|---:|---:|")
for name in ("prm-pointwise", "prm-pairwise", "orm-pointwise", "orm-pairwise"):
    data = json.loads((out / name / "train_metrics.json").read_text())
    m = data["metrics"]
    print(f"| {name.split('-')[0].upper()} | {name.split('-')[1]} | {100 * m['eval_pair_accuracy']:.2f} "
          f"({m['eval_pairs']:.0f}) | {m['eval_step_auc']:.3f} | {100 * m['eval_step_accuracy']:.1f} "
          f"| {data['train_seconds']:.0f} |")
EOF
