"""Aggregation of a solution's step scores into one solution score: a name -> pure function registry.

A PRM gives one score per step (P(step is correct)); best-of-N needs one number per solution.
``AGGREGATIONS`` maps a name to a pure function ``f(step_scores) -> float`` (pure Python, no torch,
no numpy), shared by the scorer (``prm.model.scoring``) and the best-of-N harness (``eval.bon``):

- ``min``: the weakest step (Math-Shepherd, PRM800K's "all steps correct" reading);
- ``product``: P(every step correct) if the step scores were independent (Qwen2.5-Math-PRM's best);
- ``last``: the score at the last step (works best for PRMs trained on Monte-Carlo labels);
- ``mean``: the average step score.

An empty list of scores has no aggregate: ``aggregate`` raises ``ValueError`` (callers decide what a
solution without step scores means; the harness never selects one over a scored solution).
``solution_score`` is the form every scorer, reward and server uses: steps scored None (past a model's
length limit) are skipped, and a solution with no scored step gets None.

>>> aggregate([0.9, 0.5, 0.8], "min")
0.5
>>> round(aggregate([0.9, 0.5, 0.8], "product"), 2)
0.36
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

__all__ = ["AGGREGATIONS", "Aggregation", "aggregate", "solution_score"]

Aggregation = Callable[[Sequence[float]], float]


def _min(scores: Sequence[float]) -> float:
    return float(min(scores))


def _product(scores: Sequence[float]) -> float:
    return float(math.prod(scores))


def _last(scores: Sequence[float]) -> float:
    return float(scores[-1])


def _mean(scores: Sequence[float]) -> float:
    return float(math.fsum(scores) / len(scores))


AGGREGATIONS: dict[str, Aggregation] = {"min": _min, "product": _product, "last": _last, "mean": _mean}


def aggregate(scores: Sequence[float], name: str = "min") -> float:
    """One solution score from its step scores with the aggregation ``name`` (a key of ``AGGREGATIONS``)."""
    try:
        function = AGGREGATIONS[name]
    except KeyError:
        raise ValueError(f"unknown aggregation {name!r}; known: {', '.join(AGGREGATIONS)}") from None
    if len(scores) == 0:
        raise ValueError("no step scores to aggregate")
    return function(scores)


def solution_score(step_scores: Sequence[float | None], name: str = "min") -> float | None:
    """``aggregate`` of the scored steps (None entries skipped); None when no step has a score.

    >>> solution_score([0.9, None, 0.4], "mean")
    0.65
    >>> solution_score([None]) is None
    True
    """
    if name not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {name!r}; known: {', '.join(AGGREGATIONS)}")
    values = [float(s) for s in step_scores if s is not None]
    return AGGREGATIONS[name](values) if values else None
