"""The quickstart report: one Markdown page over the stages' outputs (best-of-N, step errors, RMs, labels).

Reads only files the stages wrote (``bon/bon.json``, ``steps/steps_eval.json``, the reward models'
``train_metrics.json``, the label files, the ``runtime`` blocks of the policies' ``policy_meta.json`` and of
the ``*_metrics.json`` files), so it can be rebuilt at any time without rerunning a stage. A stage that a
wall-clock cap stopped short is named in bold at the top and under "Machine".
The plots are the ones ``prm bon`` and ``prm eval steps`` drew, linked from the page.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from data.jsonl import read_jsonl
from data.labelling import agreement
from data.records import StepwiseRow, read_records
from prm.pipeline import StageResult
from prm.quickstart.stages import QuickstartConfig, QuickstartPaths

__all__ = ["cap_warnings", "extra_report_lines", "headline", "machine_lines", "within_problem_auc", "write_report"]

logger = logging.getLogger(__name__)

HEADLINE_RULES = ("first", "majority", "orm", "prm_min", "prm_product", "prm_last", "prm_vote_min", "oracle")


def _load(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _pct(value: float | None) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}"


def headline(bon: dict[str, Any]) -> list[str]:
    """The best-of-N table at the largest N: accuracy and CI per rule, and PRM-min's paired differences."""
    n, curves = bon["ns"][-1], bon["curves"]
    lines = [f"| rule | accuracy @ N={n} (%) | 95% CI |", "|---|---:|---:|"]
    for rule in HEADLINE_RULES:
        if rule in curves:
            curve = curves[rule]
            label = "pass@1 (first sample)" if rule == "first" else rule
            lines.append(f"| {label} | {_pct(curve['accuracy'][-1])} | "
                         f"[{_pct(curve['low'][-1])}, {_pct(curve['high'][-1])}] |")
    differences = bon.get("differences", {}).get("prm_min", {})
    for baseline, diff in differences.items():
        low, high = diff["low"], diff["high"]
        verdict = "better" if low > 0 else "worse" if high < 0 else "no significant difference"
        lines.append(f"\nprm_min vs {baseline} at N={n}: {100 * diff['mean']:+.1f} points "
                     f"[{100 * low:+.1f}, {100 * high:+.1f}], {verdict}.")
    return lines


def _rm_lines(names: Sequence[tuple[str, str]]) -> list[str]:
    keys = ("eval_step_accuracy", "eval_step_auc", "eval_first_error_f1")
    rows = []
    for label, folder in names:
        flat = (_load(Path(folder) / "train_metrics.json") or {}).get("metrics", {})
        cells = [f"{flat[k]:.3f}" if isinstance(flat.get(k), (int, float)) else "n/a" for k in keys]
        rows.append(f"| {label} | {' | '.join(cells)} |")
    return ["| reward model | held-out accuracy | AUC | first-error F1 |", "|---|---:|---:|---:|", *rows, "",
            "On the test samples' exact labels: every step for the PRM, the final-answer label for the ORM."]


def _sample_key(row: StepwiseRow) -> tuple[Any, Any]:
    return row.extra.get("problem_id"), row.extra.get("sample_idx")


def _label_agreement(exact_path: Path, mc_path: Path) -> list[str]:
    """MC hard labels (any rollout reaches the answer) vs exact labels on the samples both labelled, per step
    and on the first error (:func:`data.labelling.agreement`)."""
    if not (exact_path.exists() and mc_path.exists()):
        return []
    exact = {_sample_key(row): row.labels for row in read_records(exact_path, StepwiseRow)}
    mc = [row for row in read_records(mc_path, StepwiseRow) if _sample_key(row) in exact]
    if not mc:
        return []
    result = agreement(mc, [exact[_sample_key(row)] for row in mc])
    return [f"Monte-Carlo hard labels vs exact labels on {len(mc)} training samples: step agreement "
            f"{100 * result['step_agreement']:.1f}%, same first error {100 * result['first_error_agreement']:.1f}%."]


