"""Reports: Markdown tables, JSON and PNG plots for the best-of-N harness and the step-error evaluation.

``write_bon_report(result, out_dir)`` writes ``bon.md``, ``bon.json`` and ``bon.png`` (accuracy vs N
per rule, log2 x-axis, confidence bands), and ``bon_overoptimization.png`` (gold and proxy of the pick against
sqrt(KL_bon), :mod:`eval.bon_monitor`) when a rule picks by a reward model; ``write_steps_report(result,
out_dir)`` writes ``steps_eval.md``, ``steps_eval.json`` and ``steps_f1.png`` (F1 and both accuracies vs threshold).
Plots use matplotlib's Agg backend, imported only when a plot is drawn. NaN becomes null in JSON.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from eval.bon import PASS_AT_K, BonResult
from eval.bon_monitor import BonOveroptimization, bon_overoptimization
from eval.selection import SELECTION_RULES
from eval.steps_eval import StepsEvalResult

__all__ = ["bon_markdown", "markdown_table", "pct", "plot_bon", "plot_bon_overoptimization", "plot_steps", "pyplot",
           "steps_markdown", "save_figure", "write_bon_report", "write_json", "write_steps_report"]

logger = logging.getLogger(__name__)

BASELINES = ("majority", "orm", "first")


def _jsonable(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(_jsonable(data), indent=2) + "\n", encoding="utf-8")


def pct(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{100 * value:.1f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _curve_rows(result: BonResult) -> list[list[str]]:
    rows = []
    for name, curve in result.curves.items():
        label = "pass@k (unbiased)" if name == PASS_AT_K else name
        rows.append([label] + [f"{pct(a)} [{pct(lo)}, {pct(hi)}]"
                               for a, lo, hi in zip(curve.accuracy, curve.low, curve.high, strict=True)])
    return rows


def _difference_lines(result: BonResult) -> list[str]:
    baselines = [b for b in BASELINES if b in result.rules]
    if not baselines:
        return []
    n = result.ns[-1]
    rows = []
    for rule in result.rules:
        cells = []
        for baseline in baselines:
            mean, low, high = result.difference(rule, baseline)
            mark = " *" if low > 0 or high < 0 else ""
            cells.append(f"{100 * mean:+.1f} [{100 * low:+.1f}, {100 * high:+.1f}]{mark}")
        rows.append([rule, *cells])
    return ["", f"## Paired differences at N={n} (points; * = CI excludes 0)", "",
            *markdown_table(["rule", *(f"vs {b}" for b in baselines)], rows)]


def _wrong_step_lines(result: BonResult) -> list[str]:
    rows = [[rule, pct(result.curves[rule].accuracy[-1]), pct(s["share_of_correct"]), pct(s["share_of_picks"]),
             pct(s["labelled_share_of_correct"])] for rule, s in result.wrong_step.items()]
    if all(row[2] == "n/a" for row in rows):
        return ["", "Correct answer but a wrong step: no step labels for the correct picks."]
    return ["", f"## Correct answer, wrong step (N={result.ns[-1]}, %)", "",
            *markdown_table(["rule", "accuracy", "wrong step / correct picks", "wrong step / all picks",
                     "correct picks with labels"], rows)]


def _overoptimization_lines(views: Sequence[BonOveroptimization]) -> list[str]:
    if not views:
        return []
    rows = []
    for view in views:
        best = view.ns.index(view.best_n)
        mean, low, high = view.drop
        rows.append([view.rule, f"{view.proxy[0]:.3f} -> {view.proxy[-1]:.3f}",
                     f"{view.best_n} ({pct(view.gold[best])})", pct(view.gold[-1]),
                     f"{100 * mean:+.1f} [{100 * low:+.1f}, {100 * high:+.1f}]", "**yes**" if view.flagged else "no"])
    kl = views[0].sqrt_kl[-1]
    return ["", f"## Overoptimization (best-of-N; sqrt KL_bon at N={views[0].ns[-1]}: {kl:.2f})", "",
            "Proxy: mean reward-model score of the pick; gold: its accuracy; KL_bon(N) = log N - (N-1)/N. "
            "Overoptimized: accuracy at the largest N below the best N's (paired CI) while the proxy rose "
            "(bon_overoptimization.png).", "",
            *markdown_table(["rule", "proxy N=1 -> max", "best N (accuracy)", "accuracy at max N",
                             "change from best N [CI]", "overoptimized"], rows)]


def _breakdown_lines(result: BonResult) -> list[str]:
    lines = []
    names = result.rules
    for field_name, table in result.breakdown.items():
        rows = [[value, str(entry["problems"]), *(pct(entry["accuracy"][r][-1]) for r in names)]
                for value, entry in table.items()]
        lines += ["", f"## By {field_name} (N={result.ns[-1]}, %)", "",
                  *markdown_table([field_name, "problems", *names], rows)]
    return lines


def bon_markdown(result: BonResult, title: str = "Best-of-N",
                 views: Sequence[BonOveroptimization] | None = None) -> str:
    """The report: rules x N table with CIs, paired differences, wrong-step counts, the overoptimization view
    (``views``, default computed from ``result``), breakdowns, notes."""
    views = bon_overoptimization(result) if views is None else views
    sizes = result.samples_per_problem
    per = f"{min(sizes)}" if min(sizes) == max(sizes) else f"{min(sizes)}-{max(sizes)}"
    config = result.config
    lines = [
        f"# {title}", "",
        f"{len(result.problem_ids)} problems, {per} samples each; accuracy (%) over {config.trials} random subsets "
        f"of size N per problem; [{100 * config.confidence:.0f}% bootstrap CI over problems, "
        f"{config.bootstrap} resamples]. Harness time {result.seconds:.2f} s.", "",
        *markdown_table(["rule", *(f"N={n}" for n in result.ns)], _curve_rows(result)),
    ]  # fmt: skip
    lines += _difference_lines(result) + _wrong_step_lines(result) + _overoptimization_lines(views)
    lines += _breakdown_lines(result)
    if result.notes:
        lines += ["", "## Notes", "", *(f"- {note}" for note in result.notes)]
    lines += ["", "## Rules", "", *(f"- `{r}`: {SELECTION_RULES[r].help}" for r in result.rules)]
    return "\n".join(lines) + "\n"


def pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str | Path) -> Path:
    """Lay out, write as PNG (120 dpi) and close ``fig``."""
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    pyplot().close(fig)
    return Path(path)


def _bon_style(name: str, index: int) -> dict[str, Any]:
    """Baselines in fixed colours; PRM rules coloured by aggregation, solid for best-of-N, dashed for votes."""
    if name == PASS_AT_K:
        return {"color": "black", "linestyle": ":", "marker": None}
    if name in _BASE_COLORS:
        return {"color": _BASE_COLORS[name], "linestyle": "-", "marker": "s" if name == "oracle" else "o"}
    for aggregation, color in _AGG_COLORS.items():
        if name.startswith("prm_") and name.endswith(f"_{aggregation}"):
            return {"color": color, "linestyle": "--" if name.startswith("prm_vote_") else "-", "marker": "o"}
    return {"color": f"C{index % 10}", "linestyle": "-.", "marker": "o"}


_BASE_COLORS = {"first": "tab:gray", "majority": "tab:blue", "orm": "tab:orange", "oracle": "black"}
_AGG_COLORS = {"min": "tab:red", "product": "tab:purple", "last": "tab:brown", "mean": "tab:green"}


def plot_bon(result: BonResult, path: str | Path) -> Path:
    """Accuracy vs N per rule (log2 x-axis) with confidence bands; pass@k dotted."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 5.5))
    for i, (name, curve) in enumerate(result.curves.items()):
        style = _bon_style(name, i)
        label = "pass@k (unbiased)" if name == PASS_AT_K else name
        ax.plot(result.ns, [100 * v for v in curve.accuracy], markersize=3, label=label, linewidth=1.5, **style)
        if name != PASS_AT_K:
            ax.fill_between(result.ns, [100 * v for v in curve.low], [100 * v for v in curve.high], alpha=0.08,
                            color=style["color"], linewidth=0)
    ax.set_xscale("log", base=2)
    ax.set_xticks(result.ns, [str(n) for n in result.ns])
    ax.set_xlabel("N (samples per problem)")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(f"Best-of-N: {len(result.problem_ids)} problems, {100 * result.config.confidence:.0f}% CI bands "
                 "(dashed: PRM-weighted vote)")
    ax.grid(alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8)
    return save_figure(fig, path)


