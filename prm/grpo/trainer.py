"""The GRPO loop: rollout (G completions per prompt), rewards and advantages, clipped policy-gradient update.

Each step: draw ``prompts_per_step`` problems (seeded order), generate ``group_size`` completions each
with the live policy (HF) or a vLLM engine synced after every update, score them with the weighted
rewards (:mod:`prm.rewards`), compute token advantages (outcome and/or process), then run ``mu`` optimisation passes
over the batch in micro-batches (gradient accumulation; old log-probs fixed before the first pass),
with an optional k3 KL penalty to the initial policy. Every ``checkpoint_steps`` a resumable checkpoint
is written; rerunning the same command continues from it. Held-out pass@1 (``prm.policy.evaluate``)
is measured at the start and at the end::

    from prm.grpo import GRPOConfig, train_grpo
    result = train_grpo(GRPOConfig(model="runs/policy-default", out_dir="runs/grpo", max_steps=20))
"""

from __future__ import annotations

import functools
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from prm.grpo.config import GRPOConfig
from prm.grpo.generator import Generator
from prm.grpo.loss import BatchNorm, completion_log_probs, policy_loss
from prm.grpo.metrics import MetricsWriter
from prm.grpo.monitor import OveroptimizationMonitor
from prm.grpo.rollout import generate_rollout, rollout_tensors, score_rollout
from prm.grpo.state import (
    batch_problems,
    checkpoint,
    eval_problems,
    load_models,
    load_state,
    make_optimizer,
    restore,
    training_problems,
)
from prm.model.formats import parse_options
from prm.parallel import write_atomically
from prm.policy.checkpoint import TrainState
from prm.policy.evaluate import evaluate_policy
from prm.policy.tokenizer import save_tokenizer
from prm.rewards import RewardContext, build_rewards, parse_rewards
from prm.runtime import precision_name, stage_record, torch_threads, use_bf16
from prm.sampling.base import SamplingConfig

__all__ = ["GRPOResult", "train_grpo", "update_policy"]

logger = logging.getLogger(__name__)

RUN_METRICS_FILE = "grpo_metrics.json"


@dataclass
class GRPOResult:
    """Where the trained policy went, its counters, and the held-out results at start and end."""

    out_dir: Path
    state: TrainState
    model: Any
    tokenizer: Any
    eval_start: dict[str, Any] | None = None
    eval_end: dict[str, Any] | None = None
    last_metrics: dict[str, Any] = field(default_factory=dict)


def train_grpo(config: GRPOConfig) -> GRPOResult:
    """Train (or resume) per ``config``; saves the final policy, metrics.jsonl and evaluations in ``out_dir``."""
    if not config.out_dir:
        raise ValueError("GRPOConfig.out_dir (--out-dir) is required")
    out_dir = Path(config.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "grpo_config.json").write_text(json.dumps(asdict(config), indent=1) + "\n", encoding="utf-8")
    with torch_threads(config.threads):
        return _train(config)


def _micro_batches(n: int, size: int) -> list[slice]:
    return [slice(start, min(n, start + size)) for start in range(0, n, size)]


@torch.no_grad()
def _fixed_log_probs(model: Any, tensors: dict[str, Any], config: GRPOConfig, adapters_off: bool = False
                     ) -> torch.Tensor:
    """Log-probs [N, T] without gradient (old policy before the passes, or the reference)."""
    rows = []
    for part in _micro_batches(tensors["input_ids"].shape[0], config.micro_batch):
        args = (tensors["input_ids"][part], tensors["attention_mask"][part], tensors["prompt_width"],
                config.temperature)
        with _autocast(model, config):
            if adapters_off:
                with model.disable_adapter():
                    rows.append(completion_log_probs(model, *args))
            else:
                rows.append(completion_log_probs(model, *args))
    return torch.cat(rows)


def grpo_bf16(config: GRPOConfig, device: torch.device) -> bool:
    """bf16 autocast of the policy's forward passes (weights, optimizer and log-softmax stay float32): ``--bf16``
    when given, else on a GPU that does bf16; CPUs train in float32 by default."""
    if config.bf16 is not None:
        return config.bf16
    return device.type == "cuda" and use_bf16(None, device)


