"""The best-of-N harness: accuracy vs N per selection rule, PRM800K style, vectorised with numpy.

For each problem with ``n`` scored samples and each N in 1, 2, 4, ... up to the fewest samples any
problem has (plus that number when it is not a power of two), ``trials`` random subsets of size N are
drawn without replacement and every rule in ``eval.selection.SELECTION_RULES`` picks one sample of
each subset; a problem's accuracy at N is the share of trials whose pick is correct. Reported per rule
and N: the mean over problems with a percentile bootstrap confidence interval over problems (the same
resampled problem sets for every rule, so differences between rules are paired), plus

- ``pass@k``: the unbiased estimator ``1 - C(n-c, k) / C(n, k)`` per problem (the ``oracle`` rule's
  subset accuracy estimates the same quantity);
- per rule at the largest N: how often the pick has a correct final answer but a wrong step
  (``BonProblem.step_ok``), since best-of-N accuracy alone flatters PRMs;
- the breakdown by problem fields (``subject``, ``level``, ``family``).

How it is fast: the subsets of a problem are the prefixes of ``trials`` random orders of its samples
(``draw_orders``; every subset of size N is uniform, and the random order breaks ties uniformly), each
rule's per-sample keys (and answer clusters, for votes) are computed once per problem, and a subset's
choice is an argmax over gathered keys (votes: cluster totals by ``np.bincount``) for all problems and
trials at once. The choices equal :func:`eval.selection.choose` applied to the same orders.
"""

from __future__ import annotations

import logging
import math
import time
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from eval.answers import NO_VOTE
from eval.selection import SELECTION_RULES, Group, RuleNotApplicable, SelectionRule

__all__ = [
    "PASS_AT_K", "BonConfig", "BonProblem", "BonResult", "bootstrap_ci", "draw_orders", "n_values", "pass_at_k",
    "prefix_choices", "run_bon", "select_vectorised",
]  # fmt: skip

logger = logging.getLogger(__name__)

PASS_AT_K = "pass@k"
_CHUNK_ELEMENTS = 2_000_000  # (problems x trials x samples) gathered at once


@dataclass
class BonProblem:
    """One problem's scored samples, its breakdown fields, and per sample whether every step is right
    (``None``: unknown) for the correct-answer-but-wrong-step count."""

    problem_id: str
    group: Group
    meta: dict[str, str] = field(default_factory=dict)
    step_ok: list[bool | None] | None = None


@dataclass(frozen=True)
class BonConfig:
    trials: int = 200
    seed: int = 0
    bootstrap: int = 1000
    confidence: float = 0.95
    max_n: int | None = None
    rules: tuple[str, ...] | None = None  # default: every rule in SELECTION_RULES
    breakdown: tuple[str, ...] = ("subject", "level", "family")


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from ``n`` samples of which ``c`` are correct: ``1 - C(n-c, k) / C(n, k)``.

    >>> pass_at_k(4, 1, 2)
    0.5
    """
    if not 0 < k <= n or not 0 <= c <= n:
        raise ValueError(f"need 0 < k <= n and 0 <= c <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def n_values(n_min: int, max_n: int | None = None) -> list[int]:
    """Powers of two up to ``n_min`` (capped by ``max_n``), plus the cap itself when it is not one."""
    top = min(n_min, max_n) if max_n else n_min
    if top < 1:
        raise ValueError("need at least one sample per problem")
    ns = [1 << i for i in range(top.bit_length()) if 1 << i <= top]
    return ns if ns[-1] == top else [*ns, top]


def draw_orders(problem_id: str, n: int, trials: int, seed: int) -> np.ndarray:
    """``(trials, n)`` random orders of a problem's samples, seeded by ``seed`` and the problem id (so a
    problem's subsets do not depend on the other problems); a subset of size N is a row's first N."""
    rng = np.random.default_rng([seed, zlib.crc32(problem_id.encode("utf-8"))])
    return rng.permuted(np.tile(np.arange(n, dtype=np.intp), (trials, 1)), axis=1)


def bootstrap_ci(values: Sequence[float] | np.ndarray, resamples: int = 1000, confidence: float = 0.95,
                 seed: int = 0, index: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval of the mean over the last axis (problems) of ``values``.

    ``index`` ``(resamples, problems)`` fixes the resampled problem sets (pass the same one to pair rules).
    """
    values = np.asarray(values, dtype=float)
    if index is None:
        index = np.random.default_rng(seed).integers(0, values.shape[-1], (resamples, values.shape[-1]))
    means = values[..., index].mean(axis=-1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha], axis=-1)
    return low, high


