"""``prm eval report --runs DIR``: one Markdown page (``DIR/leaderboard.md``) of every evaluation under DIR.

Collects the reports ``prm eval processbench``, ``prm eval prmbench``, ``prm bon`` and ``prm eval steps`` wrote
anywhere under ``--runs``, ranks the PRMs per benchmark beside the published numbers of known PRMs (with
their sources), draws one bar chart per benchmark next to the page, and prints the page
(:mod:`eval.benchmarks.leaderboard`). No model is loaded.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

from prm.cli_contract import shared

logger = logging.getLogger(__name__)


@dataclass
class EvalReportConfig:
    runs: str = field(default="runs", metadata={"help": "folder searched for evaluation reports"})
    output: str | None = shared("output", detail="the Markdown page (default: RUNS/leaderboard.md)")


CONFIG = EvalReportConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No positional arguments: everything is an option of ``EvalReportConfig``."""


def run(config: EvalReportConfig, args: argparse.Namespace) -> int:
    from eval.benchmarks.leaderboard import collect, leaderboard_markdown

    root = Path(config.runs)
    if not root.is_dir():
        logger.error("--runs %s is not a folder", root)
        return 2
    runs = collect(root)
    page = leaderboard_markdown(runs, root)
    out = Path(config.output) if config.output else root / "leaderboard.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    logger.info("%d evaluations -> %s", len(runs), out)
    sys.stdout.write(page)
    return 0
