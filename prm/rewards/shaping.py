"""Shaping rewards that need no model: ``format`` (a boxed answer and a completion that ended by itself) and
``length`` (a penalty on long completions)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from data.segment import split_steps
from verifiers.extract import last_boxed
from verifiers.rewards import completion_text

__all__ = ["LengthReward", "format_reward"]


def format_reward(prompts: Sequence[Any] | None, completions: Sequence[Any], finish_reason: Sequence[str],
                  **columns: Any) -> list[float | None]:
    """The mean of two checks: the last step holds a ``\\boxed{}`` answer, and the completion ended by itself
    (``finish_reason`` "stop", not cut at the token limit) with at least one step."""
    values: list[float | None] = []
    for completion, finish in zip(completions, finish_reason, strict=True):
        steps = split_steps(completion_text(completion))
        boxed = bool(steps) and last_boxed(steps[-1]) is not None
        ended = bool(steps) and finish == "stop"
        values.append(0.5 * boxed + 0.5 * ended)
    return values


class LengthReward:
    """``-num_tokens / max_new_tokens`` (in [-1, 0]) from the ``completion_ids`` column."""

    kind = "outcome"

    def __init__(self, max_new_tokens: int, name: str = "length") -> None:
        if max_new_tokens < 1:
            raise ValueError(f"the length reward needs max_new_tokens >= 1, got {max_new_tokens}")
        self.max_new_tokens = max_new_tokens
        self.__name__ = name

    def __call__(self, prompts: Sequence[Any] | None, completions: Sequence[Any],
                 completion_ids: Sequence[Sequence[int]], **columns: Any) -> list[float | None]:
        return [-len(ids) / self.max_new_tokens for ids in completion_ids]