def prefix_choices(member: np.ndarray, member_clusters: np.ndarray | None, ns: Sequence[int]) -> np.ndarray:
    """Position in the order of the sample that each prefix of size N chooses: ``(len(ns), M)``.

    ``member`` ``(n, M)``: for each of ``M`` orders (problems x trials, one per column), the keys of the
    samples in that order (argmax rules: no NaN, missing is -inf; voting rules: vote weights);
    ``member_clusters`` the same for answer clusters (``NO_VOTE`` = -1), or None for an argmax rule.
    An argmax rule takes one pass for every N: a prefix chooses its last strict running-maximum record.
    A voting rule sums weights per cluster with ``np.bincount``, once per N.
    """
    n, columns = member.shape
    if member_clusters is None:
        record = np.ones(member.shape, dtype=bool)
        np.greater(member[1:], np.maximum.accumulate(member, axis=0)[:-1], out=record[1:])
        last = np.maximum.accumulate(np.where(record, np.arange(n, dtype=np.int32)[:, None], 0), axis=0)
        return last[np.asarray(ns) - 1].astype(np.intp)
    width = max(int(member_clusters.max()) + 1, 1)
    base = np.arange(columns) * width
    out = np.empty((len(ns), columns), dtype=np.intp)
    for k, size in enumerate(ns):
        cl = member_clusters[:size]
        voting = cl != NO_VOTE
        flat = base + np.where(voting, cl, 0)
        totals = np.bincount(flat.ravel(), weights=np.where(voting, member[:size], 0.0).ravel(),
                             minlength=columns * width)
        out[k] = np.where(voting, totals[flat], -np.inf).argmax(axis=0)
    return out


def select_vectorised(keys: np.ndarray, clusters: np.ndarray | None, orders: np.ndarray) -> np.ndarray:
    """The chosen sample per (problem, trial) among ``orders`` ``(P, T, N)``; ``keys``/``clusters`` ``(P, n)``
    as in :func:`prefix_choices`. Returns sample indices ``(P, T)``."""
    problems, trials, size = orders.shape
    rows = np.arange(problems)[:, None, None]
    layout = orders.reshape(problems * trials, size).T  # (N, M)
    flat = (rows * keys.shape[1] + orders).reshape(problems * trials, size).T
    member_clusters = None if clusters is None else clusters.ravel().take(flat)
    pos = prefix_choices(keys.ravel().take(flat), member_clusters, [size])[0]
    return np.take_along_axis(layout, pos[None], axis=0)[0].reshape(problems, trials)


@dataclass
class _RuleArrays:
    """What a rule ranks a chunk by: ``keys`` ``(P, n)`` (argmax rules: dense ranks; voting rules: vote weights),
    ``clusters`` ``(P, n)`` or None, ``scores`` ``(P, n)`` the raw keys of a proxy rule (NaN: none) or None, and
    the number of groups the rule cannot rank (no votes, equal keys: the pick is a random sample)."""

    keys: np.ndarray
    clusters: np.ndarray | None
    scores: np.ndarray | None
    missing: int


