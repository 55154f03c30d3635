"""ProcessBench-style step-error evaluation: does the PRM find the first wrong step?

Each case is a solution with per-step scores and the index of its first wrong step (``-1``: every
step is right). A threshold ``t`` predicts the first step whose score is below ``t`` (``-1`` if none).
Metrics (ProcessBench): accuracy on erroneous cases (the prediction equals the first error exactly),
accuracy on correct cases (nothing flagged), and their harmonic mean, F1.

The threshold is chosen on a dev set (a seeded split stratified by erroneous/correct, or a separate
file) on a grid of 201 values (``[0, 1]`` when every score lies there, else the scores' range) and
reported; when several thresholds tie for the best dev F1 the middle one of them is taken. The
best threshold on the test set is also reported, as a ceiling, never as the result.

Cases come from any row with step scores (``step_scores``) and a known first error: a ``first_error``
field, or labels (stepwise rows' ``labels``, samples' ``step_labels``) where the first label ``<=
WRONG_LABEL_AT`` (0.0: hard labels; Math-Shepherd's "no rollout reached the answer") is the error.
Everything is vectorised over cases x thresholds: a case with first error ``e`` is right exactly when
``score[e] < t <= min(score[:e])``, a correct case when ``t <= min(score)``.
"""

from __future__ import annotations

import logging
import math
import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "WRONG_LABEL_AT", "SkipCase", "StepCase", "StepsEvalResult", "case_from_row", "choose_threshold",
    "evaluate_steps", "first_error_from_labels", "load_cases", "predict_first_error", "split_dev", "step_metrics",
    "threshold_grid",
]  # fmt: skip

logger = logging.getLogger(__name__)

WRONG_LABEL_AT = 0.0
GRID_POINTS = 201
META_FIELDS = ("source", "subject", "label_method")


class SkipCase(ValueError):
    """A row that cannot be a case; the message is the reason it is counted under."""


@dataclass
class StepCase:
    scores: list[float]
    first_error: int  # -1: every step right
    meta: dict[str, str] = field(default_factory=dict)


def first_error_from_labels(labels: Sequence[float], wrong_at: float = WRONG_LABEL_AT) -> int:
    """Index of the first label ``<= wrong_at`` (a wrong step), -1 if none.

    >>> first_error_from_labels([1.0, 1.0, 0.0, 0.0])
    2
    """
    return next((i for i, label in enumerate(labels) if float(label) <= wrong_at), -1)


def predict_first_error(scores: Sequence[float], threshold: float) -> int:
    """The first step whose score is below ``threshold``, -1 if none."""
    return next((i for i, score in enumerate(scores) if score < threshold), -1)


def case_from_row(row: Mapping[str, Any], score_field: str = "step_scores",
                  wrong_at: float = WRONG_LABEL_AT) -> StepCase:
    """A case from a stepwise row or a sample; raises SkipCase with the reason it cannot be one."""
    scores = row.get(score_field)
    if not isinstance(scores, list) or not scores:
        raise SkipCase(f"no {score_field}")
    if not all(isinstance(s, (int, float)) and not isinstance(s, bool) and math.isfinite(s) for s in scores):
        raise SkipCase(f"non-numeric {score_field}")
    if isinstance(row.get("first_error"), int) and not isinstance(row["first_error"], bool):
        first_error = row["first_error"]
    else:
        labels = next((row[name] for name in ("labels", "step_labels") if isinstance(row.get(name), list)), None)
        if not labels:
            raise SkipCase("no first_error or labels")
        first_error = first_error_from_labels(labels, wrong_at)
    if first_error < -1:
        raise SkipCase("negative first_error")
    if first_error >= len(scores):
        raise SkipCase("first error beyond the scored steps")
    meta = {name: str(row[name]) for name in META_FIELDS if isinstance(row.get(name), (str, int))}
    return StepCase([float(s) for s in scores], first_error, meta)


def load_cases(rows: Iterable[Mapping[str, Any]], score_field: str = "step_scores",
               wrong_at: float = WRONG_LABEL_AT) -> tuple[list[StepCase], Counter[str]]:
    """Cases from rows, and the rows skipped counted by reason."""
    cases, skipped = [], Counter()
    for row in rows:
        try:
            cases.append(case_from_row(row, score_field, wrong_at))
        except SkipCase as error:
            skipped[str(error)] += 1
    return cases, skipped


def threshold_grid(cases: Iterable[StepCase], points: int = GRID_POINTS) -> np.ndarray:
    """Candidate thresholds: ``[0, 1]`` when every score is a probability, else the scores' range."""
    scores = np.array([s for case in cases for s in case.scores], dtype=float)
    if scores.size == 0 or (scores.min() >= 0.0 and scores.max() <= 1.0):
        return np.linspace(0.0, 1.0, points)
    span = scores.max() - scores.min()
    return np.linspace(scores.min(), scores.max() + max(span, 1.0) / (points - 1), points)


