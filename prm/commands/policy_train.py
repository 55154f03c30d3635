"""``prm policy train``: train the small offline policy from scratch, or fine-tune a HF model (SFT).

Without ``--model`` it trains a byte-level BPE tokenizer and a small Llama-style causal LM on
synthetic problems generated in-process (or on ``--data train.jsonl``) for ``--max-steps`` optimizer
steps (``--minutes`` also caps the wall clock, if asked); with ``--model PATH_OR_HUB_ID`` it fine-tunes
that model on the same data. Checkpoints go to ``OUT_DIR/checkpoint`` every ``--checkpoint-minutes``;
a rerun continues a killed run (``--no-resume`` starts over). At the end the policy is sampled on
``--eval-problems`` held-out synthetic test problems and pass@k / majority vote are printed and stored in
``OUT_DIR/policy_meta.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prm.policy.config import PolicyTrainConfig

if TYPE_CHECKING:
    from prm.policy.train import TrainResult

logger = logging.getLogger(__name__)

CONFIG = PolicyTrainConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No positional arguments."""


def _evaluate(config: PolicyTrainConfig, result: TrainResult) -> dict[str, Any]:
    """Sample the trained policy on held-out synthetic test problems of the training levels and families."""
    from prm.policy.data import synthetic_problems
    from prm.policy.evaluate import evaluate_policy, format_result
    from prm.runtime import torch_threads

    problems = synthetic_problems(config.eval_problems, config.seed, "test", config.level_list() or None,
                                  config.family_list())
    with torch_threads(config.threads):
        evaluation = evaluate_policy(result.model, result.tokenizer, problems, n=config.eval_samples,
                                     temperature=config.eval_temperature, max_new_tokens=config.eval_max_new_tokens,
                                     seed=config.seed)
    sys.stdout.write(format_result(evaluation) + "\n")
    return evaluation.to_dict()


def run(config: PolicyTrainConfig, args: argparse.Namespace) -> int:
    from prm.policy.train import META_FILE, train_policy

    try:
        result = train_policy(config)
    except (ValueError, FileExistsError, OSError) as error:
        logger.error("%s", error)
        return 2
    training = result.meta["training"]
    runtime = result.meta["runtime"]
    capped = " (stopped by --minutes)" if runtime["budget"]["stopped_by"] == "minutes" else ""
    sys.stdout.write(f"policy saved to {result.out_dir}: {training['steps']} of {config.max_steps} steps{capped}, "
                     f"{training['tokens_seen']} tokens, {training['time_s'] / 60:.1f} min, "
                     f"{training['tokens_per_s']:.0f} tokens/s in {runtime['precision']}, "
                     f"final loss {training['final_loss']}\n")
    if config.eval_problems > 0 and config.eval_samples > 0:
        result.meta["eval"] = _evaluate(config, result)
        meta_path = Path(result.out_dir) / META_FILE
        meta_path.write_text(json.dumps(result.meta, indent=2) + "\n", encoding="utf-8")
    return 0