def _rule_arrays(rule: SelectionRule, groups: Sequence[Group], n: int) -> _RuleArrays:
    keys = np.full((len(groups), n), -np.inf)
    scores = np.full((len(groups), n), np.nan) if rule.proxy else None
    clusters: np.ndarray | None = None
    missing = 0
    for row, group in enumerate(groups):
        try:
            features = rule.features(group)
        except RuleNotApplicable:
            missing += 1
            continue
        values = np.asarray(features.keys, dtype=float)
        if scores is not None:
            scores[row] = values
        if features.clusters is not None:
            if clusters is None:
                clusters = np.full((len(groups), n), NO_VOTE, dtype=np.intp)
            clusters[row] = features.clusters
            keys[row] = np.nan_to_num(values, nan=0.0)
        else:
            keys[row] = np.where(np.isnan(values), -np.inf, values)
    if clusters is None:
        keys = _dense_ranks(keys)
    return _RuleArrays(keys, clusters, scores, missing)


def _dense_ranks(keys: np.ndarray) -> np.ndarray:
    """Per row, each key's rank among the row's distinct keys (ties share a rank), as small integers:
    the same argmax and ties as the keys, a quarter of the memory traffic."""
    order = np.argsort(keys, axis=1, kind="stable")
    ordered = np.take_along_axis(keys, order, axis=1)
    dense = np.zeros(keys.shape, dtype=np.int16 if keys.shape[1] < 1 << 15 else np.int32)
    np.cumsum(ordered[:, 1:] > ordered[:, :-1], axis=1, out=dense[:, 1:])
    ranks = np.empty_like(dense)
    np.put_along_axis(ranks, order, dense, axis=1)
    return ranks


@dataclass
class _Tally:
    """Per rule: subset accuracy ``(len(ns), P)``, a proxy rule's mean score of the pick ``(len(ns), P)`` (NaN:
    no scored pick), and counts of picks at the largest N."""

    accuracy: np.ndarray
    proxy: np.ndarray
    picks: dict[str, int] = field(default_factory=lambda: {"total": 0, "correct": 0, "wrong_step": 0, "clean": 0})
    missing: int = 0