def within_problem_auc(groups: Sequence[Sequence[tuple[float, bool]]]) -> float:
    """P(a correct sample outscores a wrong one of the same problem), ties half: the ranking best-of-N uses."""
    wins = pairs = 0.0
    for group in groups:
        right = [score for score, ok in group if ok]
        wrong = [score for score, ok in group if not ok]
        for a in right:
            for b in wrong:
                pairs += 1
                wins += 1.0 if a > b else 0.5 if a == b else 0.0
    return wins / pairs if pairs else math.nan


def _ranking_lines(scored_path: Path, exact_path: Path) -> list[str]:
    """Within-problem AUC of the PRM (min over steps) and the ORM (last step), against the answer check."""
    if not (scored_path.exists() and exact_path.exists()):
        return []
    correct = {(r.get("problem_id"), r.get("sample_idx")): r.get("answer_correct") for _, r in read_jsonl(exact_path)}
    groups: dict[str, dict[str, list[tuple[float, bool]]]] = {"PRM (min)": {}, "ORM": {}}
    for _, row in read_jsonl(scored_path):
        ok = correct.get((row.get("problem_id"), row.get("sample_idx")))
        if not isinstance(ok, bool):
            continue
        for name, field, pick in (("PRM (min)", "step_scores", min), ("ORM", "orm_step_scores", lambda v: v[-1])):
            scores = [x for x in row.get(field) or [] if x is not None]
            if scores:
                groups[name].setdefault(str(row.get("problem_id")), []).append((pick(scores), ok))
    cells = [f"{name} {within_problem_auc(list(by_problem.values())):.3f}" for name, by_problem in groups.items()]
    return [f"Within-problem ranking AUC (a correct sample outscores a wrong one of the same problem; 0.5 is "
            f"chance): {', '.join(cells)}."]


def _points(row: dict[str, Any]) -> str:
    low, high = 100 * row["low"], 100 * row["high"]
    verdict = "better" if low > 0 else "worse" if high < 0 else "no significant difference"
    return f"{100 * row['difference']:+.1f} [{low:+.1f}, {high:+.1f}], {verdict}"


def search_lines(compare: dict[str, Any], folder: str) -> list[str]:
    """Beam search against best-of-N: each method's accuracy at its budgets, and the paired difference from the
    baseline (weighted best-of-N) at the same n and at equal generated tokens (interpolated)."""
    lines = ["| method | n | tokens/problem | PRM calls/problem | accuracy (%) | 95% CI |",
             "|---|---:|---:|---:|---:|---:|"]
    searched = {run["n"] for run in compare["runs"] if run["strategy"] != "best_of_n"}
    for method in compare["methods"]:
        for point in (p for p in method["points"] if p["n"] in searched):
            lines.append(f"| {method['name']} | {point['n']} | {point['tokens']:.0f} | {point['prm_calls']:.0f} | "
                         f"{_pct(point['accuracy'])} | [{_pct(point['low'])}, {_pct(point['high'])}] |")
    lines += ["", f"Baseline: {compare['baseline']} (best-of-N, the PRM's weighted vote). Paired differences "
                  "(points, 95% CI over problems):", ""]
    equal = {(row["method"], row["n"]): row for row in compare["equal_tokens"]}
    for row in compare["comparisons"]:
        if row["method"].startswith("best_of_n"):
            continue
        at_equal = equal.get((row["method"], row["n"])) or {}
        between = at_equal.get("between") or [None, None]
        tokens = ("" if at_equal.get("difference") is None or between[0] == between[1] else
                  f"; at equal tokens (baseline interpolated between n={between[0]} and n={between[1]}) "
                  f"{_points(at_equal)}")
        lines.append(f"- {row['method']} vs the baseline at n={row['n']} ({row['token_ratio']:.2f}x its tokens): "
                     f"{_points(row)}{tokens}.")
    return [*lines, "", f"![accuracy vs generated tokens]({folder}/search_compare.png)", "",
            f"Full tables, difficulty bins and notes: [{folder}/search_compare.md]({folder}/search_compare.md)."]


