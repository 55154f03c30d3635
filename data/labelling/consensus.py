"""Two labellers checked against each other: Monte-Carlo rows filtered by consensus, and their agreement.

Monte-Carlo labels are noisy (a weak policy fails from a correct prefix, a lucky one recovers from a
wrong one); exact labels are precise but only where a step states checkable arithmetic. Keeping the MC
rows whose first error (first hard 0) equals the exact labeller's keeps the rows both believe::

    rows, dropped = consensus_filter(rows, [exact_first_error(r.item) for r in results])

:func:`consensus_filter` is pure and works with any other labeller's first errors;
:func:`agreement` measures how often MC and exact labels agree, per step and on the first error.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Sequence

from data.labelling.exact import MissingAnswer, Unlabellable, exact_labels
from data.labelling.monte_carlo import MCItem, first_error
from data.records import StepwiseRow

__all__ = ["agreement", "consensus_filter", "exact_first_error"]

logger = logging.getLogger(__name__)


def exact_first_error(item: MCItem, missing_answer: MissingAnswer = "wrong") -> int | None:
    """The exact labeller's first error on ``item``'s steps: -1 if none, None when it cannot judge them."""
    try:
        return exact_labels(item.steps, item.gold, "zero", missing_answer=missing_answer).first_error
    except Unlabellable:
        return None


def _hard(row: StepwiseRow) -> list[float]:
    """The hard MC labels of a row written by :func:`data.labelling.monte_carlo.mc_rows`."""
    if row.extra.get("mc_label") == "soft":
        return [float(x) for x in row.extra["hard_labels"]]
    return [float(x) for x in row.labels]


def consensus_filter(
    rows: Sequence[StepwiseRow], other_first_errors: Sequence[int | None]
) -> tuple[list[StepwiseRow], collections.Counter]:
    """Keep the rows whose MC first error equals the other labeller's (None: that labeller could not judge).

    Pure: returns the kept rows and the dropped ones counted by reason.
    """
    if len(rows) != len(other_first_errors):
        raise ValueError(f"{len(rows)} rows but {len(other_first_errors)} first errors")
    kept, dropped = [], collections.Counter()
    for row, other in zip(rows, other_first_errors, strict=True):
        if other is None:
            dropped["consensus: other labeller could not judge"] += 1
        elif first_error(_hard(row)) != other:
            dropped["consensus: first errors differ"] += 1
        else:
            kept.append(row)
    logger.info("consensus filter: kept %d of %d", len(kept), len(rows))
    return kept, dropped


def agreement(mc_rows: Sequence[StepwiseRow], exact_labels: Sequence[Sequence[float]]) -> dict[str, float]:
    """How often MC hard labels agree with exact labels (a row's ``labels``, or a ``LabelResult``'s), per step
    and on the first-error position (the first label below 0.5).

    Rows are paired by position; steps are compared where both label them (exact rows may be truncated
    after their first error). Returns counts and rates (NaN when nothing to compare).
    """
    if len(mc_rows) != len(exact_labels):
        raise ValueError(f"{len(mc_rows)} MC rows but {len(exact_labels)} exact label lists")
    steps = same_steps = same_first = 0
    for row, exact in zip(mc_rows, exact_labels, strict=True):
        hard = _hard(row)
        pairs = list(zip(hard, exact, strict=False))
        steps += len(pairs)
        same_steps += sum((a >= 0.5) == (b >= 0.5) for a, b in pairs)
        same_first += first_error(hard) == first_error(exact)
    rows = len(mc_rows)
    return {
        "rows": float(rows),
        "steps": float(steps),
        "step_agreement": same_steps / steps if steps else float("nan"),
        "first_error_agreement": same_first / rows if rows else float("nan"),
    }
