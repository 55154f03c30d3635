"""The ``answer`` reward as a TRL-style callable that reads the gold answer from a dataset column.

One instance serves ``prm grpo``, TRL's ``GRPOTrainer``, the verl adapter and ``prm serve``; the check
itself is :func:`verifiers.answer_reward`. Thread-safe.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from verifiers.config import VerifyConfig
from verifiers.extract import extract_answer
from verifiers.rewards import answer_reward

__all__ = ["AnswerReward", "TRAINER_KEYWORDS"]

# keywords TRL passes to every reward besides the dataset's columns
TRAINER_KEYWORDS = ("trainer_state", "log_extra", "log_metric")


class AnswerReward:
    """1.0 / 0.0 per completion by the sympy answer check; None where the gold is missing or unreadable.

    The gold is the ``gold_column`` column; when the dataset has none, the last ``\\boxed{}`` (or stated
    answer) of a ``solution`` column.
    """

    kind = "outcome"

    def __init__(self, gold_column: str = "answer", workers: int = 1, config: VerifyConfig | None = None,
                 name: str = "answer_reward") -> None:
        self.gold_column, self.workers, self.config = gold_column, workers, config
        self.__name__ = name

    def golds(self, columns: dict[str, Any], count: int) -> list[str | None]:
        """The gold answer of each completion (None where the dataset has none)."""
        if self.gold_column in columns:
            golds = [None if g is None else str(g) for g in columns[self.gold_column]]
        elif "solution" in columns:
            golds = [None if s is None else extract_answer(str(s)) for s in columns["solution"]]
        else:
            known = sorted(k for k in columns if k not in TRAINER_KEYWORDS)
            raise ValueError(f"{self.__name__}: the dataset has no {self.gold_column!r} (or 'solution') column; "
                             f"columns: {known}")
        if len(golds) != count:
            raise ValueError(f"{self.__name__}: {count} completions but {len(golds)} values of {self.gold_column!r}")
        return golds

    def __call__(self, prompts: Sequence[Any] | None, completions: Sequence[Any],
                 completion_ids: Sequence[Sequence[int]] | None = None, **columns: Any) -> list[float | None]:
        golds = self.golds(columns, len(completions))
        return answer_reward(prompts, completions, golds, workers=self.workers, config=self.config)

    def __repr__(self) -> str:
        return f"AnswerReward(gold_column={self.gold_column!r})"
