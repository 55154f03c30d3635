"""Overoptimization view of best-of-N: the proxy reward (the score the rule picks by) and the gold reward (the
pick's accuracy) against the KL a best-of-N policy pays.

Best-of-N from a policy is itself a policy, and its KL to the base policy has the closed form
``KL_bon(N) = log N - (N - 1) / N`` (Stiennon et al. 2020; Gao et al., "Scaling Laws for Reward Model
Overoptimization", arXiv:2210.10760, plot gold and proxy against ``sqrt(KL)``, as GRPO's monitor does with the
measured KL, :mod:`prm.grpo.monitor`). Picking harder by an imperfect reward model raises the proxy score of the
pick with N; overoptimization is the gold accuracy falling while the proxy keeps rising.

:func:`bon_overoptimization` reads a :class:`eval.bon.BonResult`: for every rule that picks by a reward model
(``SelectionRule.proxy``: ``orm``, ``prm_<aggregation>``), the proxy and gold per N, and a flag when the
accuracy at the largest N is below the accuracy at the best N (paired bootstrap over problems, the interval's
upper end below 0) while the proxy rose between them. The best N is chosen after the fact, so a flag is a
prompt to look at the curve, not a test at the stated confidence.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from eval.bon import BonResult, bootstrap_ci

__all__ = ["BonOveroptimization", "bon_overoptimization", "kl_bon"]

logger = logging.getLogger(__name__)


def kl_bon(n: int) -> float:
    """KL(best-of-N policy || base policy) = log N - (N - 1) / N, in nats.

    >>> kl_bon(1)
    0.0
    >>> round(kl_bon(4), 4)
    0.6363
    """
    if n < 1:
        raise ValueError(f"N must be >= 1, got {n}")
    return math.log(n) - (n - 1) / n


@dataclass(frozen=True)
class BonOveroptimization:
    """One proxy rule's curves; ``drop`` = (mean, low, high) of accuracy(largest N) - accuracy(best N)."""

    rule: str
    ns: list[int]
    sqrt_kl: list[float]
    proxy: list[float]
    gold: list[float]
    best_n: int
    drop: tuple[float, float, float]
    flagged: bool


def _view(result: BonResult, rule: str) -> BonOveroptimization:
    gold = result.curves[rule].accuracy
    proxy = result.proxy[rule]
    best = int(np.argmax(gold))
    delta = result.per_problem[rule][-1] - result.per_problem[rule][best]
    low, high = bootstrap_ci(delta, confidence=result.config.confidence, index=result.boot_index)
    flagged = bool(best < len(gold) - 1 and high < 0 and proxy[-1] > proxy[best])
    return BonOveroptimization(rule, list(result.ns), [math.sqrt(kl_bon(n)) for n in result.ns], list(proxy),
                               list(gold), result.ns[best], (float(delta.mean()), float(low), float(high)), flagged)


def bon_overoptimization(result: BonResult) -> list[BonOveroptimization]:
    """The view for every proxy rule of ``result``; a WARNING names each flagged rule."""
    views = [_view(result, rule) for rule in result.proxy if rule in result.curves]
    for view in views:
        if view.flagged:
            mean, low, high = view.drop
            logger.warning("best-of-N overoptimization: %s accuracy falls %+.1f points [%+.1f, %+.1f] from N=%d to "
                           "N=%d while the proxy score of its pick rises %.3f -> %.3f", view.rule, 100 * mean,
                           100 * low, 100 * high, view.best_n, view.ns[-1],
                           view.proxy[view.ns.index(view.best_n)], view.proxy[-1])
    return views
