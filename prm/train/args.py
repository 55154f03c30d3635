"""Trainer plumbing for ``prm train``: ``TrainingArguments`` from a :class:`TrainConfig`, the time-budget
callback (elapsed time survives resumes through the checkpoint's ``trainer_state.json``) and peak memory.

``training_arguments`` only passes fields the installed transformers knows (4.x spells some of them
differently: ``warmup_ratio`` and ``group_by_length`` against 5.x's float ``warmup_steps`` and
``train_sampling_strategy``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import resource
import sys
import time
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback, TrainingArguments
from transformers.trainer_callback import ExportableState

from prm.train.config import TrainConfig

__all__ = ["AlreadyTrained", "StopWhenTrained", "TimeBudgetCallback", "peak_memory_mb", "saved_elapsed",
           "training_arguments"]

logger = logging.getLogger(__name__)


def _version_specific(fields: set[str], config: TrainConfig) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if "warmup_ratio" in fields:
        kwargs["warmup_ratio"] = config.warmup_ratio
    else:
        kwargs["warmup_steps"] = config.warmup_ratio  # 5.x: a float below 1 is a ratio of the total steps
    if "train_sampling_strategy" in fields:
        kwargs["train_sampling_strategy"] = "group_by_length" if config.group_by_length else "random"
    else:
        kwargs["group_by_length"] = config.group_by_length
    if "include_num_input_tokens_seen" in fields:
        kwargs["include_num_input_tokens_seen"] = "non_padding"
    return kwargs


def training_arguments(config: TrainConfig, output_dir: Path, has_eval: bool, bf16: bool) -> TrainingArguments:
    """The ``TrainingArguments`` of a run (checkpoints under ``output_dir``; ``bf16`` from
    :func:`prm.runtime.use_bf16`)."""
    fields = {f.name for f in dataclasses.fields(TrainingArguments)}
    cpu = config.device == "cpu" or not torch.cuda.is_available()
    every_steps = has_eval and config.eval_steps > 0
    kwargs: dict[str, Any] = dict(
        output_dir=str(output_dir), per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size * 2, gradient_accumulation_steps=config.grad_accum,
        learning_rate=config.learning_rate(), weight_decay=config.weight_decay, num_train_epochs=config.epochs,
        max_steps=config.max_steps, lr_scheduler_type=config.scheduler, logging_steps=config.logging_steps,
        eval_strategy="steps" if every_steps else "no", eval_steps=config.eval_steps if every_steps else None,
        save_strategy="steps", save_steps=config.save_steps, save_total_limit=config.save_total_limit,
        seed=config.seed, data_seed=config.seed, bf16=bf16, use_cpu=cpu,
        gradient_checkpointing=config.gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False} if config.gradient_checkpointing else None,
        report_to=[] if config.report_to in ("", "none") else [config.report_to], run_name=config.run_name,
        remove_unused_columns=False, label_names=["labels"], dataloader_num_workers=config.dataloader_workers,
        disable_tqdm=not sys.stderr.isatty(),
        **_version_specific(fields, config),
    )
    dropped = sorted(k for k in kwargs if k not in fields)
    if dropped:
        logger.warning("this transformers does not know TrainingArguments %s; ignoring them", ", ".join(dropped))
    return TrainingArguments(**{k: v for k, v in kwargs.items() if k in fields})


class TimeBudgetCallback(TrainerCallback, ExportableState):
    """Stops training once an optional ``minutes`` cap of training time (summed over resumes) has passed,
    warning that it did; counts tokens/s."""

    def __init__(self, minutes: float = 0.0, elapsed_s: float = 0.0) -> None:
        self.minutes = minutes
        self.elapsed_s = elapsed_s
        self._base = elapsed_s
        self._start = time.perf_counter()
        self._start_tokens = 0
        self.session_tokens = 0
        self.session_seconds = 0.0

    def state(self) -> dict[str, Any]:
        return {"args": {"minutes": self.minutes}, "attributes": {"elapsed_s": self.elapsed_s}}

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._base, self._start = self.elapsed_s, time.perf_counter()
        self._start_tokens = state.num_input_tokens_seen

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.session_seconds = time.perf_counter() - self._start
        self.elapsed_s = self._base + self.session_seconds
        self.session_tokens = state.num_input_tokens_seen - self._start_tokens
        if self.minutes > 0 and self.elapsed_s >= self.minutes * 60 and not control.should_training_stop:
            if state.global_step < state.max_steps:
                logger.warning("reward model: %d of %d steps, stopped by --minutes %g", state.global_step,
                               state.max_steps, self.minutes)
            control.should_training_stop = True
            control.should_save = True

    @property
    def tokens_per_second(self) -> float:
        return self.session_tokens / self.session_seconds if self.session_seconds > 0 else 0.0


class AlreadyTrained(Exception):
    """Raised by :class:`StopWhenTrained`: the checkpoint resumed from already holds every planned step."""


class StopWhenTrained(TrainerCallback):
    """Stops a run resumed from a checkpoint that holds all ``max_steps`` before it trains any step: the Trainer
    checks the step count only after a step, so it would train one more (and save checkpoint ``max_steps + 1``)
    each time a finished run is rerun, e.g. after a kill between the last checkpoint and the final save."""

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if 0 < state.max_steps <= state.global_step:  # weights, optimizer and state are loaded by now
            raise AlreadyTrained(f"all {state.max_steps} steps are in the checkpoint")


def saved_elapsed(checkpoint: str | None) -> float:
    """The training time recorded in a checkpoint's ``trainer_state.json`` (0 without one)."""
    if checkpoint is None:
        return 0.0
    path = Path(checkpoint) / "trainer_state.json"
    if not path.exists():
        return 0.0
    stored = json.loads(path.read_text(encoding="utf-8")).get("stateful_callbacks", {}).get(
        TimeBudgetCallback.__name__, {})
    stored = stored[0] if isinstance(stored, list) and stored else stored
    return float((stored or {}).get("attributes", {}).get("elapsed_s", 0.0))


def peak_memory_mb() -> float:
    """Peak GPU memory allocated when on CUDA, else this process's peak resident memory (ru_maxrss)."""
    if torch.cuda.is_available() and torch.cuda.max_memory_allocated() > 0:
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
