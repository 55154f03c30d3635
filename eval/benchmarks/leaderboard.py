"""One page for every evaluation under a folder: the user's PRMs beside the published numbers of known ones.

:func:`collect` finds the reports the ``prm eval`` commands and ``prm bon`` wrote (``processbench.json``,
``prmbench.json``, ``bon.json``, ``steps_eval.json``) anywhere under a folder; :func:`leaderboard_markdown`
ranks each benchmark's rows (ProcessBench by mean F1, PRMBench by PRMScore) with the published rows of
:data:`PUBLISHED` marked and cited, and links each run's own report and plot. Published numbers are the
papers' (their protocol, their data: the full benchmarks), so a run on a subset or with ``--limit`` is marked
as such and is not comparable to them.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval.report import pct, pyplot, save_figure

__all__ = ["PUBLISHED", "Entry", "Published", "Run", "collect", "leaderboard_markdown", "plot_ranking", "ranking"]

logger = logging.getLogger(__name__)

PROCESSBENCH_SOURCE = ("ProcessBench (Zheng et al. 2024, arXiv:2412.06559) Table 3; Qwen2.5-Math-PRM: The Lessons "
                       "of Developing Process Reward Models (Zhang et al. 2025, arXiv:2501.07301)")
PRMBENCH_SOURCE = "PRMBench (Song et al. 2025, arXiv:2501.03124), main table (github.com/ssmisya/PRMBench)"


@dataclass(frozen=True)
class Published:
    """A published score: the model, its number (in %) and where it comes from."""

    model: str
    score: float
    source: str


PUBLISHED: dict[str, tuple[Published, ...]] = {
    "processbench": tuple(Published(m, s, PROCESSBENCH_SOURCE) for m, s in (
        ("Qwen/Qwen2.5-Math-PRM-72B", 78.3), ("Qwen/Qwen2.5-Math-PRM-7B", 73.5),
        ("Skywork/Skywork-o1-Open-PRM-Qwen-2.5-7B", 42.1), ("Skywork/Skywork-o1-Open-PRM-Qwen-2.5-1.5B", 36.4),
        ("peiyi9979/math-shepherd-mistral-7b-prm", 31.5), ("RLHFlow/Llama3.1-8B-PRM-Mistral-Data", 28.4),
        ("RLHFlow/Llama3.1-8B-PRM-Deepseek-Data", 26.6))),
    "prmbench": tuple(Published(m, s, PRMBENCH_SOURCE) for m, s in (
        ("Qwen/Qwen2.5-Math-PRM-72B", 68.2), ("Qwen/Qwen2.5-Math-PRM-7B", 65.5),
        ("Skywork/Skywork-o1-Open-PRM-Qwen-2.5-7B", 65.1), ("Skywork/Skywork-o1-Open-PRM-Qwen-2.5-1.5B", 61.1),
        ("GAIR/ReasonEval-7B", 60.0), ("RLHFlow/Llama3.1-8B-PRM-Mistral-Data", 54.4),
        ("RLHFlow/Llama3.1-8B-PRM-Deepseek-Data", 54.2), ("peiyi9979/math-shepherd-mistral-7b-prm", 47.0))),
}
REPORTS = {"processbench": "processbench.json", "prmbench": "prmbench.json", "bon": "bon.json",
           "steps": "steps_eval.json"}


@dataclass(frozen=True)
class Run:
    """One evaluation found on disk: which benchmark, its folder, and its JSON."""

    benchmark: str
    folder: Path
    data: Mapping[str, Any]

    @property
    def name(self) -> str:
        return str(self.data.get("prm") or self.folder.name)


def collect(root: str | Path) -> list[Run]:
    """Every report under ``root`` (sorted by path); an unreadable one is skipped with a warning naming it."""
    runs = []
    for benchmark, file in REPORTS.items():
        for path in sorted(Path(root).rglob(file)):
            try:
                runs.append(Run(benchmark, path.parent, json.loads(path.read_text(encoding="utf-8"))))
            except (OSError, ValueError) as error:
                logger.warning("%s: skipped, not a readable report (%s)", path, error)
    return runs


def _pct(value: float | None) -> str:
    return pct(math.nan if value is None else value)


def _link(run: Run, root: Path, file: str) -> str:
    return f"[{file}]({(run.folder / file).relative_to(root).as_posix()})"


@dataclass(frozen=True)
class Entry:
    """One row of a ranking: a user's run (``run``) or a published number (``run`` None)."""

    label: str
    score: float  # in %, NaN when undefined
    run: Run | None = None


