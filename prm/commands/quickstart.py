"""``prm quickstart``: the main job on the offline default.

Until the sampling, PRM and best-of-N stages land, the best real job the project has is the
outcome verifier on real data: every MATH-500 reference solution is checked against its gold
answer (positives), and against a different problem's answer (shuffled negatives). Writes a
Markdown report under ``runs/quickstart/``.

MATH-500 comes from ``data.loaders.load_problems("math500")``: a local copy when one exists
(``$PRM_MATH_DATASETS`` or ``../shared/datasets`` beside the checkout), else the hub.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from data.loaders import load_problems
from verifiers import Status, verify_many

logger = logging.getLogger(__name__)


@dataclass
class QuickstartConfig:
    problems: str | None = field(default=None, metadata={"help": "MATH-500 JSONL path (default: local copy, else hub)"})
    out_dir: str = field(default="runs/quickstart", metadata={"help": "where the report is written"})
    workers: int = field(default=2, metadata={"help": "parallel verifier workers"})
    seed: int = field(default=0, metadata={"help": "seed of the shuffled negatives"})


CONFIG = QuickstartConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No positional arguments."""


def run(config: QuickstartConfig, args: argparse.Namespace) -> int:
    source = config.problems or "math500"
    rows = [p.to_dict() for p in load_problems(source, split="test")]
    logger.info("verifying %d MATH-500 reference solutions from %s", len(rows), source)
    order = list(range(len(rows)))
    random.Random(config.seed).shuffle(order)
    negatives = [(rows[i]["answer"], rows[j]["solution"]) for i, j in enumerate(order)
                 if rows[i]["answer"].replace(" ", "") != rows[j]["answer"].replace(" ", "")]
    start = time.perf_counter()
    positive = verify_many([(r["answer"], r["solution"]) for r in rows], workers=config.workers)
    negative = verify_many(negatives, workers=config.workers)
    seconds = time.perf_counter() - start
    accepted = sum(v.is_equal for v in positive)
    rejected = sum(v.status is Status.NOT_EQUAL for v in negative)
    misses = [(r["id"], v.reason)
              for r, v in zip(rows, positive, strict=True) if not v.is_equal]
    report = "\n".join([
        "# prm quickstart: outcome verifier on MATH-500", "",
        f"Source: `{source}`", "",
        "| check | result |", "|---|---:|",
        f"| reference solution matches its own answer | {accepted}/{len(rows)} |",
        f"| shuffled pairs (different answers) rejected | {rejected}/{len(negatives)} |",
        f"| pairs verified | {len(rows) + len(negatives)} in {seconds:.2f} s "
        f"({(len(rows) + len(negatives)) / seconds:.0f} pairs/s, {config.workers} workers) |",
        "", *[f"- missed: {uid}: {reason}" for uid, reason in misses],
    ])
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(report + "\n", encoding="utf-8")
    sys.stdout.write(report + "\n")
    logger.info("report written to %s", out / "report.md")
    return 0 if accepted == len(rows) else 1
