"""Reward-model ensembles: several PRMs scoring the same steps, combined per step into one score.

``--prm ensemble --prm-options "members=runs/prm-s0+runs/prm-s1+runs/prm-s2,aggregate=mean_minus_std,k=1"``
loads each member with :func:`prm.model.formats.load_scorer` (each in its own format, detected) and scores
every step with all of them. Aggregations (:data:`AGGREGATIONS`):

- ``mean``: the members' mean;
- ``min``: the worst case (a step is as good as its harshest judge);
- ``mean_minus_std``: the mean minus ``k`` times the members' (population) standard deviation, an
  uncertainty penalty: where the members disagree the reward is lower, which is what keeps a policy from
  exploiting one member's blind spot (Coste et al. 2023, "Reward Model Ensembles Help Mitigate
  Overoptimization", arXiv:2310.02743, use the same three).

Raw text is split once, with the first member's segmentation, and every member scores the same steps. A step
one member cannot score (None: past its length limit) is combined from the others; None when none can. The
ensemble is a :class:`prm.model.scorer.Scorer`, so best-of-N (``prm score``), GRPO rewards and ``prm serve``
use it like any PRM.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from prm.model.scorer import ScorerBase, StepsOrText, check_item

__all__ = ["AGGREGATIONS", "EnsembleScorer", "combine", "load"]


def _mean(values: Sequence[float], k: float) -> float:
    return sum(values) / len(values)


def _std(values: Sequence[float]) -> float:
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))


AGGREGATIONS: dict[str, Callable[[Sequence[float], float], float]] = {
    "mean": _mean,
    "min": lambda values, k: min(values),
    "mean_minus_std": lambda values, k: _mean(values, k) - k * _std(values),
}


def combine(values: Sequence[float | None], aggregate: str, k: float = 1.0) -> float | None:
    """One step's score from its members' scores (None ones left out; None when all are)."""
    present = [v for v in values if v is not None]
    return AGGREGATIONS[aggregate](present, k) if present else None


class EnsembleScorer(ScorerBase):
    """Every member scores the same steps; each step's scores are combined by ``aggregate``."""

    format = "ensemble"

    def __init__(self, members: Sequence[Any], aggregate: str = "mean", k: float = 1.0) -> None:
        if len(members) < 2:
            raise ValueError(f"an ensemble needs at least 2 members, got {len(members)}")
        if aggregate not in AGGREGATIONS:
            raise ValueError(f"ensemble aggregate {aggregate!r}: choose from {', '.join(AGGREGATIONS)}")
        self.members, self.aggregate, self.k = list(members), aggregate, float(k)
        self.config = self.members[0].config  # its segmentation splits raw text for all
        self.device = self.members[0].device
        self.model = getattr(self.members[0], "model", None)  # its dtype is what prm score's metrics report

    def score_batch(self, items: Sequence[tuple[str, StepsOrText]], batch_size: int | None = None
                    ) -> list[list[float | None]]:
        pairs = [check_item(index, item) for index, item in enumerate(items)]
        steps = [(problem, self.steps_of(solution)) for problem, solution in pairs]
        per_member = [member.score_batch(steps, batch_size) for member in self.members]
        return [[combine([scores[i][j] for scores in per_member], self.aggregate, self.k)
                 for j in range(len(steps[i][1]))] for i in range(len(steps))]

    def close(self) -> None:
        for member in self.members:
            if hasattr(member, "close"):
                member.close()


def load(load_member: Callable[..., Any], *, members: str = "", aggregate: str = "mean", k: str | float = 1.0,
         device: Any = "auto", dtype: Any = None, batch_size: int = 16, max_length: int | None = None,
         backend: str = "hf") -> EnsembleScorer:
    """An ensemble of the ``+``-separated ``members`` (folders or hub ids), each loaded by ``load_member``
    (:func:`prm.model.formats.load_scorer`: its format detected)."""
    paths = [m.strip() for m in str(members).split("+") if m.strip()]
    if len(paths) < 2:
        raise ValueError("ensemble: give members=PRM_A+PRM_B[+...] in --prm-options (at least two)")
    try:
        k = float(k)
    except ValueError:
        raise ValueError(f"ensemble: k={k!r} is not a number") from None
    if aggregate not in AGGREGATIONS:  # before any member loads
        raise ValueError(f"ensemble aggregate {aggregate!r}: choose from {', '.join(AGGREGATIONS)}")
    loaded: list[Any] = []
    try:
        for path in paths:
            loaded.append(load_member(path, device=device, dtype=dtype, batch_size=batch_size,
                                      max_length=max_length, backend=backend))
    except BaseException:
        for member in loaded:
            if hasattr(member, "close"):
                member.close()
        raise
    return EnsembleScorer(loaded, aggregate, k)