def _harmonic(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise harmonic mean; 0 where both are 0, NaN where either is NaN."""
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(a + b > 0, 2 * a * b / (a + b), 0.0)
    return np.where(np.isnan(a) | np.isnan(b), math.nan, mean)


def step_metrics(cases: Sequence[StepCase], thresholds: Sequence[float] | np.ndarray) -> dict[str, np.ndarray]:
    """Accuracy on erroneous and on correct cases and F1, one value per threshold (NaN without such cases)."""
    t = np.asarray(thresholds, dtype=float)[None, :]
    wrong = [c for c in cases if c.first_error >= 0]
    right = [c for c in cases if c.first_error < 0]
    at = np.array([c.scores[c.first_error] for c in wrong], dtype=float)[:, None]
    before = np.array([min(c.scores[:c.first_error], default=math.inf) for c in wrong], dtype=float)[:, None]
    lowest = np.array([min(c.scores) for c in right], dtype=float)[:, None]
    nan = np.full(t.shape[1], math.nan)
    error_acc = ((at < t) & (t <= before)).mean(axis=0) if wrong else nan
    correct_acc = (t <= lowest).mean(axis=0) if right else nan
    return {"error_accuracy": error_acc, "correct_accuracy": correct_acc, "f1": _harmonic(error_acc, correct_acc)}


def choose_threshold(f1: np.ndarray, thresholds: np.ndarray) -> float:
    """The threshold with the best F1; among ties, the middle one."""
    if np.all(np.isnan(f1)):
        raise ValueError("F1 is undefined on the dev set: it needs both erroneous and correct cases")
    best = np.flatnonzero(f1 == np.nanmax(f1))
    return float(thresholds[best[len(best) // 2]])


def split_dev(cases: Sequence[StepCase], fraction: float = 0.3, seed: int = 0) -> tuple[list[StepCase], list[StepCase]]:
    """``(dev, test)``: a seeded split, stratified by erroneous/correct so both sides have both kinds."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"dev fraction should be in (0, 1), got {fraction}")
    rng = random.Random(seed)
    dev: list[StepCase] = []
    test: list[StepCase] = []
    for kind in (True, False):
        part = [c for c in cases if (c.first_error >= 0) is kind]
        rng.shuffle(part)
        cut = min(max(round(fraction * len(part)), 1 if len(part) > 1 else 0), max(len(part) - 1, 0))
        dev += part[:cut]
        test += part[cut:]
    return dev, test


def _at(metrics: dict[str, np.ndarray], index: int, cases: Sequence[StepCase]) -> dict[str, float]:
    wrong = sum(c.first_error >= 0 for c in cases)
    return {**{name: float(values[index]) for name, values in metrics.items()},
            "erroneous": float(wrong), "correct": float(len(cases) - wrong)}


@dataclass
class StepsEvalResult:
    """Metrics at the dev-chosen threshold, the curves over the grid, and the test-set ceiling."""

    threshold: float
    thresholds: list[float]
    dev_curves: dict[str, list[float]]
    test_curves: dict[str, list[float]]
    dev: dict[str, float]
    test: dict[str, float]
    best_on_test: dict[str, float]
    breakdown: dict[str, dict[str, dict[str, float]]]
    skipped: dict[str, int]
    dev_source: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _breakdown(cases: Sequence[StepCase], threshold: float) -> dict[str, dict[str, dict[str, float]]]:
    out: dict[str, dict[str, dict[str, float]]] = {}
    for name in META_FIELDS:
        values = sorted({c.meta[name] for c in cases if name in c.meta})
        if len(values) < 2:
            continue
        out[name] = {value: _at(step_metrics(part := [c for c in cases if c.meta.get(name) == value], [threshold]),
                                0, part) for value in values}
    return out


def evaluate_steps(test: Sequence[StepCase], dev: Sequence[StepCase], skipped: Mapping[str, int] | None = None,
                   dev_source: str = "", thresholds: np.ndarray | None = None) -> StepsEvalResult:
    """Choose the threshold on ``dev`` (best F1) and report it and the metrics on ``test``.

    When the dev set lacks erroneous or correct cases F1 is undefined there: the threshold is then the
    grid point nearest 0.5, and ``dev_source`` says so.
    """
    if not test or not dev:
        raise ValueError(f"need cases in both sets, got {len(dev)} dev and {len(test)} test")
    grid = threshold_grid([*dev, *test]) if thresholds is None else np.asarray(thresholds, dtype=float)
    dev_metrics, test_metrics = step_metrics(dev, grid), step_metrics(test, grid)
    if np.all(np.isnan(dev_metrics["f1"])):
        threshold = float(grid[int(np.argmin(np.abs(grid - 0.5)))])
        dev_source += " (F1 undefined there, no erroneous or no correct cases: threshold fixed near 0.5)"
        logger.warning("step eval: %s", dev_source)
    else:
        threshold = choose_threshold(dev_metrics["f1"], grid)
    index = int(np.flatnonzero(grid == threshold)[0])
    best = int(np.nanargmax(test_metrics["f1"])) if not np.all(np.isnan(test_metrics["f1"])) else index
    logger.info("step eval: threshold %.3f chosen on %d dev cases; test F1 %.3f on %d cases",
                threshold, len(dev), test_metrics["f1"][index], len(test))
    return StepsEvalResult(
        threshold=threshold, thresholds=grid.tolist(),
        dev_curves={k: v.tolist() for k, v in dev_metrics.items()},
        test_curves={k: v.tolist() for k, v in test_metrics.items()},
        dev=_at(dev_metrics, index, dev), test=_at(test_metrics, index, test),
        best_on_test={"threshold": float(grid[best]), "f1": float(test_metrics["f1"][best])},
        breakdown=_breakdown(test, threshold), skipped=dict(skipped or {}), dev_source=dev_source,
    )  # fmt: skip