def _autocast(model: Any, config: GRPOConfig) -> Any:
    device = next(model.parameters()).device
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=grpo_bf16(config, device))


def update_policy(model: Any, reference: Any, optimizer: torch.optim.Optimizer, tensors: dict[str, Any],
                  config: GRPOConfig) -> dict[str, float]:
    """``mu`` optimizer steps on one rollout batch, each accumulating gradients over micro-batches."""
    device = next(model.parameters()).device
    tensors = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in tensors.items()}
    mask, n = tensors["completion_mask"], tensors["input_ids"].shape[0]
    norm = BatchNorm(n, int(mask.sum()), config.max_new_tokens)
    old = _fixed_log_probs(model, tensors, config) if config.mu > 1 else None
    ref = None
    if config.beta > 0 or config.kl_monitor:  # the KL is measured either way; beta decides if it is penalised
        ref = _fixed_log_probs(model, tensors, config, adapters_off=True) if config.lora else \
            _fixed_log_probs(reference, tensors, config)
    model.train()
    totals = {"loss": 0.0, "clip_fraction": 0.0, "kl": 0.0, "ratio": 0.0, "grad_norm": 0.0}
    for _ in range(config.mu):
        optimizer.zero_grad(set_to_none=True)
        for part in _micro_batches(n, config.micro_batch):
            with _autocast(model, config):
                logp = completion_log_probs(model, tensors["input_ids"][part], tensors["attention_mask"][part],
                                            tensors["prompt_width"], config.temperature)
            out = policy_loss(logp, old[part] if old is not None else logp.detach(), tensors["advantages"][part],
                              mask[part], how=config.loss_aggregation, clip_eps=config.clip_eps,
                              clip_eps_high=config.clip_eps_high, ref_logp=ref[part] if ref is not None else None,
                              beta=config.beta, norm=norm)
            out.loss.backward()
            share = float(mask[part].sum()) / max(1.0, float(mask.sum())) / config.mu
            totals["loss"] += float(out.loss.detach()) / config.mu
            totals["clip_fraction"] += out.clip_fraction * share
            totals["kl"] += out.kl * share
            totals["ratio"] += out.ratio_mean * share
        params = [p for p in model.parameters() if p.requires_grad]
        clip = config.grad_clip if config.grad_clip > 0 else float("inf")
        totals["grad_norm"] += float(torch.nn.utils.clip_grad_norm_(params, clip)) / config.mu
        optimizer.step()
    if ref is None:
        totals["kl"] = float("nan")  # no reference model: nothing to measure against
    return totals


def _evaluate(model: Any, tokenizer: Any, problems: list, config: GRPOConfig, path: Path) -> dict[str, Any] | None:
    if not problems:
        return None
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    result = evaluate_policy(model, tokenizer, problems, n=config.eval_samples, temperature=config.eval_temperature,
                             max_new_tokens=config.max_new_tokens, seed=config.eval_seed,
                             system_prompt=config.system_prompt).to_dict()
    result["pass@1"] = result["pass_at"]["1"]
    write_atomically(path, [(json.dumps(result, indent=2) + "\n").encode("utf-8")])  # never a torn file to resume
    logger.info("held-out pass@1 %s: %.3f on %d problems x %d samples", path.stem, result["pass@1"], len(problems),
                config.eval_samples)
    return result


def _step(context: dict[str, Any], state: TrainState, config: GRPOConfig) -> dict[str, Any]:
    """One GRPO step; returns its metrics."""
    generator, tokenizer, model = context["generator"], context["tokenizer"], context["model"]
    params = SamplingConfig(temperature=config.temperature, top_p=config.top_p, max_tokens=config.max_new_tokens)
    start = time.perf_counter()
    batch = batch_problems(context["problems"], config.prompts_per_step, config.seed, state.step)
    generate = functools.partial(generator.generate, step=state.step)
    rollout = generate_rollout(generate, tokenizer, batch, config.group_size, params, config.system_prompt)
    generated = time.perf_counter()
    score_rollout(rollout, context["rewards"], tokenizer, config.scale_std, config.system_prompt,
                  config.process_credit, config.process_clip)
    scored = time.perf_counter()
    stats = update_policy(model, context["reference"], context["optimizer"],
                          rollout_tensors(rollout, tokenizer.pad_token_id), config)
    sync_s = generator.sync()
    done = time.perf_counter()
    times = {"generation": generated - start, "reward": scored - generated, "update": done - scored - sync_s,
             "sync": sync_s}
    total = max(done - start, 1e-9)
    metrics: dict[str, Any] = {**stats, **rollout.metrics}
    for name, seconds in times.items():
        metrics[f"time/{name}_s"], metrics[f"time/{name}_share"] = seconds, seconds / total
    metrics["time/step_s"] = total
    state.tokens_seen += sum(len(ids) for ids in rollout.completion_ids)
    return metrics


