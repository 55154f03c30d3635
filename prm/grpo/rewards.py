"""Reward sources for GRPO: one registry (``REWARDS``), combinable with weights (``answer:1.0,format:0.1``).

Every source is built by a factory ``f(resources) -> reward function`` and has a kind:

- ``outcome``: TRL's signature ``f(prompts, completions, **columns) -> list[float | None]``, one number per
  completion; ``None`` means "cannot judge" and that completion is skipped (NaN, advantage 0), never 0.
- ``process``: ``f(prompts, completions, **columns) -> list[list[float | None] | None]``, one score per step
  (steps split on blank lines, as ``data.segment.split_steps``); the trainer places step ``j``'s score on
  the token ending step ``j`` and turns them into process advantages (``prm.grpo.advantages``).

Sources:

- ``answer``: the sympy answer check (:func:`verifiers.answer_reward`), 1/0, None when the gold is unreadable;
- ``prm_outcome``: a PRM folder's step scores aggregated into one (``eval.aggregate.AGGREGATIONS``,
  default ``min``); a completion without any step scores 0, one whose steps all fall past the PRM's
  length limit is skipped;
- ``prm_process``: the PRM's per-step scores (process advantages);
- ``format``: the mean of two checks: the last step holds a ``\\boxed{}`` answer, and the completion
  ended by itself (end of sequence, not cut at the token limit) with at least one step;
- ``length``: ``-num_tokens / max_tokens`` (in [-1, 0]), a penalty on long completions.

Columns passed by the rollout: ``problem`` (problem texts), ``answer`` (gold answers), ``completion_ids``,
``finish_reason``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from data.segment import split_steps
from verifiers import answer_reward
from verifiers.extract import last_boxed

__all__ = ["REWARDS", "RewardResources", "RewardSource", "parse_reward_weights", "build_rewards"]

logger = logging.getLogger(__name__)

Kind = Literal["outcome", "process"]
RewardFn = Callable[..., list[Any]]


@dataclass
class RewardResources:
    """What reward factories may need: the PRM (loaded once, shared) and the token budget."""

    prm: str | None = None
    prm_aggregation: str = "min"
    prm_batch_size: int = 16
    max_tokens: int = 256
    device: str = "cpu"
    workers: int = 1

    @functools.cached_property
    def scorer(self) -> Any:
        if not self.prm:
            raise ValueError("the prm_outcome and prm_process rewards need --prm (a folder written by `prm train`)")
        from prm.model.scoring import load_scorer

        return load_scorer(self.prm, device=self.device, batch_size=self.prm_batch_size)


@dataclass(frozen=True)
class RewardSource:
    """A registered reward: its kind and its factory."""

    kind: Kind
    factory: Callable[[RewardResources], RewardFn]


def _answer(resources: RewardResources) -> RewardFn:
    def reward(prompts: Sequence[str], completions: Sequence[str], answer: Sequence[str], **columns: Any
               ) -> list[float | None]:
        return answer_reward(prompts, completions, answer, workers=resources.workers)

    return reward


def _prm_steps(resources: RewardResources) -> RewardFn:
    def reward(prompts: Sequence[str], completions: Sequence[str], problem: Sequence[str], **columns: Any
               ) -> list[list[float | None] | None]:
        scores = resources.scorer.score_batch(list(zip(problem, completions, strict=True)))
        return [s if s else None for s in scores]

    return reward


def _prm_outcome(resources: RewardResources) -> RewardFn:
    from prm.integrations.trl import PRMOutcomeReward  # the same reward TRL users get

    return PRMOutcomeReward(aggregation=resources.prm_aggregation, scorer=resources.scorer)


def _format(resources: RewardResources) -> RewardFn:
    def reward(prompts: Sequence[str], completions: Sequence[str], finish_reason: Sequence[str], **columns: Any
               ) -> list[float | None]:
        values: list[float | None] = []
        for text, finish in zip(completions, finish_reason, strict=True):
            steps = split_steps(text)
            boxed = bool(steps) and last_boxed(steps[-1]) is not None
            ended = bool(steps) and finish == "stop"
            values.append(0.5 * boxed + 0.5 * ended)
        return values

    return reward


def _length(resources: RewardResources) -> RewardFn:
    def reward(prompts: Sequence[str], completions: Sequence[str], completion_ids: Sequence[Sequence[int]],
               **columns: Any) -> list[float | None]:
        return [-len(ids) / resources.max_tokens for ids in completion_ids]

    return reward


REWARDS: dict[str, RewardSource] = {
    "answer": RewardSource("outcome", _answer),
    "prm_outcome": RewardSource("outcome", _prm_outcome),
    "prm_process": RewardSource("process", _prm_steps),
    "format": RewardSource("outcome", _format),
    "length": RewardSource("outcome", _length),
}


def parse_reward_weights(spec: str) -> dict[str, float]:
    """``"answer:1.0,format:0.1"`` -> ``{"answer": 1.0, "format": 0.1}``; a name alone weighs 1.0."""
    weights: dict[str, float] = {}
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        name, _, weight = part.partition(":")
        name = name.strip()
        if name not in REWARDS:
            raise ValueError(f"unknown reward {name!r} in {spec!r}; known: {', '.join(REWARDS)}")
        if name in weights:
            raise ValueError(f"reward {name!r} appears twice in {spec!r}")
        try:
            weights[name] = float(weight) if weight.strip() else 1.0
        except ValueError:
            raise ValueError(f"reward {name!r}: weight {weight!r} is not a number") from None
    if not weights:
        raise ValueError("no reward given: use e.g. --rewards answer:1.0")
    if sum(REWARDS[name].kind == "process" for name in weights) > 1:
        raise ValueError("at most one process reward")
    return weights


def build_rewards(weights: dict[str, float], resources: RewardResources) -> dict[str, tuple[Kind, float, RewardFn]]:
    """name -> (kind, weight, reward function) for every source in ``weights``."""
    return {name: (REWARDS[name].kind, weight, REWARDS[name].factory(resources)) for name, weight in weights.items()}
