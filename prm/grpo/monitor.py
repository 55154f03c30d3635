"""Overoptimization monitor: the proxy reward (the PRM) against the gold reward (the answer check) and the KL to
the starting policy, step by step.

Gao et al. ("Scaling Laws for Reward Model Overoptimization", arXiv:2210.10760) plot gold and proxy reward
against sqrt(KL(policy || initial policy)): the proxy keeps rising while the gold peaks and falls once the
policy exploits the reward model. Each GRPO step logs ``monitor/sqrt_kl`` (the k3 estimate on the batch's
tokens; ``--kl-monitor`` keeps the reference even without ``--beta``), and, over the last ``window`` steps
against the ``window`` before them, ``monitor/proxy_trend`` and ``monitor/gold_trend`` (change of the means).
``monitor/overoptimization`` is 1 while the proxy rises by more than ``tolerance`` and the gold falls by more
than it; the first such step logs a WARNING. The proxy is the first PRM reward term of ``--rewards``
(``prm_outcome`` / ``prm_process``; add ``prm_outcome:0`` to monitor a PRM without training on it), the
gold the batch accuracy. ``prm grpo compare`` plots both against sqrt(KL) (:mod:`prm.grpo.compare`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["OveroptimizationMonitor", "proxy_key", "trends"]

logger = logging.getLogger(__name__)

PROXY_TERMS = ("prm_outcome", "prm_process")
GOLD_KEY = "accuracy"


def proxy_key(metrics: Mapping[str, Any]) -> str | None:
    """The metrics key of the proxy reward: the first PRM term's ``reward/<name>/mean``."""
    return next((f"reward/{name}/mean" for name in PROXY_TERMS if f"reward/{name}/mean" in metrics), None)


def _mean(values: Sequence[float]) -> float:
    kept = [v for v in values if v is not None and not math.isnan(v)]
    return sum(kept) / len(kept) if kept else math.nan


def trends(values: Sequence[float], window: int) -> float:
    """Mean of the last ``window`` values minus the mean of the ``window`` before them (NaN until there are
    ``2 * window``)."""
    if window < 1 or len(values) < 2 * window:
        return math.nan
    return _mean(values[-window:]) - _mean(values[-2 * window: -window])


@dataclass
class OveroptimizationMonitor:
    """Feeds on each step's metrics; returns the ``monitor/*`` metrics to log with them."""

    window: int = 10
    tolerance: float = 0.02
    proxy: list[float] = field(default_factory=list)
    gold: list[float] = field(default_factory=list)
    warned: bool = False

    def replay(self, lines: Sequence[Mapping[str, Any]]) -> None:
        """Take back the history of a resumed run (its ``metrics.jsonl`` lines), warning no one again."""
        for line in lines:
            key = proxy_key(line)
            if key is not None:
                self.proxy.append(math.nan if line.get(key) is None else float(line[key]))
                self.gold.append(math.nan if line.get(GOLD_KEY) is None else float(line[GOLD_KEY]))
            self.warned = self.warned or bool(line.get("monitor/overoptimization"))

    def update(self, metrics: Mapping[str, Any], step: int) -> dict[str, float]:
        key = proxy_key(metrics)
        kl = metrics.get("kl")
        out = {"monitor/sqrt_kl": math.sqrt(max(kl, 0.0)) if isinstance(kl, (int, float)) and not math.isnan(kl)
               else math.nan}
        if key is None:
            return out
        self.proxy.append(float(metrics[key]) if metrics[key] is not None else math.nan)
        self.gold.append(float(metrics.get(GOLD_KEY, math.nan)) if metrics.get(GOLD_KEY) is not None else math.nan)
        proxy, gold = trends(self.proxy, self.window), trends(self.gold, self.window)
        flagged = proxy > self.tolerance and gold < -self.tolerance
        if flagged and not self.warned:
            logger.warning("step %d: the proxy reward (%s) rose by %+.3f over the last %d steps while the gold "
                           "reward (answer accuracy) fell by %+.3f: the policy may be exploiting the PRM "
                           "(overoptimization; see monitor/* in metrics.jsonl)", step, key, proxy, self.window, gold)
            self.warned = True
        return {**out, "monitor/proxy_trend": proxy, "monitor/gold_trend": gold,
                "monitor/overoptimization": float(flagged)}