def _setup(config: GRPOConfig, out_dir: Path) -> tuple[dict[str, Any], TrainState]:
    terms = parse_rewards(config.rewards)  # fail fast on a bad spec
    found = restore(config, out_dir)
    model, tokenizer, reference = load_models(config, found)
    optimizer = make_optimizer(model, config)
    state = load_state(found, optimizer, config)
    reward_context = RewardContext(prm=config.prm, prm_format=config.prm_format,
                                   prm_options=parse_options(config.prm_options), device=config.device,
                                   max_new_tokens=config.max_new_tokens)
    context = {"model": model, "tokenizer": tokenizer, "reference": reference, "optimizer": optimizer,
               "problems": training_problems(config), "held_out": eval_problems(config),
               "rewards": build_rewards(terms, reward_context)}
    return context, state


def _write_run_metrics(out_dir: Path, state: TrainState, device: torch.device, config: GRPOConfig) -> None:
    """``grpo_metrics.json``: steps, time and completion tokens/s, and the machine they were measured on."""
    tokens_per_s = state.tokens_seen / state.elapsed_s if state.elapsed_s > 0 else None
    record = {"steps": state.step, "elapsed_s": round(state.elapsed_s, 1), "completion_tokens": state.tokens_seen,
              "runtime": stage_record(device, precision_name(grpo_bf16(config, device)), tokens_per_s)}
    (out_dir / RUN_METRICS_FILE).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")


def _train(config: GRPOConfig) -> GRPOResult:
    out_dir = Path(config.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    context, state = _setup(config, out_dir)
    model, tokenizer, optimizer = context["model"], context["tokenizer"], context["optimizer"]
    writer = MetricsWriter(out_dir, config, state.step)
    monitor = OveroptimizationMonitor(config.monitor_window, config.monitor_z)
    monitor.replay(writer.lines())
    result = GRPOResult(out_dir, state, model, tokenizer)
    result.eval_start = _evaluate(model, tokenizer, context["held_out"], config, out_dir / "eval_start.json")
    generator = Generator(config.backend, model, tokenizer, config.model, out_dir, config.seed, config.device,
                          config.vllm_max_model_len, config.vllm_gpu_memory_utilization)
    context["generator"] = generator
    try:
        if state.step > 0:
            generator.sync()  # a resumed run's engine starts from the initial weights
        clock = time.perf_counter() - state.elapsed_s
        while state.step < config.max_steps:
            result.last_metrics = _step(context, state, config)
            state.step += 1
            result.last_metrics.update(monitor.update(result.last_metrics, state.step))
            state.elapsed_s = time.perf_counter() - clock
            state.last_loss = result.last_metrics["loss"]
            writer.write(state.step, result.last_metrics)
            if state.step % config.checkpoint_steps == 0 or state.step == config.max_steps:
                checkpoint(out_dir, model, tokenizer, optimizer, state, config)
    finally:
        generator.close()
    final = model.merge_and_unload() if config.lora else model
    result.eval_end = _evaluate(final, tokenizer, context["held_out"], config, out_dir / "eval_end.json")
    if result.eval_end is not None:
        writer.log_eval("end", result.eval_end)
    writer.close()
    final.save_pretrained(str(out_dir))
    save_tokenizer(tokenizer, out_dir)
    _write_run_metrics(out_dir, state, next(final.parameters()).device, config)
    result.model = final
    logger.info("GRPO: %d steps in %.1f min; policy saved to %s", state.step, state.elapsed_s / 60, out_dir)
    return result
