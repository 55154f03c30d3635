"""Train the policy: a small Llama from scratch (with its tokenizer) or SFT of a Hugging Face causal LM.

A plain PyTorch loop over length-bucketed batches of (prompt + reference solution + eos), loss on
the solution tokens only, AdamW with linear warmup and a cosine decay that follows progress through
the budget (``max_steps``; an optional ``minutes`` cap ends it early, and the log, ``policy_meta.json``
and the quickstart report then say so). bf16 autocast where :func:`prm.runtime.use_bf16` says the hardware
does it natively, or where asked.

Every ``checkpoint_minutes`` the loop writes ``out_dir/checkpoint/`` (model and tokenizer via
``save_pretrained``, plus ``trainer_state.pt``: optimizer, counters, data position, RNG), swapping it
in by rename so a kill never leaves a half-written checkpoint. A rerun (``resume``, the default) restarts from it with
the step counter, optimizer state, elapsed time and batch position restored. At the end the model,
the tokenizer and ``policy_meta.json`` are saved in ``out_dir``::

    from prm.policy import PolicyTrainConfig, train_policy
    result = train_policy(PolicyTrainConfig(out_dir="runs/p", max_steps=200))
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from prm.lm import count_parameters, load_lm
from prm.policy.checkpoint import CHECKPOINT_DIR, TrainState, find_checkpoint, load_checkpoint, save_checkpoint
from prm.policy.config import PolicyTrainConfig
from prm.policy.data import Example, collate, encode_examples, epoch_batches, load_problems, synthetic_problems
from prm.policy.model import ModelSize, new_model
from prm.policy.tokenizer import save_tokenizer, train_tokenizer
from prm.prompts import build_prompt
from prm.runtime import budget_record, precision_name, resolve_device, stage_record, torch_threads, use_bf16

__all__ = ["TrainResult", "train_policy", "lr_at"]

logger = logging.getLogger(__name__)

META_FILE = "policy_meta.json"
_TOKENIZER_TEXTS = 5000  # problems the BPE tokenizer is trained on
_FINGERPRINT_KEYS = ("model", "data", "n_train", "levels", "families", "seed", "vocab_size", "hidden_size",
                     "num_layers", "num_heads", "intermediate_size", "max_length", "batch_size")


@dataclass
class TrainResult:
    """Where the trained policy went and how training went."""

    out_dir: Path
    state: TrainState
    meta: dict[str, Any]
    model: Any
    tokenizer: Any


def lr_at(config: PolicyTrainConfig, step: int, progress: float) -> float:
    """Linear warmup over ``warmup_steps``, then cosine from the peak to ``min_lr_ratio`` over progress 0..1."""
    warmup = min(1.0, (step + 1) / max(1, config.warmup_steps))
    cosine = 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return config.lr * warmup * (config.min_lr_ratio + (1.0 - config.min_lr_ratio) * cosine)


def _progress(config: PolicyTrainConfig, state: TrainState) -> float:
    parts = []
    if config.max_steps > 0:
        parts.append(state.step / config.max_steps)
    if config.minutes > 0:
        parts.append(state.elapsed_s / (config.minutes * 60.0))
    return max(parts)


def _fingerprint(config: PolicyTrainConfig) -> dict[str, Any]:
    return {key: getattr(config, key) for key in _FINGERPRINT_KEYS}


def _problems(config: PolicyTrainConfig) -> list:
    if config.data:
        return load_problems(config.data)
    return synthetic_problems(config.n_train, config.seed, "train", config.level_list() or None, config.family_list())


def _new_policy(config: PolicyTrainConfig, problems: list) -> tuple[Any, Any]:
    texts = [build_prompt(p.problem) + (p.solution or "") for p in problems[:_TOKENIZER_TEXTS]]
    size = ModelSize(config.hidden_size, config.num_layers, config.num_heads, config.intermediate_size,
                     max_positions=config.max_length)
    tokenizer = train_tokenizer(texts, vocab_size=config.vocab_size, model_max_length=config.max_length)
    model = new_model(size, len(tokenizer), tokenizer.eos_token_id, tokenizer.pad_token_id, seed=config.seed)
    return model, tokenizer


def _optimizer(model: torch.nn.Module, config: PolicyTrainConfig) -> torch.optim.AdamW:
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.lr, betas=(0.9, 0.95), eps=1e-8)


def _autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16) if enabled else contextlib.nullcontext()


def _train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, batch: dict[str, torch.Tensor],
                config: PolicyTrainConfig, device: torch.device, bf16: bool) -> float:
    """One optimizer step on one batch; returns the mean loss over its solution tokens."""
    batch = {key: value.to(device) for key, value in batch.items()}
    with _autocast(device, bf16):
        loss = model(**batch).loss
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if config.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
    optimizer.step()
    return float(loss.detach())


def _batches(examples: list[Example], config: PolicyTrainConfig, state: TrainState) -> Iterator[list[Example]]:
    """Batches from the state's data position on, advancing epochs forever; the caller moves the position."""
    lengths = [len(e) for e in examples]
    while True:
        order = epoch_batches(lengths, config.batch_size, config.seed, state.epoch)
        while state.batch_in_epoch < len(order):
            yield [examples[i] for i in order[state.batch_in_epoch]]
        state.epoch, state.batch_in_epoch = state.epoch + 1, 0


