"""``prm eval steps --data F --out-dir D``: ProcessBench-style first-error evaluation of step scores.

Each row of ``--data`` with ``step_scores`` and a known first error (``first_error``, or the first
label ``<= --wrong-label-at`` in ``labels``/``step_labels``) is a case. The threshold (a step is
flagged when its score is below it) is chosen by F1 on a dev set, a seeded stratified split of
``--data`` (``--dev-fraction``) or ``--dev F2``, and reported with the test metrics: accuracy on
erroneous cases, on correct cases, and their harmonic mean (F1). Writes ``steps_eval.md``,
``steps_eval.json`` and ``steps_f1.png`` to ``--out-dir`` and prints the Markdown.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections import Counter
from dataclasses import dataclass, field

from data.jsonl import RecordError, read_jsonl
from prm.cli_contract import shared

logger = logging.getLogger(__name__)


@dataclass
class EvalStepsConfig:
    data: str | None = field(default=None, metadata={"help": "JSONL of scored stepwise rows or samples (required)"})
    dev: str | None = field(default=None, metadata={"help": "JSONL dev set for the threshold (default: a split)"})
    dev_fraction: float = field(default=0.3, metadata={"help": "share of --data used as dev set when no --dev"})
    seed: int = shared("seed", 0, "of the dev split")
    score_field: str = field(default="step_scores", metadata={"help": "field holding the per-step scores"})
    wrong_label_at: float = field(
        default=0.0, metadata={"help": "a step is wrong when its label is <= this (0.0: hard labels)"}
    )
    out_dir: str = shared("out_dir", "runs/eval_steps", "the report")


CONFIG = EvalStepsConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No positional arguments: everything is an option of ``EvalStepsConfig``."""


def run(config: EvalStepsConfig, args: argparse.Namespace) -> int:
    from eval.report import steps_markdown, write_steps_report
    from eval.steps_eval import evaluate_steps, load_cases, split_dev

    if not config.data:
        logger.error("--data is required")
        return 2
    try:
        cases, skipped = load_cases((row for _, row in read_jsonl(config.data)), config.score_field,
                                    config.wrong_label_at)
        if config.dev:
            dev, dev_skipped = load_cases((row for _, row in read_jsonl(config.dev)), config.score_field,
                                          config.wrong_label_at)
            test, source = cases, config.dev
            skipped.update(Counter({f"dev: {k}": v for k, v in dev_skipped.items()}))
        else:
            dev, test = split_dev(cases, config.dev_fraction, config.seed)
            source = f"{config.dev_fraction:.0%} of the data, seed {config.seed}"
        result = evaluate_steps(test, dev, skipped, source)
    except (RecordError, FileNotFoundError, ValueError) as error:
        logger.error("%s", error)
        return 2
    write_steps_report(result, config.out_dir)
    sys.stdout.write(steps_markdown(result))
    return 0
