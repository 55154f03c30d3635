"""GRPO run state: the policy (optionally LoRA), the reference model, the problems and their order, checkpoints.

Checkpoints reuse :mod:`prm.policy.checkpoint` (``out/checkpoint/``: model or LoRA adapter, tokenizer,
optimizer, counters, torch RNG, a fingerprint of the options that shape data and model; written to a
temporary folder and swapped in by rename). Rerunning the same command continues from it. The data
order is a pure function of (seed, step) and HF generation is re-seeded per step, so a resumed run
continues exactly where an uninterrupted one would be.
"""

from __future__ import annotations

import logging
import random
import shutil
from pathlib import Path
from typing import Any

import torch

from data.records import Problem
from prm.grpo.config import FINGERPRINT_KEYS, GRPOConfig
from prm.lm import load_lm
from prm.policy.checkpoint import TrainState, find_checkpoint, load_checkpoint, save_checkpoint
from prm.policy.config import parse_csv
from prm.runtime import resolve_device

__all__ = ["load_models", "make_optimizer", "training_problems", "eval_problems", "batch_problems", "fingerprint",
           "restore", "load_state", "checkpoint"]

logger = logging.getLogger(__name__)


def fingerprint(config: GRPOConfig) -> dict[str, Any]:
    return {key: getattr(config, key) for key in FINGERPRINT_KEYS}


def _lora(model: Any, config: GRPOConfig, adapter: Path | None) -> Any:
    from peft import LoraConfig, PeftModel, get_peft_model

    if adapter is not None:
        return PeftModel.from_pretrained(model, str(adapter), is_trainable=True)
    lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=0.0, target_modules="all-linear",
                      task_type="CAUSAL_LM")
    return get_peft_model(model, lora)


def load_models(config: GRPOConfig, checkpoint: Path | None) -> tuple[Any, Any, Any]:
    """Policy, tokenizer and reference model (None when neither ``beta`` nor ``kl_monitor`` needs one; with
    LoRA the adapters are disabled instead). The policy comes from ``checkpoint`` when resuming; the reference
    is always the initial policy."""
    device = resolve_device(config.device)
    if config.lora:
        base, tokenizer = load_lm(config.model)
        model = _lora(base.to(device), config, checkpoint)
        return model, tokenizer, None
    model, tokenizer = load_lm(str(checkpoint) if checkpoint is not None else config.model)
    model.to(device)
    reference = None
    if config.beta > 0 or config.kl_monitor:
        reference, _ = load_lm(config.model)
        reference.to(device).eval().requires_grad_(False)
    return model, tokenizer, reference


def make_optimizer(model: Any, config: GRPOConfig) -> torch.optim.AdamW:
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.AdamW(params, lr=config.lr, betas=(0.9, 0.99), eps=1e-8, weight_decay=config.weight_decay)


def training_problems(config: GRPOConfig) -> list[Problem]:
    if config.problems:
        from data.loaders import load_problems

        problems = load_problems(config.problems, config.split)
    else:
        from prm.policy.data import synthetic_problems

        levels = [int(x) for x in parse_csv(config.levels) or []] or None
        problems = synthetic_problems(config.n_train, config.data_seed, "train", levels, parse_csv(config.families))
    if not problems:
        raise ValueError(f"no training problems from {config.problems or 'the synthetic task'}")
    return problems


def eval_problems(config: GRPOConfig) -> list[Problem]:
    """Held-out problems: ``eval_data``, else the synthetic test split when training on synthetic problems."""
    if config.eval_problems <= 0:
        return []
    if config.eval_data:
        from data.loaders import load_problems

        return load_problems(config.eval_data, config.eval_split, config.eval_problems)
    if config.problems:
        logger.info("no --eval-data for --problems %s: held-out evaluation skipped", config.problems)
        return []
    from prm.policy.data import synthetic_problems

    levels = [int(x) for x in parse_csv(config.levels) or []] or None
    return synthetic_problems(config.eval_problems, config.eval_seed, "test", levels, parse_csv(config.families))


def batch_problems(problems: list[Problem], per_step: int, seed: int, step: int) -> list[Problem]:
    """The prompts of ``step``: a seeded shuffle per epoch, consumed ``per_step`` at a time (pure function)."""
    batch, cache = [], {}
    for position in range(step * per_step, (step + 1) * per_step):
        epoch, offset = divmod(position, len(problems))
        if epoch not in cache:
            order = list(range(len(problems)))
            random.Random(f"grpo {seed} {epoch}").shuffle(order)
            cache[epoch] = order
        batch.append(problems[cache[epoch][offset]])
    return batch


def restore(config: GRPOConfig, out_dir: Path) -> Path | None:
    """The checkpoint to resume from, if ``out_dir`` holds one; ``--no-resume`` deletes it instead (the metrics
    file is then cut back to step 0 by the metrics writer)."""
    found = find_checkpoint(out_dir)
    while found is not None and not config.resume:
        logger.warning("--no-resume: deleting the checkpoint %s to start over", found)
        shutil.rmtree(found)
        found = find_checkpoint(out_dir)
    if found is not None:
        logger.info("resuming from %s", found)
    return found


def load_state(path: Path | None, optimizer: torch.optim.Optimizer, config: GRPOConfig) -> TrainState:
    return TrainState() if path is None else load_checkpoint(path, optimizer, fingerprint(config))


def checkpoint(out_dir: Path, model: Any, tokenizer: Any, optimizer: torch.optim.Optimizer, state: TrainState,
               config: GRPOConfig) -> Path:
    return save_checkpoint(out_dir, model, tokenizer, optimizer, state, fingerprint(config))
