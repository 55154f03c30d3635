"""The answer-check reward, with TRL's GRPO reward-function signature: the project's one implementation.

``answer_reward(prompts, completions, answer, **columns) -> list[float | None]``: 1.0 when the
completion's final answer equals the gold answer, 0.0 when it does not (or states none, or the
check times out), ``None`` when the gold is missing or cannot be parsed ("cannot judge", which TRL
skips rather than scoring as wrong). Thread-safe: TRL may call reward functions from threads.
``reward_of`` is the verdict-to-reward rule, for callers that also want the verdict (the verl adapter).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from verifiers.config import Status, VerifyConfig
from verifiers.verify import Verdict, verify_many

__all__ = ["answer_reward", "answer_verdicts", "completion_text", "reward_of"]


def completion_text(completion: Any) -> str:
    """Text of a completion: a plain string or a conversational list of messages."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Sequence) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content", ""))
    if isinstance(completion, dict):
        return str(completion.get("content", ""))
    return str(completion)


def reward_of(verdict: Verdict | None) -> float | None:
    """1.0 / 0.0 by a verdict; None for no verdict (no gold) or an unreadable gold."""
    if verdict is None or verdict.unparsable_side == "gold":
        return None
    return 1.0 if verdict.status is Status.EQUAL else 0.0


def answer_verdicts(completions: Sequence[Any], answer: Sequence[Any], workers: int = 1,
                    config: VerifyConfig | None = None) -> list[Verdict | None]:
    """The verifier's verdict on every completion against its gold; None where the gold is None."""
    if len(completions) != len(answer):
        raise ValueError(f"answer_reward: {len(completions)} completions but {len(answer)} answers")
    todo = [i for i, gold in enumerate(answer) if gold is not None]
    pairs = [(str(answer[i]), completion_text(completions[i])) for i in todo]
    verdicts: list[Verdict | None] = [None] * len(completions)
    for index, verdict in zip(todo, verify_many(pairs, workers=workers, config=config), strict=True):
        verdicts[index] = verdict
    return verdicts


def answer_reward(
    prompts: Sequence[Any] | None,
    completions: Sequence[Any],
    answer: Sequence[Any],
    workers: int = 1,
    config: VerifyConfig | None = None,
    **columns: Any,
) -> list[float | None]:
    """1.0 / 0.0 per completion by the sympy answer check; None where the gold is missing or unreadable.

    >>> answer_reward(None, [r"\\boxed{\\frac{1}{2}}", "The answer is 3."], ["0.5", "4"])
    [1.0, 0.0]
    """
    return [reward_of(v) for v in answer_verdicts(completions, answer, workers, config)]