def _stage_lines(results: Sequence[StageResult], wall_seconds: float) -> list[str]:
    rows = [f"| {r.name} | {r.seconds:.0f} | {'cached' if r.cached else 'ran'} | `{r.command}` |" for r in results]
    return ["| stage | seconds | this run | command |", "|---|---:|---|---|", *rows, "",
            f"This run took {wall_seconds / 60:.1f} min of wall-clock time (stages of one group run side by side; "
            "cached stages are not run again)."]


def _stage_runtimes(paths: QuickstartPaths) -> list[tuple[str, dict[str, Any]]]:
    """(stage, runtime block) for every stage output that recorded one (``prm.runtime.stage_record``)."""
    from prm.runtime import metrics_path

    sources = [("policy", paths.policy / "policy_meta.json"), ("verifier lm", paths.verifier / "policy_meta.json"),
               ("sample test", metrics_path(paths.test_samples)), ("sample train", metrics_path(paths.train_samples)),
               ("train prm", paths.prm / "train_metrics.json"), ("train orm", paths.orm / "train_metrics.json"),
               ("score test prm", metrics_path(paths.scored_prm)), ("sample hf", metrics_path(paths.hf_samples))]
    found = []
    for name, path in sources:
        runtime = (_load(path) or {}).get("runtime")
        if runtime:
            found.append((name, runtime))
    return found


def _speed(runtime: dict[str, Any]) -> str:
    if runtime.get("tokens_per_s") is not None:
        return f"{runtime['tokens_per_s']:,.0f} tokens/s"
    if runtime.get("rows_per_s") is not None:
        return f"{runtime['rows_per_s']:,.1f} rows/s"
    return ""


