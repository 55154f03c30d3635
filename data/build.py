"""Build a step-labelled PRM training set from reference solutions and their corrupted copies.

Sources: synthetic problems (:func:`data.synth.generate_problems`), GSM8K train and MATH train
(:func:`data.loaders.load_problems`). Every usable reference solution becomes a positive row (all
1.0) and each gets ``negatives`` error-injected rows (:mod:`data.labelling.perturb`) with exact first-error
labels. Rows are :class:`~data.records.StepwiseRow` (prompt = problem text, completions = steps,
float labels, plus ``source``, ``problem_id``, ``label_method``, ``perturbation`` and ``first_error``
columns), shuffled with the seed and written atomically as JSONL that
``datasets.load_dataset("json", data_files=...)`` reads.

Human- and rollout-labelled data join as they are (``LABELLED``): PRM800K (``prm800k=``, the phases
``phase=`` asks, :mod:`data.prm800k`) and Math-Shepherd (``math_shepherd=``), converted by
:mod:`data.stepwise`; their rows carry ``source`` and ``label_method`` but no ``perturbation`` (shown as
"-" in the composition). Before writing, every row's problem is compared with ``eval_problems``
(:mod:`data.decontaminate`, e.g. "math500"): overlaps are logged as a WARNING and kept in the report.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from data.decontaminate import OverlapReport, check_overlaps, stepwise_problems
from data.labelling import AfterError, PerturbReport, perturb_problems
from data.records import Problem, StepwiseRow, write_records

__all__ = ["BuildReport", "SourceStats", "build_dataset", "composition", "composition_table", "load_labelled",
           "load_source"]

logger = logging.getLogger(__name__)

SOURCES: tuple[str, ...] = ("synthetic", "gsm8k", "math")
LABELLED: dict[str, str] = {"prm800k": "human", "math_shepherd": "monte_carlo"}  # source -> label_method


@dataclass
class SourceStats:
    """Composition of the rows of one source."""

    rows: int = 0
    positives: int = 0
    negatives: int = 0
    steps: int = 0

    def add(self, row: StepwiseRow) -> None:
        self.rows += 1
        self.steps += len(row.completions)
        if row.extra.get("first_error", -1) < 0 and min(row.labels) >= 1.0:
            self.positives += 1
        else:
            self.negatives += 1

    @property
    def mean_steps(self) -> float:
        return self.steps / max(self.rows, 1)


@dataclass
class BuildReport:
    """What a build made: rows written, perturbation reports and timings per source."""

    out: Path
    rows: int = 0
    seconds: float = 0.0
    perturb: dict[str, PerturbReport] = field(default_factory=dict)
    load_seconds: dict[str, float] = field(default_factory=dict)
    label_seconds: dict[str, float] = field(default_factory=dict)
    by_source: dict[str, SourceStats] = field(default_factory=dict)
    by_kind: dict[str, SourceStats] = field(default_factory=dict)
    overlaps: OverlapReport | None = None  # training problems found in the evaluation set (None: not checked)


def _synthetic(n: int, seed: int) -> list[Problem]:
    from data.synth import generate_problems

    return generate_problems(n, seed=seed, split="train")


def _real(name: str) -> Callable[[int, int], list[Problem]]:
    def load(n: int, seed: int) -> list[Problem]:
        from data.loaders import load_problems

        return load_problems(name, "train", limit=None if n < 0 else n)

    return load


LOADERS: dict[str, Callable[[int, int], list[Problem]]] = {
    "synthetic": _synthetic, "gsm8k": _real("gsm8k"), "math": _real("math"),
}  # fmt: skip


def load_source(name: str, n: int, seed: int = 0) -> list[Problem]:
    """Up to ``n`` problems (all when negative) of a build source: synthetic, gsm8k or math (train)."""
    if name not in LOADERS:
        raise ValueError(f"unknown source {name!r}; choose from {', '.join(LOADERS)}")
    return LOADERS[name](n, seed) if n != 0 else []


def load_labelled(name: str, spec: str, phase: str = "both") -> list[StepwiseRow]:
    """Rows of a labelled data set (``LABELLED``): PRM800K (train files of ``phase``) or Math-Shepherd."""
    if name == "prm800k":
        from data.prm800k import load_prm800k

        rows = load_prm800k(spec, phase)[0]
    elif name == "math_shepherd":
        from data.stepwise import load_stepwise

        rows = load_stepwise(spec, "math_shepherd")
    else:
        raise ValueError(f"unknown labelled source {name!r}; choose from {', '.join(LABELLED)}")
    for row in rows:
        row.extra.update(source=name, label_method=LABELLED[name])
    return rows


def composition(rows: list[StepwiseRow], key: str) -> dict[str, SourceStats]:
    """Per-value stats of the column ``key`` (``source`` or ``perturbation``; "-" without it), plus ``total``."""
    stats: dict[str, SourceStats] = {}
    for row in rows:
        stats.setdefault(str(row.extra.get(key, "-")), SourceStats()).add(row)
        stats.setdefault("total", SourceStats()).add(row)
    return dict(sorted(stats.items(), key=lambda item: (item[0] == "total", item[0])))


def _generated(report: BuildReport, sources: dict[str, int], seed: int, negatives: int,
               after_error: AfterError) -> list[StepwiseRow]:
    """Reference solutions and their corrupted copies for each generated source with a non-zero count."""
    rows: list[StepwiseRow] = []
    for name, n in sources.items():
        if n == 0:
            continue
        t0 = time.perf_counter()
        problems = load_source(name, n, seed)
        t1 = time.perf_counter()
        made, perturb_report = perturb_problems(problems, seed=seed, negatives=negatives, after_error=after_error)
        for row in made:
            row.extra["source"] = name  # one name per build source (loaders may name a path or hub id)
        report.load_seconds[name], report.label_seconds[name] = t1 - t0, time.perf_counter() - t1
        report.perturb[name] = perturb_report
        rows.extend(made)
        logger.info("%s: %d problems -> %d rows in %.1f s", name, len(problems), len(made), time.perf_counter() - t0)
    return rows


def build_dataset(
    out: str | Path,
    n_synthetic: int = 4000,
    gsm8k: int = -1,
    math: int = -1,
    seed: int = 0,
    negatives: int = 1,
    after_error: AfterError = "drop",
    prm800k: str | None = None,
    phase: str = "both",
    math_shepherd: str | None = None,
    eval_problems: str | None = None,
) -> BuildReport:
    """Build and write the dataset; ``gsm8k``/``math`` are problem counts (-1: the whole train split).

    ``prm800k`` / ``math_shepherd``: a file, folder or hub id of labelled rows to add; ``eval_problems``: the
    evaluation set to check the training problems against (None or "none": no check).
    """
    start = time.perf_counter()
    report = BuildReport(Path(out))
    rows = _generated(report, {"synthetic": n_synthetic, "gsm8k": gsm8k, "math": math}, seed, negatives, after_error)
    for name, spec in (("prm800k", prm800k), ("math_shepherd", math_shepherd)):
        if spec:
            t0 = time.perf_counter()
            rows.extend(load_labelled(name, spec, phase))
            report.load_seconds[name], report.label_seconds[name] = time.perf_counter() - t0, 0.0
    random.Random(seed).shuffle(rows)
    report.overlaps = check_overlaps(stepwise_problems(rows, f"{out} line", 1), eval_problems)
    report.rows = write_records(out, rows)
    report.by_source, report.by_kind = composition(rows, "source"), composition(rows, "perturbation")
    report.seconds = time.perf_counter() - start
    return report


def composition_table(stats: dict[str, SourceStats], title: str) -> str:
    """A markdown table: rows, positive and negative share and mean steps per group."""
    lines = [f"| {title} | rows | positive | negative | negative share | mean steps |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, s in stats.items():
        lines.append(f"| {name} | {s.rows} | {s.positives} | {s.negatives} | {s.negatives / max(s.rows, 1):.1%} "
                     f"| {s.mean_steps:.2f} |")
    return "\n".join(lines)


def yield_table(reports: dict[str, PerturbReport]) -> str:
    """A markdown table of the perturbation yield per source: tried, kept, skipped and discarded by reason."""
    lines = ["| source | references tried | positives kept | negatives kept | skipped (reason: count) "
             "| negative attempts discarded (reason: count) |", "|---|---:|---:|---:|---|---|"]
    for name, r in reports.items():
        skipped = "; ".join(f"{k}: {v}" for k, v in r.skipped.most_common()) or "-"
        discarded = "; ".join(f"{k}: {v}" for k, v in r.discarded.most_common()) or "-"
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(r.negatives.items()))
        lines.append(f"| {name} | {r.tried} | {r.positives} | {sum(r.negatives.values())} ({kinds}) | {skipped} "
                     f"| {discarded} |")
    return "\n".join(lines)