def _setup(config: PolicyTrainConfig, out_dir: Path, device: torch.device) -> tuple[Any, Any, list, TrainState, Any]:
    """Model, tokenizer, problems, state and optimizer: fresh, or restored from the checkpoint."""
    checkpoint = find_checkpoint(out_dir)
    while checkpoint is not None and not config.resume:
        logger.warning("--no-resume: deleting the checkpoint %s to start over", checkpoint)
        shutil.rmtree(checkpoint)
        checkpoint = find_checkpoint(out_dir)
    problems = _problems(config)
    if checkpoint is not None:
        model, tokenizer = load_lm(str(checkpoint))
    elif config.model:
        model, tokenizer = load_lm(config.model)
    else:
        model, tokenizer = _new_policy(config, problems)
    model.to(device)
    optimizer = _optimizer(model, config)
    state = TrainState()
    if checkpoint is not None:
        state = load_checkpoint(checkpoint, optimizer, _fingerprint(config))
        logger.info("resumed from %s at step %d (%.1f min elapsed)", checkpoint, state.step, state.elapsed_s / 60)
    return model, tokenizer, problems, state, optimizer


def _log_line(state: TrainState, losses: list[float], window: tuple[float, int], lr: float) -> str:
    seconds, tokens = window
    return (f"step {state.step} epoch {state.epoch} loss {sum(losses) / max(1, len(losses)):.4f} lr {lr:.2e} "
            f"tokens/s {tokens / max(seconds, 1e-9):.0f} elapsed {state.elapsed_s / 60:.1f} min")


def _loop(model: Any, optimizer: torch.optim.Optimizer, examples: list[Example], state: TrainState,
          config: PolicyTrainConfig, device: torch.device, bf16: bool, pad: int, on_checkpoint: Any) -> None:
    """Train until the budget is spent, checkpointing on schedule; updates ``state`` in place."""
    model.train()
    start = time.perf_counter() - state.elapsed_s
    last_checkpoint, window_start, window_tokens, losses = time.perf_counter(), time.perf_counter(), 0, []
    for batch_examples in _batches(examples, config, state):
        if _progress(config, state) >= 1.0:
            break
        lr = lr_at(config, state.step, _progress(config, state))
        for group in optimizer.param_groups:
            group["lr"] = lr
        batch = collate(batch_examples, pad)
        losses.append(_train_step(model, optimizer, batch, config, device, bf16))
        tokens = int(batch["attention_mask"].sum())
        state.step, state.batch_in_epoch = state.step + 1, state.batch_in_epoch + 1
        state.tokens_seen += tokens
        state.target_tokens += int((batch["labels"] != -100).sum())
        state.last_loss = losses[-1]
        window_tokens += tokens
        now = time.perf_counter()
        state.elapsed_s = now - start
        if state.step % config.log_every == 0:
            logger.info("%s", _log_line(state, losses, (now - window_start, window_tokens), lr))
            window_start, window_tokens, losses = now, 0, []
        due_steps = config.checkpoint_steps > 0 and state.step % config.checkpoint_steps == 0
        if due_steps or now - last_checkpoint >= config.checkpoint_minutes * 60.0:
            on_checkpoint()
            last_checkpoint = time.perf_counter()
            start += last_checkpoint - now  # checkpoint writing does not count against the budget