def plot_bon_overoptimization(views: Sequence[BonOveroptimization], path: str | Path) -> Path:
    """Gold (accuracy of the pick) and proxy (its reward-model score) against sqrt(KL_bon), one line per rule."""
    plt = pyplot()
    fig, (gold_ax, proxy_ax) = plt.subplots(1, 2, figsize=(11, 4.5))
    for i, view in enumerate(views):
        style = _bon_style(view.rule, i)
        gold_ax.plot(view.sqrt_kl, [100 * g for g in view.gold], label=view.rule, markersize=3, **style)
        proxy_ax.plot(view.sqrt_kl, view.proxy, label=view.rule, markersize=3, **style)
    for n, x in zip(views[0].ns, views[0].sqrt_kl, strict=True):
        gold_ax.axvline(x, color="gray", alpha=0.15, linewidth=0.8)
        gold_ax.annotate(f"N={n}", (x, 0.02), xycoords=("data", "axes fraction"), fontsize=6, alpha=0.7)
    gold_ax.set_ylabel("gold: accuracy of the pick (%)")
    proxy_ax.set_ylabel("proxy: reward-model score of the pick")
    for ax in (gold_ax, proxy_ax):
        ax.set_xlabel("sqrt(KL_bon), KL_bon = log N - (N-1)/N")
        ax.grid(alpha=0.3)
    proxy_ax.legend(fontsize=8)
    fig.suptitle("Best-of-N overoptimization: the gold should not fall while the proxy rises")
    return save_figure(fig, path)


