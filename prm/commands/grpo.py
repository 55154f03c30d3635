"""``prm grpo --model runs/policy-default --out-dir runs/grpo --rewards answer:1.0``: GRPO on our rewards.

Trains the policy with G completions per prompt, weighted reward sources (``answer``, ``prm_outcome``,
``prm_process``, ``format``, ``length``; see ``prm.rewards``), outcome and/or process advantages
and a clipped policy-gradient loss. Writes ``OUT/metrics.jsonl`` (one line per step), ``OUT/eval_start.json``
and ``OUT/eval_end.json`` (held-out pass@1), resumable checkpoints in ``OUT/checkpoint`` and the final
policy in ``OUT``. Rerunning the same command after a kill continues from the last checkpoint.
"""

from __future__ import annotations

import argparse
import logging
import sys

from prm.grpo.config import GRPOConfig

logger = logging.getLogger(__name__)

CONFIG = GRPOConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No positional arguments."""


def run(config: GRPOConfig, args: argparse.Namespace) -> int:
    from prm.grpo.trainer import train_grpo

    try:
        result = train_grpo(config)
    except (ValueError, FileExistsError, OSError) as error:
        logger.error("%s", error)
        return 2
    start = (result.eval_start or {}).get("pass@1")
    end = (result.eval_end or {}).get("pass@1")
    held_out = f"; held-out pass@1 {start:.3f} -> {end:.3f}" if start is not None and end is not None else ""
    sys.stdout.write(f"GRPO: {result.state.step} steps, policy saved to {result.out_dir}{held_out}\n")
    return 0
