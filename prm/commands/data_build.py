"""``prm data build --output D``: a step-labelled dataset from synthetic, GSM8K and MATH reference solutions.

Each usable reference solution is a positive row (all steps 1.0) and gets ``--negatives`` copies with
one corrupted step (a changed result or operand, or a dropped step) labelled exactly: 1.0 before the
first error, 0.0 at it (see ``data.labelling.perturb``). ``--prm800k`` (with ``--phase 1|2|both``, see
``data.prm800k``) and ``--math-shepherd`` add those data sets' labelled rows as they are. Every training
problem is checked against ``--eval-problems`` (MATH-500 by default; ``data.decontaminate``): overlaps are
logged as a warning. Writes ``StepwiseRow`` JSONL atomically and prints the composition (rows by source and
by perturbation, positive/negative share, mean steps) and the perturbation yield (references tried, kept,
skipped by reason).
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass, field
from typing import Literal

from data.build import build_dataset, composition_table, yield_table
from data.jsonl import RecordError
from prm.cli_contract import shared

logger = logging.getLogger(__name__)


@dataclass
class DataBuildConfig:
    output: str | None = shared("output", detail="JSONL of stepwise rows", required=True)
    n_synthetic: int = field(default=4000, metadata={"help": "synthetic problems to generate (0: none)"})
    gsm8k: int = field(default=-1, metadata={"help": "GSM8K train problems to use (-1: all, 0: none)"})
    math: int = field(default=-1, metadata={"help": "MATH train problems to use (-1: all, 0: none)"})
    seed: int = shared("seed", 0, "of the synthetic problems, the corruptions and the shuffle")
    negatives: int = field(default=1, metadata={"help": "corrupted copies to try per reference solution"})
    after_error: Literal["drop", "zero"] = field(
        default="drop", metadata={"help": "after the first wrong step: drop the rest, or label it 0.0"}
    )
    prm800k: str | None = field(default=None, metadata={
        "help": "PRM800K labels to add: a folder with phase{1,2}_train.jsonl (its train files are read), one "
                "phaseN_*.jsonl or other PRM800K JSONL file, or a hub id with such files"})
    phase: Literal["1", "2", "both"] = field(default="both", metadata={
        "help": "PRM800K phase(s) to use: chosen by file name (phaseN_*), else by each row's generation (null: "
                "phase 1); a phase asked for but absent is an error"})
    math_shepherd: str | None = field(default=None, metadata={
        "help": "Math-Shepherd rows (input/label/task) to add: JSONL file, folder or hub id"})
    eval_problems: str = field(default="math500", metadata={
        "help": "evaluation problems to check the training problems against (exact and normalised text; a "
                "warning names overlaps): built-in name, file or hub id; none: no check"})


CONFIG = DataBuildConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No positional arguments: everything is an option of ``DataBuildConfig``."""


def run(config: DataBuildConfig, args: argparse.Namespace) -> int:
    try:
        report = build_dataset(config.output or "", n_synthetic=config.n_synthetic, gsm8k=config.gsm8k,
                               math=config.math, seed=config.seed, negatives=config.negatives,
                               after_error=config.after_error, prm800k=config.prm800k, phase=config.phase,
                               math_shepherd=config.math_shepherd, eval_problems=config.eval_problems)
    except (RecordError, OSError, ValueError) as error:  # a source that cannot be read or generated
        logger.error("%s", error)
        return 2
    logger.info("wrote %d rows to %s in %.1f s", report.rows, report.out, report.seconds)
    timing = ", ".join(f"{name} {report.load_seconds[name]:.1f} s load + {report.label_seconds[name]:.1f} s label"
                       for name in report.load_seconds)
    checked = report.overlaps.summary() if report.overlaps is not None else "not checked"
    sys.stdout.write("\n\n".join([
        composition_table(report.by_source, "source"),
        composition_table(report.by_kind, "perturbation"),
        *([yield_table(report.perturb)] if report.perturb else []),
        f"decontamination: {checked}",
        f"{report.rows} rows written to {report.out} in {report.seconds:.1f} s ({timing})",
    ]) + "\n")
    return 0