def write_bon_report(result: BonResult, out_dir: str | Path, title: str = "Best-of-N") -> dict[str, Path]:
    """Write ``bon.md``, ``bon.json`` and ``bon.png`` under ``out_dir``; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"markdown": out / "bon.md", "json": out / "bon.json", "plot": out / "bon.png"}
    views = bon_overoptimization(result)
    paths["markdown"].write_text(bon_markdown(result, title, views), encoding="utf-8")
    data = result.to_dict()
    data["differences"] = {rule: {b: dict(zip(("mean", "low", "high"), result.difference(rule, b), strict=True))
                                  for b in BASELINES if b in result.rules} for rule in result.rules}
    data["overoptimization"] = [asdict(view) for view in views]
    write_json(paths["json"], data)
    plot_bon(result, paths["plot"])
    if views:
        paths["overoptimization_plot"] = plot_bon_overoptimization(views, out / "bon_overoptimization.png")
    logger.info("wrote %s", ", ".join(str(p) for p in paths.values()))
    return paths


def steps_markdown(result: StepsEvalResult) -> str:
    """Threshold, dev and test metrics, the test-set ceiling, breakdowns and skipped rows."""
    header = ["set", "cases", "erroneous", "correct", "accuracy on erroneous", "accuracy on correct", "F1"]
    rows = [[name, f"{m['erroneous'] + m['correct']:.0f}", f"{m['erroneous']:.0f}", f"{m['correct']:.0f}",
             pct(m["error_accuracy"]), pct(m["correct_accuracy"]), pct(m["f1"])]
            for name, m in (("dev", result.dev), ("test", result.test))]
    lines = [
        "# Step-error evaluation (ProcessBench-style)", "",
        f"Prediction: the first step whose score is below the threshold. Threshold **{result.threshold:.3f}**, "
        f"chosen on the dev set ({result.dev_source}) by F1; metrics in %.", "", *markdown_table(header, rows), "",
        f"Best threshold on the test set (a ceiling, not the result): {result.best_on_test['threshold']:.3f}, "
        f"F1 {pct(result.best_on_test['f1'])}.",
    ]  # fmt: skip
    for field_name, table in result.breakdown.items():
        rows = [[value, f"{m['erroneous'] + m['correct']:.0f}", pct(m["error_accuracy"]),
                 pct(m["correct_accuracy"]), pct(m["f1"])] for value, m in table.items()]
        lines += ["", f"## Test set by {field_name}", "",
                  *markdown_table([field_name, "cases", "accuracy on erroneous", "accuracy on correct", "F1"], rows)]
    if result.skipped:
        lines += ["", "Rows skipped: " + ", ".join(f"{n} ({why})" for why, n in result.skipped.items()) + "."]
    return "\n".join(lines) + "\n"


def plot_steps(result: StepsEvalResult, path: str | Path) -> Path:
    """F1 (and both accuracies) vs threshold on dev and test, with the chosen threshold marked."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    for name, curves, style in (("dev", result.dev_curves, ":"), ("test", result.test_curves, "-")):
        ax.plot(result.thresholds, [100 * v for v in curves["f1"]], style, color="C0", label=f"F1 ({name})")
        ax.plot(result.thresholds, [100 * v for v in curves["error_accuracy"]], style, color="C1", alpha=0.6,
                label=f"accuracy on erroneous ({name})")
        ax.plot(result.thresholds, [100 * v for v in curves["correct_accuracy"]], style, color="C2", alpha=0.6,
                label=f"accuracy on correct ({name})")
    ax.axvline(result.threshold, color="black", linewidth=1, label=f"chosen threshold {result.threshold:.3f}")
    ax.set_xlabel("threshold (a step is flagged when its score is below it)")
    ax.set_ylabel("%")
    ax.set_title("First-error identification vs threshold")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def write_steps_report(result: StepsEvalResult, out_dir: str | Path) -> dict[str, Path]:
    """Write ``steps_eval.md``, ``steps_eval.json`` and ``steps_f1.png`` under ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"markdown": out / "steps_eval.md", "json": out / "steps_eval.json", "plot": out / "steps_f1.png"}
    paths["markdown"].write_text(steps_markdown(result), encoding="utf-8")
    write_json(paths["json"], result.to_dict())
    plot_steps(result, paths["plot"])
    logger.info("wrote %s", ", ".join(str(p) for p in paths.values()))
    return paths
