"""Held-out PRM metrics: step accuracy, step AUC, first-error accuracy and ProcessBench-style F1.

A step counts as correct when its label is >= 0.5 (soft labels are thresholded), and is predicted
correct when P(correct) >= ``threshold``. A solution's first error is its first step labelled (or
predicted) incorrect, -1 when there is none. First-error accuracy: the predicted first error equals
the gold one. First-error F1 (ProcessBench): harmonic mean of that accuracy on solutions with an
error and on solutions without one. :func:`make_compute_metrics` adapts these to the HF Trainer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from prm.model.modeling import HeadType, step_probabilities
from prm.model.tags import IGNORE_INDEX

__all__ = ["binary_auc", "first_error", "step_metrics", "make_compute_metrics", "make_preprocess_logits"]


def binary_auc(scores: Sequence[float], positives: Sequence[bool]) -> float:
    """ROC AUC (Mann-Whitney, ties counted half); NaN when only one class is present."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(positives, dtype=bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), dtype=np.float64)
    sorted_scores = s[order]
    start = 0
    while start < len(s):  # average ranks over ties
        end = start
        while end + 1 < len(s) and sorted_scores[end + 1] == sorted_scores[start]:
            end += 1
        ranks[order[start: end + 1]] = (start + end) / 2.0 + 1.0
        start = end + 1
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def first_error(values: Sequence[float], threshold: float = 0.5) -> int:
    """Index of the first value below ``threshold``, -1 when none is."""
    return next((i for i, v in enumerate(values) if v < threshold), -1)


def step_metrics(probs: Sequence[Sequence[float]], labels: Sequence[Sequence[float]],
                 threshold: float = 0.5) -> dict[str, float]:
    """Metrics over solutions: ``probs[i][j]`` and ``labels[i][j]`` for step j of solution i."""
    flat_p = np.asarray([p for row in probs for p in row], dtype=np.float64)
    flat_y = np.asarray([y for row in labels for y in row], dtype=np.float64) >= 0.5
    gold = [first_error(row) for row in labels]
    pred = [first_error(row, threshold) for row, _ in zip(probs, labels, strict=True)]
    hits = np.asarray([g == p for g, p in zip(gold, pred, strict=True)], dtype=bool)
    has_error = np.asarray([g >= 0 for g in gold], dtype=bool)
    err_acc = float(hits[has_error].mean()) if has_error.any() else float("nan")
    ok_acc = float(hits[~has_error].mean()) if (~has_error).any() else float("nan")
    f1 = 2 * err_acc * ok_acc / (err_acc + ok_acc) if err_acc + ok_acc > 0 else 0.0
    return {
        "step_accuracy": float(((flat_p >= threshold) == flat_y).mean()) if len(flat_p) else float("nan"),
        "step_auc": binary_auc(flat_p, flat_y),
        "first_error_accuracy": float(hits.mean()) if len(hits) else float("nan"),
        "first_error_f1": float(f1),
        "first_error_accuracy_erroneous": err_acc,
        "first_error_accuracy_correct": ok_acc,
        "steps": float(len(flat_p)),
        "solutions": float(len(gold)),
        "positive_share": float(flat_y.mean()) if len(flat_y) else float("nan"),
    }


def make_preprocess_logits(head: HeadType) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Reduce the head's logits to P(correct) per position before the Trainer gathers them (less memory)."""

    def preprocess(logits: Any, labels: torch.Tensor) -> torch.Tensor:
        if isinstance(logits, tuple):
            logits = logits[0]
        return step_probabilities(logits, head)

    return preprocess


def make_compute_metrics(threshold: float = 0.5) -> Callable[[Any], dict[str, float]]:
    """A Trainer ``compute_metrics``: reads P(correct) and labels at the labelled (tag) positions of each row."""

    def compute(prediction: Any) -> dict[str, float]:
        probs = np.asarray(prediction.predictions)
        labels = np.asarray(prediction.label_ids)
        rows_p, rows_y = [], []
        for p_row, y_row in zip(probs, labels, strict=True):
            mask = y_row != IGNORE_INDEX
            if mask.any():
                rows_p.append(p_row[mask].tolist())
                rows_y.append(y_row[mask].tolist())
        return step_metrics(rows_p, rows_y, threshold)

    return compute
