"""``prm train --data D --model M --out-dir O``: train a PRM (or, with ``--outcome``, an outcome RM).

The HF Trainer runs it (so ``accelerate launch -m prm.cli train ...`` gives DDP/FSDP/DeepSpeed); the output
folder loads with ``AutoModelForTokenClassification.from_pretrained``. ``--head likelihood`` instead keeps
the backbone a frozen LM and fits a logistic head on its step log-likelihoods (:mod:`prm.train.likelihood`).
Either folder scores with ``prm score`` and :func:`prm.model.load_scorer`. Prints the held-out metrics (step
accuracy, step AUC, first-error accuracy/F1) and throughput. See :mod:`prm.train.run`.
"""

from __future__ import annotations

import argparse
import logging
import sys

from data.jsonl import RecordError
from prm.train.config import TrainConfig

logger = logging.getLogger(__name__)

CONFIG = TrainConfig

SHOWN = ("step_accuracy", "step_auc", "first_error_accuracy", "first_error_f1", "loss", "steps", "solutions")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No positional arguments: everything is an option of ``TrainConfig``."""


def run(config: TrainConfig, args: argparse.Namespace) -> int:
    from prm.train.run import train_prm

    try:
        result = train_prm(config)
    except (RecordError, OSError, ValueError) as error:
        logger.error("%s", error)
        return 2
    if not result.main_process:
        return 0
    lines = ["| metric | value |", "|---|---:|"]
    for name in SHOWN:
        value = result.metrics.get(f"eval_{name}")
        if value is not None:
            lines.append(f"| {name} | {value:.4g} |")
    lines.append(f"| train rows | {result.train_rows} |")
    if config.head != "likelihood":  # the likelihood head is fitted, not trained by steps
        lines += [f"| optimizer steps | {result.global_step} |", f"| train loss | {result.train_loss:.4f} |",
                  f"| tokens/s | {result.tokens_per_second:.0f} |"]
    lines += [f"| seconds | {result.train_seconds:.0f} |", f"| peak memory MiB | {result.peak_memory_mb:.0f} |"]
    sys.stdout.write("\n".join(lines) + f"\n\nPRM saved to {result.out}\n")
    return 0