def ranking(runs: Sequence[Run], benchmark: str, score_of: Any) -> list[Entry]:
    """The runs' scores (``score_of(report JSON)``, a fraction) and the published ones, best first."""
    entries = [Entry(run.name, math.nan if score_of(run.data) is None else 100 * score_of(run.data), run)
               for run in runs]
    entries += [Entry(item.model, item.score) for item in PUBLISHED[benchmark]]
    return sorted(entries, key=lambda e: -1.0 if math.isnan(e.score) else -e.score)


def _data_note(data: Mapping[str, Any]) -> str:
    limit = data.get("limit")
    return f"{data.get('data', '?')}" + (f", --limit {limit} (not comparable)" if limit else "")


def _ranked_table(entries: Sequence[Entry], root: Path, report: str) -> list[str]:
    lines = ["| PRM | score | data | report |", "|---|---:|---|---|"]
    for e in entries:
        score = "n/a" if math.isnan(e.score) else f"{e.score:.1f}"
        cells = ([f"**{e.label}**", score, _data_note(e.run.data), _link(e.run, root, report)] if e.run else
                 [e.label, score, "published", "see Sources"])
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def plot_ranking(entries: Sequence[Entry], title: str, path: Path) -> Path:
    """Horizontal bars, best on top: the user's runs in blue, published numbers in grey."""
    plt = pyplot()
    shown = [e for e in entries if not math.isnan(e.score)][::-1]
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(shown) + 1.2))
    ax.barh([e.label for e in shown], [e.score for e in shown],
            color=["tab:blue" if e.run else "lightgray" for e in shown])
    ax.set_xlabel("score (%)")
    ax.set_title(title + " (blue: yours, grey: published)")
    ax.tick_params(axis="y", labelsize=7)
    save_figure(fig, path)
    return path


def _final(curves: Mapping[str, Any], rule: str) -> Any:
    return (curves.get(rule, {}).get("accuracy") or [None])[-1]


def _bon_lines(runs: Sequence[Run], root: Path) -> list[str]:
    lines = ["| run | problems | N | majority | best PRM rule | oracle | report |",
             "|---|---:|---:|---:|---|---:|---|"]
    for run in runs:
        curves = run.data.get("curves", {})
        prm = {k: _final(curves, k) for k in curves if k.startswith("prm_")}
        best = max(prm, key=lambda k: prm[k]) if prm else None
        cells = [run.folder.relative_to(root).as_posix() or ".", str(run.data.get("problems", "?")),
                 str((run.data.get("ns") or ["?"])[-1]), _pct(_final(curves, "majority")),
                 f"{best} {_pct(prm[best])}" if best else "n/a", _pct(_final(curves, "oracle")),
                 _link(run, root, "bon.png")]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


SCORES = {"processbench": ("ProcessBench: mean F1 over splits (%, threshold 0.5)", "processbench.md",
                           lambda d: d.get("mean_f1")),
          "prmbench": ("PRMBench: PRMScore (%)", "prmbench.md", lambda d: d.get("overall", {}).get("prm_score"))}


def leaderboard_markdown(runs: Sequence[Run], root: str | Path, plots: bool = True) -> str:
    """The page: one ranked table (and bar chart, ``leaderboard_<benchmark>.png`` in ``root``) per benchmark
    with runs, the published rows beside them, best-of-N and own-row evaluations, and the sources."""
    root = Path(root)
    by = {name: [r for r in runs if r.benchmark == name] for name in REPORTS}
    lines = ["# PRM leaderboard", "", f"Every evaluation under `{root}`; published rows are the papers' numbers on "
             "the full benchmarks (see Sources), the user's rows in bold.", ""]
    for benchmark, (title, report, score_of) in SCORES.items():
        if not by[benchmark]:
            continue
        entries = ranking(by[benchmark], benchmark, score_of)
        lines += [f"## {title}", "", *_ranked_table(entries, root, report), ""]
        if plots:
            plot = plot_ranking(entries, title.split(":")[0], root / f"leaderboard_{benchmark}.png")
            lines += [f"![{benchmark}]({plot.name})", ""]
    if by["bon"]:
        lines += ["## Best-of-N accuracy at the largest N (%)", "", *_bon_lines(by["bon"], root), ""]
    if by["steps"]:
        lines += ["## First-error evaluation on own rows (`prm eval steps`): test F1 (%)", "",
                  "| run | threshold (dev) | F1 |", "|---|---:|---:|",
                  *(f"| {r.folder.relative_to(root).as_posix()} | {r.data.get('threshold', float('nan')):.3f} | "
                    f"{_pct(r.data.get('test', {}).get('f1'))} |" for r in by["steps"]), ""]
    if not runs:
        lines += ["No evaluation reports found.", ""]
    lines += ["## Sources", "", f"- ProcessBench: {PROCESSBENCH_SOURCE}.", f"- PRMBench: {PRMBENCH_SOURCE}."]
    return "\n".join(lines) + "\n"
