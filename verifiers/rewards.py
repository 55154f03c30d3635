"""Answer-check reward with TRL's GRPO reward-function signature.

``answer_reward(prompts, completions, answer, **columns) -> list[float | None]``: 1.0 when the
completion's final answer equals the gold answer, 0.0 when it does not (or states none, or the
check times out), ``None`` when the gold itself cannot be parsed ("cannot judge", which TRL skips
rather than scoring as wrong). Thread-safe: TRL may call reward functions from threads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from verifiers.config import Status, VerifyConfig
from verifiers.verify import verify_many

__all__ = ["answer_reward", "completion_text"]


def completion_text(completion: Any) -> str:
    """Text of a completion: a plain string or a conversational list of messages."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Sequence) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content", ""))
    if isinstance(completion, dict):
        return str(completion.get("content", ""))
    return str(completion)


def answer_reward(
    prompts: Sequence[Any] | None,
    completions: Sequence[Any],
    answer: Sequence[Any],
    workers: int = 1,
    config: VerifyConfig | None = None,
    **columns: Any,
) -> list[float | None]:
    """1.0 / 0.0 per completion by the sympy answer check; None where the gold is unreadable.

    >>> answer_reward(None, [r"\\boxed{\\frac{1}{2}}", "The answer is 3."], ["0.5", "4"])
    [1.0, 0.0]
    """
    if len(completions) != len(answer):
        raise ValueError(f"answer_reward: {len(completions)} completions but {len(answer)} answers")
    pairs = [(str(gold), completion_text(c)) for gold, c in zip(answer, completions, strict=True)]
    rewards: list[float | None] = []
    for verdict in verify_many(pairs, workers=workers, config=config):
        if verdict.unparsable_side == "gold":
            rewards.append(None)
        else:
            rewards.append(1.0 if verdict.status is Status.EQUAL else 0.0)
    return rewards
