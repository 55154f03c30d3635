"""``prm grpo compare RUN [RUN ...] --out-dir D``: pass@1 before/after, curves and time split of GRPO runs.

Folders named ``<name>-s<seed>`` are averaged per name (see :mod:`prm.grpo.compare`). Writes
``D/grpo_compare.md`` and ``D/grpo_compare.png`` and prints the table.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass

from prm.cli_contract import shared

logger = logging.getLogger(__name__)


@dataclass
class GRPOCompareConfig:
    out_dir: str = shared("out_dir", "runs/grpo-compare", "the table and the plot")


CONFIG = GRPOCompareConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", help="finished `prm grpo` output folders")


def run(config: GRPOCompareConfig, args: argparse.Namespace) -> int:
    from prm.grpo.compare import write_comparison

    try:
        markdown = write_comparison(args.runs, config.out_dir)
    except (OSError, ValueError, KeyError) as error:
        logger.error("%s", error)
        return 2
    sys.stdout.write(markdown.read_text(encoding="utf-8"))
    return 0
