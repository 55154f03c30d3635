"""Pairwise (Bradley-Terry) reward-model training data: which solutions or steps are compared, and the fit.

``prm train --head likelihood --objective pairwise`` fits the head's weights on pairs instead of labels, with
the Bradley-Terry loss ``-log sigmoid(r(chosen) - r(rejected))`` (``r`` the head's logit, linear in the step
features, so the bias cancels; it is then fitted alone on the labels, keeping scores probabilities):

- outcome RMs (``--outcome``): every (correct, wrong) pair of solutions of the same problem (by their final
  labels, :func:`prm.model.tags.row_labels`), compared by their last step;
- PRMs: every pair of steps at the same position of two solutions of the same problem with the same steps
  before it, one labelled right and one wrong (the error-injection negatives and their reference, PRM800K's
  alternative completions of one step);
- preference data in TRL's format (JSONL rows ``prompt``, ``chosen``, ``rejected``: strings, or
  conversations whose last assistant message is the solution): each row is one pair of outcome rows
  (:func:`preference_rows`), so it trains outcome RMs (``--outcome``).

The held-out figure is the pair accuracy: the share of held-out pairs the head ranks right (for outcome
pairs, the within-problem ranking AUC of correct against wrong solutions).
"""

from __future__ import annotations

import itertools
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from data.jsonl import RecordError, read_jsonl
from data.records import StepwiseRow
from data.segment import split_steps
from prm.model.tags import row_labels

__all__ = ["Pair", "fit_pairwise", "is_preference_file", "outcome_pairs", "pair_accuracy", "preference_rows",
           "step_pairs", "training_pairs"]

logger = logging.getLogger(__name__)

Pair = tuple[tuple[int, int], tuple[int, int]]  # ((chosen row, step), (rejected row, step))
MAX_PAIRS_PER_GROUP = 64  # a problem with many solutions gives at most this many pairs (the first ones)


def is_preference_file(spec: str | Path | None) -> bool:
    """A local JSONL whose first row has ``chosen`` and ``rejected``."""
    path = Path(spec or "")
    if not path.is_file():
        return False
    first = next(read_jsonl(path), None)
    return first is not None and {"chosen", "rejected"} <= set(first[1])


def _text(value: Any, where: str, field: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and all(isinstance(m, dict) for m in value):
        said = [m.get("content") for m in value if m.get("role") == ("assistant" if field != "prompt" else "user")]
        if said and isinstance(said[-1], str):
            return said[-1]
    raise RecordError(f"{where}: field '{field}' should be a string or a conversation with a "
                      f"{'user' if field == 'prompt' else 'assistant'} message")


def preference_rows(path: str | Path, segmentation: str = "blank_line") -> list[StepwiseRow]:
    """Two outcome rows per TRL preference row (chosen: answer_correct True, rejected: False), adjacent."""
    rows: list[StepwiseRow] = []
    for line, record in read_jsonl(path):
        where = f"{path} line {line}"
        prompt = _text(record.get("prompt", ""), where, "prompt") if "prompt" in record else ""
        for field, preferred in (("chosen", True), ("rejected", False)):
            steps = split_steps(_text(record.get(field), where, field), segmentation)
            if not steps:
                raise RecordError(f"{where}: field '{field}' has no text")
            rows.append(StepwiseRow(prompt=prompt, completions=steps, labels=[1.0] * len(steps),
                                    extra={"answer_correct": preferred, "complete": True, "pair": line}))
    return rows


def _groups(rows: Sequence[StepwiseRow]) -> dict[Any, list[int]]:
    groups: dict[Any, list[int]] = defaultdict(list)
    for index, row in enumerate(rows):
        groups[row.extra.get("pair", row.prompt)].append(index)
    return groups


def outcome_pairs(rows: Sequence[StepwiseRow], final: Callable[[StepwiseRow], float | None],
                  steps: Callable[[int], int]) -> list[Pair]:
    """(correct, wrong) solution pairs of each problem (or preference row), compared at their last usable step
    (``steps(row index)``: how many of its steps have features)."""
    pairs: list[Pair] = []
    for members in _groups(rows).values():
        good = [i for i in members if final(rows[i]) == 1.0 and steps(i) > 0]
        bad = [i for i in members if final(rows[i]) == 0.0 and steps(i) > 0]
        pairs += [((g, steps(g) - 1), (b, steps(b) - 1))
                  for g, b in itertools.islice(itertools.product(good, bad), MAX_PAIRS_PER_GROUP)]
    return pairs


def training_pairs(rows: Sequence[StepwiseRow], steps: Callable[[int], int], outcome: bool) -> list[Pair]:
    """The pairs an objective compares: outcome pairs (by the final label) for an outcome RM, else step pairs;
    ``steps(row index)``: how many of the row's steps can be scored (have features, or a tag that fits)."""
    if outcome:
        return outcome_pairs(rows, lambda row: next((y for y in reversed(row_labels(row, True)) if y is not None),
                                                    None), steps)
    return step_pairs(rows, steps)


def step_pairs(rows: Sequence[StepwiseRow], steps: Callable[[int], int]) -> list[Pair]:
    """Pairs of steps at one position after the same steps, one labelled right (1) and one wrong (0)."""
    by_prefix: dict[tuple[str, ...], list[tuple[int, int]]] = defaultdict(list)
    for index, row in enumerate(rows):
        for k in range(min(len(row.labels), steps(index))):
            by_prefix[(row.prompt, *row.completions[:k])].append((index, k))
    pairs: list[Pair] = []
    for members in by_prefix.values():
        good = [m for m in members if rows[m[0]].labels[m[1]] == 1.0]
        bad = [m for m in members if rows[m[0]].labels[m[1]] == 0.0]
        pairs += list(itertools.islice(itertools.product(good, bad), MAX_PAIRS_PER_GROUP))
    return pairs


def fit_pairwise(chosen: torch.Tensor, rejected: torch.Tensor, l2: float = 1e-3) -> torch.Tensor:
    """Weights ``w`` minimising ``mean(-log sigmoid(w . (chosen - rejected))) + l2 |w|^2`` (standardised
    feature vectors [P, F], float64; L-BFGS)."""
    if chosen.shape[0] == 0:
        raise ValueError("no pair to fit the pairwise head on (see prm.train.pairs for which pairs count)")
    difference = chosen - rejected
    weights = torch.zeros(difference.shape[1], dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([weights], max_iter=500, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.softplus(-(difference @ weights)).mean() + l2 * weights.square().sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return weights.detach()


def pair_accuracy(score: Callable[[tuple[int, int]], float], pairs: Sequence[Pair]) -> float:
    """Share of pairs whose chosen side scores higher (ties count half)."""
    if not pairs:
        return float("nan")
    wins = [1.0 if score(a) > score(b) else 0.5 if score(a) == score(b) else 0.0 for a, b in pairs]
    return sum(wins) / len(wins)