def train_policy(config: PolicyTrainConfig) -> TrainResult:
    """Train (or resume) per ``config``; saves model, tokenizer and ``policy_meta.json`` in ``out_dir``."""
    if config.max_steps <= 0 and config.minutes <= 0:
        raise ValueError("give a budget: --max-steps (or a --minutes cap) must be positive")
    with torch_threads(config.threads):
        return _train(config)


def _train(config: PolicyTrainConfig) -> TrainResult:
    out_dir, device = Path(config.out_dir), resolve_device(config.device)
    out_dir.mkdir(parents=True, exist_ok=True)
    model, tokenizer, problems, state, optimizer = _setup(config, out_dir, device)
    examples = encode_examples(problems, tokenizer, config.max_length)
    bf16 = use_bf16(config.bf16, device, getattr(model.config, "hidden_size", None))
    logger.info("%d training examples, %.1f tokens each on average; %d threads, device %s, %s", len(examples),
                sum(map(len, examples)) / len(examples), torch.get_num_threads(), device, precision_name(bf16))

    def checkpoint() -> None:
        save_checkpoint(out_dir, model, tokenizer, optimizer, state, _fingerprint(config))

    _loop(model, optimizer, examples, state, config, device, bf16, tokenizer.pad_token_id, checkpoint)
    checkpoint()
    model.save_pretrained(str(out_dir))
    save_tokenizer(tokenizer, out_dir)
    meta = _meta(config, model, problems, examples, state)
    runtime = stage_record(device, precision_name(bf16), meta["training"]["tokens_per_s"],
                           budget_record(state.step, config.max_steps, config.minutes, state.elapsed_s))
    meta["runtime"] = runtime
    if runtime["budget"]["stopped_by"] == "minutes":
        logger.warning("policy: %d of %d steps, stopped by --minutes %g", state.step, config.max_steps, config.minutes)
    (out_dir / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    logger.info("saved the policy to %s after %d steps, %d tokens, %.1f min (%.0f tokens/s)", out_dir, state.step,
                state.tokens_seen, state.elapsed_s / 60, meta["training"]["tokens_per_s"])
    return TrainResult(out_dir, state, meta, model, tokenizer)


def _meta(config: PolicyTrainConfig, model: Any, problems: list, examples: list[Example],
          state: TrainState) -> dict[str, Any]:
    seconds = max(state.elapsed_s, 1e-9)
    return {
        "base_model": config.model or "scratch",
        "parameters": count_parameters(model),
        "checkpoint": CHECKPOINT_DIR,
        "data": {"source": config.data or "synthetic", "problems": len(problems), "examples": len(examples),
                 "levels": config.level_list() if not config.data else None,
                 "families": config.family_list() if not config.data else None, "seed": config.seed,
                 "mean_tokens_per_example": sum(map(len, examples)) / len(examples)},
        "training": {"steps": state.step, "epochs": state.epoch + state.batch_in_epoch * config.batch_size /
                     len(examples), "tokens_seen": state.tokens_seen, "target_tokens": state.target_tokens,
                     "time_s": round(state.elapsed_s, 1), "tokens_per_s": state.tokens_seen / seconds,
                     "final_loss": state.last_loss, "threads": torch.get_num_threads()},
        "config": asdict(config),
    }
