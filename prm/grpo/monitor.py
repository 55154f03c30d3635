"""Overoptimization monitor: the proxy reward (the PRM) against the gold reward (the answer check) and the KL to
the starting policy, step by step.

Gao et al. ("Scaling Laws for Reward Model Overoptimization", arXiv:2210.10760) plot gold and proxy reward
against sqrt(KL(policy || initial policy)): the proxy keeps rising while the gold peaks and falls once the
policy exploits the reward model. Each GRPO step logs ``monitor/sqrt_kl`` (the k3 estimate on the batch's
tokens; ``--kl-monitor`` keeps the reference even without ``--beta``) and, over the last three quarters of the
steps so far (at least ``window``), the least-squares trend per step of the proxy and of the gold with the
gold's t statistic (``monitor/proxy_slope``, ``monitor/gold_slope``, ``monitor/gold_t``).

The rule: ``monitor/overoptimization`` is 1 while the gold falls significantly (``gold_t < -z``) and the
proxy's trend is upward; the first such step logs a WARNING. Why this shape: a batch's accuracy moves by
about 0.12 (sd) from step to step with 8 prompts, so a rule on raw differences of window means fires on noise
(the first version, last 10 steps against the 10 before with a 0.02 tolerance, warned on an answer-reward run
that gained 4 points), and a test repeated at every step needs a strict z. Simulated flat-gold runs with that
noise: 3% of 50-step runs and 8% of 300-step runs fire at z = 3 (a 20-step sliding window at z = 2: 31% and
more). On the offline task's GRPO runs (``bench/grpo_rewards.sh``, both sweeps, 50 steps) it fired in 4 of
the 6 runs whose held-out pass@1 fell by more than 2 points and in none of the 27 others. The proxy trend is
only required to be upward: a batch mean of PRM scores over 8 prompts is too noisy to test as well.

The proxy is the first PRM reward term of ``--rewards`` (``prm_outcome`` / ``prm_process``; add
``prm_outcome:0`` to watch a PRM without training on it), the gold the batch accuracy. ``prm grpo compare``
plots both against sqrt(KL) and applies the same rule to each finished run (:func:`first_flag`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["OveroptimizationMonitor", "first_flag", "proxy_key", "slope_t"]

logger = logging.getLogger(__name__)

PROXY_TERMS = ("prm_outcome", "prm_process")
GOLD_KEY = "accuracy"
TREND_KEYS = ("monitor/proxy_slope", "monitor/gold_slope", "monitor/gold_t")


def proxy_key(metrics: Mapping[str, Any]) -> str | None:
    """The metrics key of the proxy reward: the first PRM term's ``reward/<name>/mean``."""
    return next((f"reward/{name}/mean" for name in PROXY_TERMS if f"reward/{name}/mean" in metrics), None)


def slope_t(values: Sequence[float]) -> tuple[float, float]:
    """Least-squares slope of ``values`` per step (NaN skipped) and its t statistic; NaN with fewer than 3 points.

    >>> slope_t([1.0, 2.0, 3.0])
    (1.0, inf)
    """
    points = [(x, y) for x, y in enumerate(values) if y is not None and not math.isnan(y)]
    if len(points) < 3:
        return math.nan, math.nan
    n = len(points)
    mean_x, mean_y = sum(x for x, _ in points) / n, sum(y for _, y in points) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sxx
    residual = sum((y - mean_y - slope * (x - mean_x)) ** 2 for x, y in points)
    error = math.sqrt(residual / (n - 2) / sxx)
    if error == 0:
        return slope, math.copysign(math.inf, slope) if slope else 0.0
    return slope, slope / error


def _rule(proxy: Sequence[float], gold: Sequence[float], z: float) -> tuple[dict[str, float], bool]:
    proxy_slope, _ = slope_t(proxy)
    gold_slope, gold_t = slope_t(gold)
    flagged = gold_t < -z and proxy_slope > 0
    return dict(zip(TREND_KEYS, (proxy_slope, gold_slope, gold_t), strict=True)), flagged


SHARE = 0.75  # the trend is fitted over this share of the steps so far (at least the window)


def _span(steps: int, window: int) -> int:
    return max(window, int(SHARE * steps))


def first_flag(proxy: Sequence[float], gold: Sequence[float], window: int = 20, z: float = 3.0) -> int | None:
    """The first step (1-based) at which the monitor's rule fires over a whole run's history, or None."""
    for step in range(window, len(proxy) + 1):
        start = step - _span(step, window)
        if _rule(proxy[start:step], gold[start:step], z)[1]:
            return step
    return None


@dataclass
class OveroptimizationMonitor:
    """Feeds on each step's metrics; returns the ``monitor/*`` metrics to log with them."""

    window: int = 20
    z: float = 3.0
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
        if len(self.proxy) < self.window:
            return {**out, **dict.fromkeys(TREND_KEYS, math.nan), "monitor/overoptimization": 0.0}
        span = _span(len(self.proxy), self.window)
        trends, flagged = _rule(self.proxy[-span:], self.gold[-span:], self.z)
        if flagged and not self.warned:
            logger.warning("step %d: over the last %d steps the gold reward (answer accuracy) fell %+.4f per step "
                           "(t = %.1f) while the proxy reward (%s) rose %+.4f per step: the policy may be exploiting "
                           "the PRM (overoptimization; see monitor/* in metrics.jsonl)", step, span,
                           trends["monitor/gold_slope"], trends["monitor/gold_t"], key, trends["monitor/proxy_slope"])
            self.warned = True
        return {**out, **trends, "monitor/overoptimization": float(flagged)}
