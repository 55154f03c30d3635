"""``prm search compare --runs A.jsonl,B.jsonl[,LABEL=C.jsonl] --out-dir D``: search strategies against best-of-N.

Reads finished ``prm search`` outputs (and their ``.meta.json`` sidecars), groups them by label (given as
``LABEL=PATH``, else ``<strategy>-<prm folder name>``) into methods = label x selection rule (the PRM pick,
weighted best-of-N, majority, ORM; oracle apart) at each budget n, and reports accuracy against generated
tokens, paired differences with a baseline method at the same n and at equal tokens (interpolated), and
difficulty bins (:mod:`eval.search_compare`). Writes ``search_compare.md``, ``search_compare.json``,
``search_compare.png`` and ``search_bins.png`` to ``--out-dir`` and prints the Markdown. No model is loaded.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from data.jsonl import RecordError
from prm.cli_contract import shared
from verifiers import VerifyConfig

logger = logging.getLogger(__name__)


@dataclass
class SearchCompareConfig:
    runs: str | None = field(default=None, metadata={
        "help": "`prm search` outputs, comma-separated; LABEL=PATH names one (default label: <strategy>-<prm folder "
                "name> from its .meta.json); runs of one label at several --n are one method's budgets",
        "required": True})
    samples: str | None = field(default=None, metadata={
        "help": "LABEL=FILE: scored samples (prm sample + prm score) as best-of-N runs at n = 1, 2, 4, ... (the "
                "first n samples of each problem), so a pool already drawn is the baseline"})
    samples_aggregation: str = field(default="min", metadata={"help": "how --samples' step scores are aggregated"})
    problems: str | None = shared("problems", detail="gold answers for solutions and pool samples without a "
                                                     "verdict; optional when every one has a verdict")
    split: str | None = shared("split")
    pool: str | None = field(default=None, metadata={
        "help": "JSONL of the policy's samples (problem_id, verdict or text, step_scores) for the difficulty bins: "
                "pass@1 (oracle) and mean PRM score (deployable); default: the largest best_of_n run's solutions"})
    baseline: str | None = field(default=None, metadata={
        "help": "LABEL or LABEL:RULE compared against (default: the best_of_n run's label, prm_vote_<aggregation>, "
                "i.e. weighted best-of-N)"})
    out_dir: str = shared("out_dir", "runs/search-compare", "search_compare.md/.json/.png and search_bins.png")
    bootstrap: int = field(default=1000, metadata={"help": "bootstrap resamples of the problems"})
    confidence: float = field(default=0.95, metadata={"help": "confidence level of the intervals"})
    bins: int = field(default=5, metadata={"help": "difficulty bins (equal size by rank; bin 1 = easiest)"})
    seed: int = shared("seed", 0, "of the bootstrap")
    workers: int = shared("workers", 2, "for missing verdicts")
    timeout_s: float = shared("timeout_s", 3.0)
    title: str = field(default="Search vs best-of-N", metadata={"help": "title of the Markdown report"})


CONFIG = SearchCompareConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No positional arguments: everything is an option of ``SearchCompareConfig``."""


def parse_runs(text: str) -> list[tuple[str | None, str]]:
    """``A.jsonl,label=B.jsonl`` -> ``[(None, "A.jsonl"), ("label", "B.jsonl")]`` (a path that exists as
    written is a path, even with ``=`` in it)."""
    out: list[tuple[str | None, str]] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        label, sep, path = part.partition("=")
        out.append((label.strip(), path.strip()) if sep and label.strip() and not Path(part).exists()
                   else (None, part))
    if not out:
        raise ValueError("--runs: no file given")
    return out


def _inputs(config: SearchCompareConfig) -> tuple[list[Any], list[dict[str, Any]] | None, int]:
    """The runs and the pool read, with verdicts filled from the gold answers when given."""
    from data.loaders import load_problems
    from eval.search_report import fill_run_verdicts, read_pool, read_run, samples_as_runs

    gold = {p.id: p.answer for p in load_problems(config.problems, config.split)} if config.problems else {}
    need = not gold
    runs = [read_run(path, label, need_verdict=need) for label, path in parse_runs(config.runs or "")]
    if config.samples:
        label, _, path = config.samples.rpartition("=")
        runs += samples_as_runs(path, label or "best_of_n", config.samples_aggregation, need_verdict=need)
    pool = read_pool(config.pool, need_verdict=need) if config.pool else None
    filled = fill_run_verdicts(runs, pool, gold, config.workers, VerifyConfig(timeout_s=config.timeout_s),
                               config.pool or "--pool") if gold else 0
    return runs, pool, filled


def run(config: SearchCompareConfig, args: argparse.Namespace) -> int:
    from eval.answers import AnswerClusterer
    from eval.search_compare import CompareConfig, compare_runs
    from eval.search_report import write_search_report

    if config.bootstrap < 1 or config.bins < 1 or not 0 < config.confidence < 1:
        logger.error("--bootstrap and --bins must be >= 1 and --confidence in (0, 1)")
        return 2
    try:
        runs, pool, filled = _inputs(config)
        compare = CompareConfig(bootstrap=config.bootstrap, confidence=config.confidence, seed=config.seed,
                                bins=config.bins, baseline=config.baseline)
        result = compare_runs(runs, compare, pool, config.pool or "--pool",
                              AnswerClusterer(VerifyConfig(timeout_s=config.timeout_s)))
    except (RecordError, ValueError, OSError) as error:
        logger.error("%s", error)
        return 2
    if filled:
        result.notes.append(f"{filled} verdicts computed with the verifier against {config.problems}")
    paths = write_search_report(result, config.out_dir, config.title)
    sys.stdout.write(paths["markdown"].read_text(encoding="utf-8"))
    return 0