def cap_warnings(runtimes: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
    """A bold line for every stage that a wall-clock cap stopped before its step budget."""
    lines = []
    for name, runtime in runtimes:
        budget = runtime.get("budget") or {}
        if budget.get("stopped_by") == "minutes":
            lines.append(f"**{name}: {budget['steps']:,} of {budget['max_steps']:,} steps, stopped by --minutes "
                         f"{budget['minutes']:g}: the numbers above come from an under-trained model.**")
    return lines


def machine_lines(runtimes: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
    """The machine the run used (the first stage's record, else this process) and each stage's precision."""
    from prm.runtime import machine_info

    machine = runtimes[0][1]["machine"] if runtimes else machine_info()
    forced = ", ".join(f"{k}={v}" for k, v in (machine.get("forced_isa") or {}).items())
    native = "yes" if machine["cpu_native_bf16"] else "no"
    lines = [f"CPU {machine['cpu']} ({machine['cores']} cores, torch capability {machine['cpu_capability']}"
             f"{', forced: ' + forced if forced else ''}), native bf16 {native}; "
             f"GPU {machine.get('gpu') or 'none'}; torch {machine['torch']}, transformers {machine['transformers']}, "
             f"vllm {machine.get('vllm') or 'not installed'}.", ""]
    if runtimes:
        lines += ["| stage | device | precision | speed | steps |", "|---|---|---|---:|---:|"]
        for name, runtime in runtimes:
            budget = runtime.get("budget") or {}
            steps = f"{budget['steps']:,} of {budget['max_steps']:,}" if budget.get("max_steps", 0) > 0 else ""
            lines.append(f"| {name} | {runtime['device']} | {runtime['precision']} | {_speed(runtime)} | {steps} |")
    return lines


def _hf_pass_lines(paths: QuickstartPaths, problems: str) -> list[str]:
    """pass@1 of the transformers-backend samples on their problems (the sympy answer check)."""
    from data.loaders import load_problems
    from verifiers import verify

    if not paths.hf_samples.exists():
        return []
    gold = {p.id: p.answer for p in load_problems(problems, split="test")}
    samples = [row for _, row in read_jsonl(paths.hf_samples) if row.get("problem_id") in gold]
    if not samples:
        return []
    right = sum(verify(gold[row["problem_id"]], row["text"]).is_equal for row in samples)
    truncated = sum(row.get("finish_reason") == "length" for row in samples)
    problems_seen = len({row["problem_id"] for row in samples})
    return [f"{problems} test, {problems_seen} problems x {len(samples) // problems_seen} samples through the "
            f"transformers backend: pass@1 {100 * right / len(samples):.1f}% ({right} of {len(samples)}); "
            f"{truncated} ran to the token limit."]


def _grpo_lines(paths: QuickstartPaths) -> list[str]:
    """The short GRPO run, step by step: answer accuracy, the combined reward, seconds per step."""
    path = paths.grpo / "metrics.jsonl"
    if not path.exists():
        return []
    rows = [row for _, row in read_jsonl(path) if "accuracy" in row or "reward/combined/mean" in row]
    if not rows:
        return []
    lines = ["| GRPO step | accuracy (%) | combined reward | PRM process reward | seconds |",
             "|---:|---:|---:|---:|---:|"]
    for row in rows:
        lines.append(f"| {row['step']} | {100 * row.get('accuracy', float('nan')):.1f} | "
                     f"{row.get('reward/combined/mean', float('nan')):.3f} | "
                     f"{row.get('reward/prm_process/mean', float('nan')):.3f} | {row.get('time/step_s', 0):.0f} |")
    return lines


def extra_report_lines(paths: QuickstartPaths, config: QuickstartConfig) -> list[str]:
    """The report's section on the optional stages (empty when none ran)."""
    lines = [*_hf_pass_lines(paths, config.hf_problems)]
    grpo = _grpo_lines(paths)
    if grpo:
        lines += ["", f"A short GRPO run (LoRA, rewards `answer,prm_process:0.5`, {config.grpo_steps} steps):", "",
                  *grpo]
    return ["## Transformers sampling and GRPO", "", *lines, ""] if lines else []


def write_report(paths: QuickstartPaths, results: Sequence[StageResult], rms: Sequence[tuple[str, str]],
                 wall_seconds: float = 0.0, setup: Sequence[str] = (), extra: Sequence[str] = ()) -> Path:
    """Write ``paths.report`` from the stage outputs; returns its path. ``setup``: lines on which models
    sampled and which verified, shown under the title; ``extra``: a section before "Machine"."""
    bon = _load(paths.bon / "bon.json")
    steps = _load(paths.steps / "steps_eval.json")
    runtimes = _stage_runtimes(paths)
    caps = cap_warnings(runtimes)
    lines = ["# prm quickstart", "",
             "PRM vs learned ORM vs majority vote vs oracle on the test problems (best-of-N), step-error "
             "detection, and what every stage did. Rerun any stage with the command in the last table.", "",
             *setup, *([""] if setup else []), *[line + "\n" for line in caps]]
    if bon:
        lines += ["## Best-of-N", "", *headline(bon), "", "![accuracy vs N](bon/bon.png)", "",
                  "Full table, breakdowns and wrong-step rates: [bon/bon.md](bon/bon.md).", ""]
    compare = _load(paths.search_compare / "search_compare.json")
    if compare:
        folder = str(paths.search_compare.relative_to(paths.root))
        lines += ["## Search: beam search guided by the PRM vs best-of-N", "", *search_lines(compare, folder), ""]
    if steps:
        test = steps["test"]
        lines += ["## First-error detection (exact labels of the test samples)", "",
                  f"Threshold {steps['threshold']:.3f} (chosen on {steps['dev_source']}): accuracy on erroneous "
                  f"{_pct(test.get('error_accuracy'))}%, on correct {_pct(test.get('correct_accuracy'))}%, "
                  f"F1 {_pct(test.get('f1'))}%.", "", "![F1 vs threshold](steps/steps_f1.png)", ""]
    lines += ["## Reward models", "", *_rm_lines(rms), "",
              *_ranking_lines(paths.scored, paths.test_exact), ""]
    lines += [*_label_agreement(paths.train_exact, paths.train_mc), "", *extra]
    lines += ["## Machine", "", *machine_lines(runtimes), "", *[line + "\n" for line in caps]]
    lines += ["## Stages", "", *_stage_lines(results, wall_seconds), ""]
    path = paths.report
    path.write_text("\n".join(lines), encoding="utf-8")
    logger.info("report written to %s", path)
    return path
