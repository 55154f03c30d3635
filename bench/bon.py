"""Benchmark: best-of-N harness time for 500 problems x 64 samples from cached scores.

Synthetic scored samples are generated in-process with a seeded rng (answers from a small set per
problem, some written two ways; correctness; step scores that favour correct solutions; a learned-ORM
score; step labels with some correct answers reached through a wrong step). Printed:

- the time to group the samples (answer clustering) and to run the full harness (all rules,
  N = 1..64, ``--trials`` subsets, bootstrap CIs);
- the same subset loop written naively in pure Python (``eval.selection.choose`` per subset, on the
  very same random orders, measured on ``--baseline-trials`` trials and scaled to ``--trials``: it is
  linear in trials) against the vectorised loop with the features already computed, and their ratio;
  the two must agree exactly.

Run: ``.venv/bin/python bench/bon.py [--problems 500 --samples 64 --trials 200]``.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eval.answers import AnswerClusterer  # noqa: E402
from eval.bon import BonConfig, BonProblem, draw_orders, n_values, run_bon  # noqa: E402
from eval.inputs import build_problems  # noqa: E402
from eval.selection import SELECTION_RULES, RuleNotApplicable, choose  # noqa: E402


def _answer(value: int, rng: random.Random) -> str:
    return f"{value}.0" if rng.random() < 0.2 else str(value)


def make_samples(problems: int, samples: int, seed: int = 0) -> list[dict]:
    """Scored sample rows: per problem a gold answer, a skill level, and `samples` noisy solutions."""
    rng = random.Random(seed)
    rows = []
    for p in range(problems):
        gold = rng.randint(2, 500)
        wrong = [gold + 1, gold - 1, 2 * gold, gold + 10, gold * 3 + 1]
        skill = rng.betavariate(1.2, 2.0)
        for i in range(samples):
            steps = rng.randint(2, 5)
            correct = rng.random() < skill
            flawed = correct and rng.random() < 0.12
            error_at = rng.randrange(steps) if not correct else (rng.randrange(steps - 1) if flawed else -1)
            scores = [min(1.0, max(0.0, rng.gauss(0.8, 0.12))) for _ in range(steps)]
            if error_at >= 0:
                scores[error_at] = min(1.0, max(0.0, rng.gauss(0.45, 0.2)))
            value = gold if correct else rng.choice(wrong[: rng.randint(1, len(wrong))])
            answer = _answer(value, rng) if rng.random() > 0.03 else None
            rows.append({
                "problem_id": f"p{p}", "sample_idx": i, "text": f"... \\boxed{{{answer}}}" if answer else "...",
                "steps": [f"step {j}" for j in range(steps)], "answer": answer,
                "verdict": ("correct" if correct else "incorrect") if answer else "unparsable",
                "step_scores": scores, "orm_score": min(1.0, max(0.0, rng.gauss(0.65 if correct else 0.45, 0.2))),
                "step_labels": [0.0 if j == error_at else 1.0 for j in range(steps)],
            })  # fmt: skip
    return rows


def naive_accuracy(problems: list[BonProblem], rule_names: list[str], ns: list[int], trials: int,
                   seed: int) -> dict[str, np.ndarray]:
    """The same subset loop in pure Python: ``choose`` on each subset of the same random orders."""
    out = {name: np.zeros((len(ns), len(problems))) for name in rule_names}
    for column, problem in enumerate(problems):
        orders = draw_orders(problem.problem_id, len(problem.group), trials, seed).tolist()
        correct = problem.group.correct
        for name in rule_names:
            try:
                features = SELECTION_RULES[name].features(problem.group)
            except RuleNotApplicable:
                continue
            for k, size in enumerate(ns):
                hits = sum(correct[choose(features, order[:size])] for order in orders)
                out[name][k, column] = hits / trials
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=500)
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--baseline-trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rows = make_samples(args.problems, args.samples, args.seed)
    start = time.perf_counter()
    problems, _ = build_problems(rows, None, "field", AnswerClusterer())
    group_s = time.perf_counter() - start
    result = run_bon(problems, BonConfig(trials=args.trials, seed=args.seed))
    total_s = time.perf_counter() - start
    print(f"{args.problems} problems x {args.samples} samples, {len(result.rules)} rules, N={result.ns}, "
          f"{args.trials} trials")
    print(f"harness: grouping {group_s:.2f} s + subsets/bootstrap {result.seconds:.2f} s = {total_s:.2f} s")

    start = time.perf_counter()
    run_bon(problems, BonConfig(trials=args.trials, seed=args.seed, bootstrap=1))  # features cached now
    warm_s = time.perf_counter() - start
    start = time.perf_counter()
    fast = run_bon(problems, BonConfig(trials=args.baseline_trials, seed=args.seed, bootstrap=1))
    fast_s = time.perf_counter() - start
    start = time.perf_counter()
    slow = naive_accuracy(problems, fast.rules, n_values(args.samples), args.baseline_trials, args.seed)
    slow_s = time.perf_counter() - start
    same = all(np.array_equal(slow[name], fast.per_problem[name]) for name in fast.rules)
    full_s = slow_s * args.trials / args.baseline_trials
    print(f"subset loop, {args.trials} trials, features cached: numpy {warm_s:.2f} s; pure Python "
          f"{full_s:.1f} s (measured {slow_s:.2f} s at {args.baseline_trials} trials, linear in trials); "
          f"ratio {full_s / warm_s:.0f}x")
    print(f"at {args.baseline_trials} trials: numpy {fast_s:.3f} s, pure Python {slow_s:.2f} s, "
          f"ratio {slow_s / fast_s:.0f}x; identical choices: {same}")
    summary = ", ".join(f"{name} {100 * result.curves[name].accuracy[-1]:.1f}" for name in
                        ("first", "majority", "orm", "prm_min", "prm_vote_min", "oracle"))
    print(f"accuracy at N={result.ns[-1]} (%): {summary}")
    if not same:
        raise SystemExit("vectorised and pure-Python choices differ")


if __name__ == "__main__":
    main()
