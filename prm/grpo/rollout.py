"""One GRPO rollout: G completions per prompt, their rewards, token advantages and training tensors.

Completions are kept with the token ids the sampler drew (``Completion.token_ids``, end-of-sequence
included), so the update scores exactly the sampled tokens. Outcome sources are combined into one
reward per completion, ``r = sum_k w_k r_k`` (NaN when any weighted source could not judge); the
process source (``prm_process``) gives step scores placed on the tokens ending each step
(:func:`prm.grpo.step_spans.step_end_token_indices`). The last step is stretched to the last token so
the end-of-sequence token shares the final step's advantage (otherwise stopping would never be
reinforced). Token advantages: ``A = A_outcome + w_process * A_process`` (see ``prm.grpo.advantages``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from data.records import Problem
from prm.grpo.advantages import CREDIT, outcome_advantages, token_advantages, zero_variance_groups
from prm.grpo.step_spans import step_end_token_indices
from prm.prompts import build_prompt
from prm.rewards import BuiltReward, combine
from prm.sampling.base import Completion, SamplingConfig, encode_prompt
from verifiers import answer_reward

__all__ = ["Rollout", "generate_rollout", "score_rollout", "rollout_tensors"]

NAN = float("nan")


@dataclass
class Rollout:
    """N = prompts x G completions in contiguous groups, with rewards and advantages once scored."""

    problems: list[Problem]  # one per completion
    prompt_ids: list[list[int]]
    completion_ids: list[list[int]]
    texts: list[str]
    finish_reasons: list[str]
    group_size: int
    rewards: dict[str, list[float]] = field(default_factory=dict)  # per source, NaN = skipped
    advantages: torch.Tensor | None = None  # [N, T]
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def max_len(self) -> int:
        return max(len(ids) for ids in self.completion_ids)


def generate_rollout(generate: Callable[[list[str], int, SamplingConfig], list[list[Completion]]], tokenizer: Any,
                     problems: Sequence[Problem], group_size: int, params: SamplingConfig,
                     system_prompt: str | None = None) -> Rollout:
    """``group_size`` completions for each problem from ``generate`` (a ``Sampler.generate``), as a Rollout."""
    prompts = [build_prompt(p.problem, tokenizer, system_prompt) for p in problems]
    groups = generate(prompts, group_size, params)
    rollout = Rollout([], [], [], [], [], group_size)
    for problem, prompt, completions in zip(problems, prompts, groups, strict=True):
        prompt_ids = encode_prompt(tokenizer, prompt)
        for completion in completions:
            if not completion.token_ids:
                raise RuntimeError(f"the sampler returned no token ids for problem {problem.id}")
            rollout.problems.append(problem)
            rollout.prompt_ids.append(prompt_ids)
            rollout.completion_ids.append(list(completion.token_ids))
            rollout.texts.append(completion.text)
            rollout.finish_reasons.append(completion.finish_reason)
    return rollout


def _as_float(values: Sequence[float | None]) -> list[float]:
    return [NAN if v is None else float(v) for v in values]


def _step_tensors(rollout: Rollout, step_scores: Sequence[Sequence[float | None] | None], tokenizer: Any
                  ) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Step rewards [N, S] (NaN-padded) and step end token indices [N, S] (-1-padded); also the count of
    completions whose steps could not be aligned with their tokens (skipped)."""
    rows: list[tuple[list[float], list[int]]] = []
    misaligned = 0
    for ids, scores in zip(rollout.completion_ids, step_scores, strict=True):
        ends = step_end_token_indices(tokenizer, ids) if scores else []
        if scores and len(ends) != len(scores):
            misaligned += 1
            ends, scores = [], []
        if ends:
            ends[-1] = len(ids) - 1  # trailing tokens (eos) belong to the last step
        rows.append((_as_float(scores or []), ends))
    width = max(1, max(len(ends) for _, ends in rows))
    rewards = torch.full((len(rows), width), NAN)
    positions = torch.full((len(rows), width), -1, dtype=torch.long)
    for i, (values, ends) in enumerate(rows):
        rewards[i, :len(values)] = torch.tensor(values, dtype=torch.float32)
        positions[i, :len(ends)] = torch.tensor(ends, dtype=torch.long)
    return rewards, positions, misaligned


def _nan_stats(values: Sequence[float]) -> tuple[float, float]:
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return NAN, NAN
    mean = sum(finite) / len(finite)
    return mean, math.sqrt(sum((v - mean) ** 2 for v in finite) / len(finite))


