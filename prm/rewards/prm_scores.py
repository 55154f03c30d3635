"""The PRM rewards: ``prm_outcome`` (a completion's step scores aggregated into one) and ``prm_process``
(the step scores themselves, for process advantages).

Both score every step of each completion with a :class:`prm.model.Scorer` (one forward per completion, a
lock around the model so TRL may call them from threads). The problem text comes from the ``problem``
column or, failing that, from the prompt (:func:`prm.prompts.problem_from_prompt`).

:func:`outcome_score` is the project's one rule from step scores to a solution reward: a completion with
no step at all scores 0.0 (a failed solution, not an unjudgeable one); one whose steps all fall past the
PRM's length limit gets None (skipped); otherwise the aggregation (:mod:`eval.aggregate`) of the scored
steps.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from eval.aggregate import AGGREGATIONS, solution_score
from prm.prompts import problem_from_prompt
from verifiers.rewards import completion_text

__all__ = ["PRMOutcomeReward", "PRMProcessReward", "outcome_score"]

StepScores = list[float | None]


def outcome_score(step_scores: Sequence[float | None], aggregation: str = "min") -> float | None:
    """One reward from a completion's step scores (see the module docstring)."""
    return solution_score(step_scores, aggregation) if step_scores else 0.0


class PRMProcessReward:
    """P(correct) of every step of every completion: ``f(prompts, completions, **columns) -> [[score, ...]]``;
    a completion without steps gets None."""

    kind = "process"

    def __init__(self, scorer: Any, problem_column: str = "problem", batch_size: int | None = None,
                 name: str = "prm_process") -> None:
        self.scorer, self.problem_column, self.batch_size = scorer, problem_column, batch_size
        self.__name__ = name
        self._lock = threading.Lock()

    def problems(self, prompts: Sequence[Any] | None, columns: dict[str, Any], count: int) -> list[str]:
        if self.problem_column in columns:
            problems = [str(p) for p in columns[self.problem_column]]
        elif prompts is not None:
            problems = [problem_from_prompt(p) for p in prompts]
        else:
            raise ValueError(f"{self.__name__}: no prompts and no {self.problem_column!r} column to read problems")
        if len(problems) != count:
            raise ValueError(f"{self.__name__}: {count} completions but {len(problems)} problems")
        return problems

    def step_scores(self, prompts: Sequence[Any] | None, completions: Sequence[Any],
                    **columns: Any) -> list[StepScores]:
        """P(correct) of every step of every completion (one forward per completion, under the lock)."""
        problems = self.problems(prompts, columns, len(completions))
        items = [(problem, completion_text(c)) for problem, c in zip(problems, completions, strict=True)]
        with self._lock:
            return self.scorer.score_batch(items, self.batch_size)

    def __call__(self, prompts: Sequence[Any] | None, completions: Sequence[Any],
                 completion_ids: Sequence[Sequence[int]] | None = None, **columns: Any) -> list[StepScores | None]:
        return [scores or None for scores in self.step_scores(prompts, completions, **columns)]


class PRMOutcomeReward(PRMProcessReward):
    """A PRM's aggregated step scores as one reward per completion (:func:`outcome_score`).

    ``prm`` is a PRM folder (any format :func:`prm.model.load_scorer` reads); pass ``scorer`` instead to
    reuse a loaded one.
    """

    kind = "outcome"

    def __init__(self, prm: str | None = None, aggregation: str = "min", batch_size: int = 16,
                 device: str = "auto", problem_column: str = "problem", scorer: Any | None = None,
                 name: str = "prm_outcome") -> None:
        if aggregation not in AGGREGATIONS:
            raise ValueError(f"unknown aggregation {aggregation!r}; choose from {', '.join(AGGREGATIONS)}")
        if scorer is None:
            if prm is None:
                raise ValueError("PRMOutcomeReward needs prm (a PRM folder) or a scorer")
            from prm.model.formats import load_scorer

            scorer = load_scorer(prm, device=device, batch_size=batch_size)
        super().__init__(scorer, problem_column, batch_size, name)
        self.aggregation = aggregation

    def __call__(self, prompts: Sequence[Any] | None, completions: Sequence[Any],
                 completion_ids: Sequence[Sequence[int]] | None = None, **columns: Any) -> list[float | None]:
        return [outcome_score(scores, self.aggregation) for scores in self.step_scores(prompts, completions, **columns)]

    def __repr__(self) -> str:
        return f"PRMOutcomeReward(aggregation={self.aggregation!r})"
