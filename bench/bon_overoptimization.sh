#!/usr/bin/env bash
# Best-of-N overoptimization on the offline task (issue 19): the quickstart test samples (200 problems x 16)
# picked by single PRMs and by ensembles, each through `prm bon` (whose report has the overoptimization view:
# proxy score of the pick and its accuracy against sqrt(KL_bon)), then one table of prm_min accuracy per N and
# whether the view flags the rule. Members: the fine-tuned PRMs that `SWEEP=finetuned bash bench/grpo_rewards.sh`
# trains (FT=runs/grpo-finetuned/prm-s{0,1,2}) and the quickstart likelihood PRM. Needs `make demo` and those.
#
#   FT=runs/grpo-finetuned OUT=runs/bon-overoptimization bash bench/bon_overoptimization.sh
set -euo pipefail
FT=${FT:-runs/grpo-finetuned}
OUT=${OUT:-runs/bon-overoptimization}
LIKELIHOOD=${LIKELIHOOD:-runs/quickstart/prm}
PYTHON=${PYTHON:-.venv/bin/python}
SAMPLES=runs/quickstart/samples/test.jsonl
PROBLEMS=runs/quickstart/data/test.jsonl
MEMBERS="$FT/prm-s0+$FT/prm-s1+$FT/prm-s2"
declare -A SCORERS=(
  [likelihood]="--prm $LIKELIHOOD"
  [finetuned-s0]="--prm $FT/prm-s0"
  [finetuned-s1]="--prm $FT/prm-s1"
  [finetuned-s2]="--prm $FT/prm-s2"
  [ensemble3-mean]="--prm ensemble --prm-options members=$MEMBERS,aggregate=mean"
  [ensemble3-min]="--prm ensemble --prm-options members=$MEMBERS,aggregate=min"
  [ensemble3-mean_minus_std]="--prm ensemble --prm-options members=$MEMBERS,aggregate=mean_minus_std,k=1"
  [finetuned+likelihood-mean]="--prm ensemble --prm-options members=$FT/prm-s0+$LIKELIHOOD,aggregate=mean"
  [finetuned+likelihood-min]="--prm ensemble --prm-options members=$FT/prm-s0+$LIKELIHOOD,aggregate=min"
)
NAMES=(likelihood finetuned-s0 finetuned-s1 finetuned-s2 ensemble3-mean ensemble3-min ensemble3-mean_minus_std
       finetuned+likelihood-mean finetuned+likelihood-min)
mkdir -p "$OUT"
for name in "${NAMES[@]}"; do
  # shellcheck disable=SC2086
  $PYTHON -m prm.cli score --samples "$SAMPLES" --problems "$PROBLEMS" --output "$OUT/$name.jsonl" --threads 1 \
    ${SCORERS[$name]} > "$OUT/$name.score.log" 2>&1
  $PYTHON -m prm.cli bon --samples "$OUT/$name.jsonl" --problems "$PROBLEMS" --out-dir "$OUT/$name" --seed 0 \
    --rules first,majority,prm_min,oracle > "$OUT/$name.bon.log" 2>&1
done
$PYTHON - "$OUT" "${NAMES[@]}" <<'EOF'
import json, sys
from pathlib import Path
out, names = Path(sys.argv[1]), sys.argv[2:]
ns = json.loads((out / names[0] / "bon.json").read_text())["ns"]
print("| scorer (prm_min) | " + " | ".join(f"N={n}" for n in ns) + " | best N | change from best N [CI] | flagged |")
print("|---|" + "---:|" * (len(ns) + 3))
for name in names:
    data = json.loads((out / name / "bon.json").read_text())
    view = next(v for v in data["overoptimization"] if v["rule"] == "prm_min")
    mean, low, high = (100 * x for x in view["drop"])
    print(f"| {name} | " + " | ".join(f"{100 * g:.1f}" for g in view["gold"])
          + f" | {view['best_n']} | {mean:+.1f} [{low:+.1f}, {high:+.1f}] | {'yes' if view['flagged'] else 'no'} |")
EOF