def score_rollout(rollout: Rollout, rewards: Sequence[BuiltReward], tokenizer: Any, scale_std: bool = True,
                  system_prompt: str | None = None, process_credit: str = "sum",
                  process_clip: float | None = None) -> None:
    """Compute every reward, the combined token advantages and reward metrics, in place.

    Outcome rewards are combined by :func:`prm.rewards.combine` (weighted sum; skipped where any is skipped);
    a process reward's step scores (capped at ``process_clip`` when given) become process advantages by
    ``process_credit`` (:data:`prm.grpo.advantages.CREDIT`: ``sum`` or ``min``), added at its weight.
    """
    prompts = [build_prompt(p.problem, tokenizer, system_prompt) for p in rollout.problems]
    columns = {"problem": [p.problem for p in rollout.problems], "answer": [p.answer for p in rollout.problems],
               "completion_ids": rollout.completion_ids, "finish_reason": rollout.finish_reasons}
    mask = _completion_mask(rollout)
    n, total = len(rollout.texts), None
    outcomes: dict[str, list[float]] = {}
    for reward in rewards:
        values = reward.function(prompts, rollout.texts, **columns)
        if len(values) != n:
            raise ValueError(f"reward {reward.name!r} returned {len(values)} values for {n} completions")
        if reward.kind == "outcome":
            outcomes[reward.name] = rollout.rewards[reward.name] = _as_float(values)
            continue
        step_rewards, step_ends, misaligned = _step_tensors(rollout, values, tokenizer)
        rollout.rewards[reward.name] = [_nan_stats(row.tolist())[0] for row in step_rewards]  # per-completion mean
        rollout.metrics[f"reward/{reward.name}/misaligned"] = misaligned
        if process_clip is not None:  # every step at or above the cap counts as equally good
            step_rewards = torch.where(torch.isnan(step_rewards), step_rewards, step_rewards.clamp(max=process_clip))
        process = CREDIT[process_credit](step_rewards, step_ends, rollout.group_size, mask.shape[1], scale_std)
        total = reward.weight * process if total is None else total + reward.weight * process
    if outcomes:
        combined = combine(outcomes, {r.name: r.weight for r in rewards})
        outcome = torch.tensor(_as_float(combined), dtype=torch.float32)
        outcome_tokens = token_advantages(outcome_advantages(outcome, rollout.group_size, scale_std), mask)
        total = outcome_tokens if total is None else total + outcome_tokens
        rollout.metrics["reward/combined/mean"] = _nan_stats(outcome.tolist())[0]
    assert total is not None
    rollout.advantages = total * mask
    _reward_metrics(rollout)
    if "answer" not in rollout.rewards:  # accuracy is logged whatever the training reward
        checked = answer_reward(prompts, rollout.texts, columns["answer"])
        rollout.metrics["accuracy"] = _nan_stats(_as_float(checked))[0]


def _reward_metrics(rollout: Rollout) -> None:
    groups = len(rollout.texts) // rollout.group_size
    for name, values in rollout.rewards.items():
        mean, std = _nan_stats(values)
        rollout.metrics[f"reward/{name}/mean"], rollout.metrics[f"reward/{name}/std"] = mean, std
        rollout.metrics[f"reward/{name}/skipped"] = sum(math.isnan(v) for v in values)
    if "answer" in rollout.rewards:
        rollout.metrics["accuracy"] = _nan_stats(rollout.rewards["answer"])[0]
    assert rollout.advantages is not None
    zero = zero_variance_groups(rollout.advantages, rollout.group_size)
    rollout.metrics.update({"zero_variance_groups": zero, "zero_variance_frac": zero / max(1, groups)})
    lengths = [len(ids) for ids in rollout.completion_ids]
    rollout.metrics["completion_len/mean"] = sum(lengths) / len(lengths)
    rollout.metrics["completion_len/max"] = max(lengths)
    rollout.metrics["truncated_frac"] = sum(r == "length" for r in rollout.finish_reasons) / len(lengths)


def _completion_mask(rollout: Rollout) -> torch.Tensor:
    mask = torch.zeros(len(rollout.completion_ids), rollout.max_len)
    for i, ids in enumerate(rollout.completion_ids):
        mask[i, :len(ids)] = 1.0
    return mask


def rollout_tensors(rollout: Rollout, pad_id: int) -> dict[str, Any]:
    """Training tensors: ``input_ids`` / ``attention_mask`` [N, P + T] (prompts left-padded to P, completions
    right-padded to T), ``completion_mask`` [N, T], ``advantages`` [N, T] and ``prompt_width`` P."""
    width = max(len(ids) for ids in rollout.prompt_ids)
    length = rollout.max_len
    n = len(rollout.completion_ids)
    input_ids = torch.full((n, width + length), pad_id, dtype=torch.long)
    attention = torch.zeros((n, width + length), dtype=torch.long)
    for i, (prompt, completion) in enumerate(zip(rollout.prompt_ids, rollout.completion_ids, strict=True)):
        input_ids[i, width - len(prompt):width] = torch.tensor(prompt)
        input_ids[i, width:width + len(completion)] = torch.tensor(completion)
        attention[i, width - len(prompt):width + len(completion)] = 1
    assert rollout.advantages is not None
    return {"input_ids": input_ids, "attention_mask": attention, "completion_mask": attention[:, width:].float(),
            "advantages": rollout.advantages, "prompt_width": width}
