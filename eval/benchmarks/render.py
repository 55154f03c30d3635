"""Markdown tables and plots of the benchmark results (ProcessBench, PRMBench), written beside their JSON."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from eval.report import markdown_table, pct, pyplot, save_figure, write_json

__all__ = ["prmbench_markdown", "processbench_markdown", "write_prmbench_report", "write_processbench_report"]

logger = logging.getLogger(__name__)


def processbench_markdown(result: Mapping[str, Any], prm: str) -> str:
    """Per-split table at the protocol's threshold, the mean F1, and the sweep's best (labelled as such)."""
    rows = [[split, str(r["erroneous"]), str(r["correct"]), pct(r["error_accuracy"]), pct(r["correct_accuracy"]),
             pct(r["f1"])] for split, r in result["splits"].items()]
    sweep = result["sweep"]
    best = sweep["best_mean_f1_on_test"]
    lines = [f"# ProcessBench: {prm}", "",
             f"A step is wrong when its score is below {result['threshold']:g} (the protocol's threshold); the "
             "prediction is the first such step. Accuracies and F1 in %.", "",
             *markdown_table(["split", "erroneous", "correct", "error acc.", "correct acc.", "F1"], rows), "",
             f"**Mean F1: {pct(result['mean_f1'])}**", "",
             f"Threshold sweep (not the result: chosen on these items): best mean F1 "
             f"{'n/a' if best is None else pct(best)} at {sweep['best_threshold_on_test']:g}; "
             "see processbench_sweep.png."]
    return "\n".join(lines) + "\n"


def _plot_sweep(result: Mapping[str, Any], path: Path) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    sweep = result["sweep"]
    for split, f1 in {**sweep["f1"], "mean": sweep["mean_f1"]}.items():
        ax.plot(sweep["thresholds"], [None if v is None else 100 * v for v in f1], marker="o", markersize=3,
                label=split, linewidth=2.5 if split == "mean" else 1.2, color="black" if split == "mean" else None)
    ax.axvline(result["threshold"], color="gray", linestyle=":", label=f"protocol ({result['threshold']:g})")
    ax.set_xlabel("threshold (a step is wrong below it)")
    ax.set_ylabel("F1 (%)")
    ax.set_title("ProcessBench F1 vs threshold")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, path)


def _write(benchmark: str, plot_name: str, markdown: str, result: Mapping[str, Any], prm: str,
           plot: Any, out_dir: str | Path) -> dict[str, Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"markdown": out / f"{benchmark}.md", "json": out / f"{benchmark}.json", "plot": out / plot_name}
    paths["markdown"].write_text(markdown, encoding="utf-8")
    write_json(paths["json"], {"benchmark": benchmark, "prm": prm, **result})
    plot(result, paths["plot"])
    logger.info("wrote %s", ", ".join(str(p) for p in paths.values()))
    return paths


def write_processbench_report(result: Mapping[str, Any], prm: str, out_dir: str | Path) -> dict[str, Path]:
    """``processbench.md``, ``processbench.json`` and ``processbench_sweep.png`` under ``out_dir``."""
    return _write("processbench", "processbench_sweep.png", processbench_markdown(result, prm), result, prm,
                  _plot_sweep, out_dir)


def prmbench_markdown(result: Mapping[str, Any], prm: str) -> str:
    """Overall PRMScore, the category table, the per-class table and the first-error block."""
    from eval.benchmarks.prmbench import CATEGORIES

    overall, classes = result["overall"], result["classes"]
    lines = [f"# PRMBench: {prm}", "",
             f"{result['samples']} samples; a step is valid when its score is at least {result['threshold']:g}. "
             "PRMScore = (F1 + negative F1) / 2 in % (multi_solutions: F1).", "",
             f"**PRMScore: {pct(overall['prm_score'])}** (F1 {pct(overall['f1'])}, negative F1 "
             f"{pct(overall['negative_f1'])})", "",
             *markdown_table(["category", *CATEGORIES], [["PRMScore", *(pct(result["categories"].get(c, float("nan")))
                                                                       for c in CATEGORIES)]]), ""]
    rows = [[kind, str(int(r["samples"])), pct(r["prm_score"]), pct(r["f1"]), pct(r["negative_f1"])]
            for kind, r in classes.items()]
    first = result["first_error"]
    lines += [*markdown_table(["class", "samples", "PRMScore", "F1", "negative F1"], rows), "",
              f"First error, ProcessBench style: erroneous {pct(first['error_accuracy'])} "
              f"({int(first['erroneous'])}), correct {pct(first['correct_accuracy'])} ({int(first['correct'])}), "
              f"F1 {pct(first['f1'])}."]
    return "\n".join(lines) + "\n"


def _plot_classes(result: Mapping[str, Any], path: Path) -> None:
    plt = pyplot()
    names = list(result["classes"])
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.bar(names, [100 * result["classes"][n]["prm_score"] for n in names], color="tab:blue")
    ax.axhline(100 * result["overall"]["prm_score"], color="black", linestyle="--", label="overall")
    ax.axhline(50, color="gray", linestyle=":", label="chance (50)")
    ax.set_ylabel("PRMScore (%)")
    ax.set_title("PRMBench PRMScore by error class")
    ax.tick_params(axis="x", rotation=35)
    ax.legend(fontsize=8)
    save_figure(fig, path)


def write_prmbench_report(result: Mapping[str, Any], prm: str, out_dir: str | Path) -> dict[str, Path]:
    """``prmbench.md``, ``prmbench.json`` and ``prmbench_classes.png`` under ``out_dir``."""
    return _write("prmbench", "prmbench_classes.png", prmbench_markdown(result, prm), result, prm, _plot_classes,
                  out_dir)