def _chunks(problems: Sequence[BonProblem], trials: int) -> list[list[int]]:
    """Problem indices in chunks of equal sample count, each small enough to gather at once."""
    by_n: dict[int, list[int]] = {}
    for i, problem in enumerate(problems):
        by_n.setdefault(len(problem.group), []).append(i)
    out = []
    for n, indices in by_n.items():
        size = max(1, _CHUNK_ELEMENTS // max(trials * n, 1))
        out += [indices[i:i + size] for i in range(0, len(indices), size)]
    return out


def _run_chunk(chunk: list[BonProblem], columns: list[int], rules: list[SelectionRule], ns: list[int],
               config: BonConfig, tallies: dict[str, _Tally]) -> None:
    n, trials = len(chunk[0].group), config.trials
    orders = np.stack([draw_orders(p.problem_id, n, trials, config.seed) for p in chunk])
    # flat sample index of the j-th sample of every order: (n, problems * trials), one column per order
    flat = (np.arange(len(chunk))[:, None, None] * n + orders).reshape(-1, n).T.copy()
    labels = [p.step_ok or [None] * n for p in chunk]
    correct = np.array([p.group.correct for p in chunk], dtype=bool).ravel().take(flat)
    step_ok = np.array([[s is True for s in row] for row in labels], dtype=bool).ravel().take(flat)
    step_bad = np.array([[s is False for s in row] for row in labels], dtype=bool).ravel().take(flat)
    for rule in rules:
        arrays = _rule_arrays(rule, [p.group for p in chunk], n)
        tally = tallies[rule.name]
        tally.missing += arrays.missing
        member_clusters = None if arrays.clusters is None else arrays.clusters.ravel().take(flat)
        positions = prefix_choices(arrays.keys.ravel().take(flat), member_clusters, ns)
        hits = np.take_along_axis(correct, positions, axis=0)  # (len(ns), problems * trials)
        tally.accuracy[:, columns] = hits.reshape(len(ns), len(chunk), trials).mean(axis=2)
        if arrays.scores is not None:
            picked = np.take_along_axis(arrays.scores.ravel().take(flat), positions, axis=0)
            tally.proxy[:, columns] = _scored_mean(picked.reshape(len(ns), len(chunk), trials), axis=2)
        hit, pos = hits[-1], positions[-1:]
        tally.picks["total"] += hit.size
        tally.picks["correct"] += int(hit.sum())
        tally.picks["wrong_step"] += int((hit & np.take_along_axis(step_bad, pos, axis=0)[0]).sum())
        tally.picks["clean"] += int((hit & np.take_along_axis(step_ok, pos, axis=0)[0]).sum())


def _wrong_step_summary(picks: dict[str, int]) -> dict[str, float]:
    labelled = picks["wrong_step"] + picks["clean"]
    return {
        "share_of_picks": picks["wrong_step"] / picks["total"] if picks["total"] else math.nan,
        "share_of_correct": picks["wrong_step"] / labelled if labelled else math.nan,
        "labelled_share_of_correct": labelled / picks["correct"] if picks["correct"] else math.nan,
        **{k: float(v) for k, v in picks.items()},
    }


def _select_rules(config: BonConfig, problems: Sequence[BonProblem]) -> tuple[list[SelectionRule], list[str]]:
    names = list(config.rules or SELECTION_RULES)
    unknown = [name for name in names if name not in SELECTION_RULES]
    if unknown:
        raise ValueError(f"unknown rule(s) {', '.join(unknown)}; known: {', '.join(SELECTION_RULES)}")
    rules, notes = [], []
    for name in names:
        rule = SELECTION_RULES[name]
        reasons = []
        for problem in problems:
            try:
                rule.features(problem.group)
                break
            except RuleNotApplicable as error:
                reasons.append(str(error))
        else:
            notes.append(f"rule {name} skipped: {reasons[0] if reasons else 'no problems'} in every problem")
            continue
        rules.append(rule)
    return rules, notes


@dataclass
class Curve:
    """Accuracy per N with its confidence interval (same order as ``BonResult.ns``)."""

    accuracy: list[float]
    low: list[float]
    high: list[float]


@dataclass
class BonResult:
    """What ``run_bon`` measured; ``per_problem[rule]`` is ``(len(ns), problems)``, kept for paired
    comparisons (``difference``) and left out of ``to_dict``."""

    ns: list[int]
    problem_ids: list[str]
    samples_per_problem: list[int]
    config: BonConfig
    curves: dict[str, Curve]
    per_problem: dict[str, np.ndarray]
    wrong_step: dict[str, dict[str, float]]
    breakdown: dict[str, dict[str, dict[str, Any]]]
    notes: list[str]
    seconds: float
    boot_index: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 0), dtype=np.intp))
    proxy: dict[str, list[float]] = field(default_factory=dict)  # proxy rule -> mean score of its pick per N

    @property
    def rules(self) -> list[str]:
        return [name for name in self.curves if name != PASS_AT_K]

    def difference(self, rule: str, baseline: str, n: int | None = None) -> tuple[float, float, float]:
        """``(mean, low, high)`` of accuracy(rule) - accuracy(baseline) at N (default: the largest),
        paired over problems, with the same bootstrap resamples as the curves."""
        k = self.ns.index(n) if n is not None else len(self.ns) - 1
        delta = self.per_problem[rule][k] - self.per_problem[baseline][k]
        low, high = bootstrap_ci(delta, confidence=self.config.confidence, index=self.boot_index)
        return float(delta.mean()), float(low), float(high)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ns": self.ns, "problems": len(self.problem_ids),
            "samples_per_problem": {"min": min(self.samples_per_problem), "max": max(self.samples_per_problem)},
            "config": asdict(self.config),
            "curves": {name: asdict(curve) for name, curve in self.curves.items()},
            "wrong_step_at_max_n": self.wrong_step, "breakdown": self.breakdown, "notes": self.notes,
            "proxy_of_pick": self.proxy, "seconds": self.seconds,
        }  # fmt: skip


def _natural(value: str) -> tuple[bool, int, str]:
    """Sort key: numbers first, in numeric order, then text."""
    return (not value.isdigit(), int(value) if value.isdigit() else 0, value)


def _breakdown(problems: Sequence[BonProblem], per_problem: dict[str, np.ndarray],
               fields: Sequence[str]) -> dict[str, dict[str, dict[str, Any]]]:
    """Per field and value: problem count and mean accuracy per rule and N."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for name in fields:
        values = [p.meta.get(name) for p in problems]
        present = sorted({v for v in values if v is not None}, key=_natural)
        if not present:
            continue
        table = {}
        for value in present:
            mask = np.array([v == value for v in values])
            table[value] = {"problems": int(mask.sum()),
                            "accuracy": {rule: acc[:, mask].mean(axis=1).tolist() for rule, acc in per_problem.items()}}
        out[name] = table
    return out


def _scored_mean(values: np.ndarray, axis: int) -> np.ndarray:
    """Mean over ``axis`` of the non-NaN values (NaN where there are none), without numpy's all-NaN warning."""
    scored = ~np.isnan(values)
    with np.errstate(invalid="ignore"):
        return np.where(scored, values, 0.0).sum(axis=axis) / scored.sum(axis=axis)


def _proxy_means(tallies: dict[str, _Tally]) -> dict[str, list[float]]:
    """Per proxy rule, the mean over problems (those with a scored pick) of its pick's score, per N."""
    return {name: _scored_mean(tally.proxy, axis=1).tolist() for name, tally in tallies.items()
            if SELECTION_RULES[name].proxy and not np.isnan(tally.proxy).all()}


def run_bon(problems: Sequence[BonProblem], config: BonConfig | None = None) -> BonResult:
    """Accuracy vs N of every applicable rule over ``problems`` (each with verdicts on all samples)."""
    config = config or BonConfig()
    start = time.perf_counter()
    problems = [p for p in problems if len(p.group) > 0]
    if not problems:
        raise ValueError("no problem has samples")
    for problem in problems:
        try:
            problem.group.correct  # noqa: B018 - raises when a verdict is missing
        except RuleNotApplicable as error:
            raise ValueError(f"problem {problem.problem_id}: {error}") from None
    sizes = [len(p.group) for p in problems]
    ns = n_values(min(sizes), config.max_n)
    rules, notes = _select_rules(config, problems)
    if min(sizes) != max(sizes):
        notes.append(f"samples per problem vary ({min(sizes)}-{max(sizes)}): N goes up to {ns[-1]}")
    tallies = {r.name: _Tally(np.zeros((len(ns), len(problems))), np.full((len(ns), len(problems)), np.nan))
               for r in rules}
    for columns in _chunks(problems, config.trials):
        _run_chunk([problems[i] for i in columns], columns, rules, ns, config, tallies)
    per_problem = {name: tally.accuracy for name, tally in tallies.items()}
    for name, tally in tallies.items():
        if tally.missing:
            notes.append(f"rule {name}: {tally.missing} problem(s) without its scores; it picks at random there")
    per_problem[PASS_AT_K] = np.array([[pass_at_k(len(p.group), sum(p.group.correct), k) for p in problems]
                                       for k in ns])
    boot_index = np.random.default_rng(config.seed).integers(0, len(problems), (config.bootstrap, len(problems)))
    curves = {}
    for name, acc in per_problem.items():
        low, high = bootstrap_ci(acc, confidence=config.confidence, index=boot_index)
        curves[name] = Curve(acc.mean(axis=1).tolist(), low.tolist(), high.tolist())
    seconds = time.perf_counter() - start
    logger.info("best-of-N: %d problems, N up to %d, %d rules, %d trials in %.2f s",
                len(problems), ns[-1], len(rules), config.trials, seconds)
    return BonResult(ns, [p.problem_id for p in problems], sizes, config, curves, per_problem,
                     {name: _wrong_step_summary(t.picks) for name, t in tallies.items()},
                     _breakdown(problems, per_problem, config.breakdown), notes, seconds, boot_index,
                     _proxy_means(tallies))
