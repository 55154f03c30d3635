"""Best-of-N selection rules: plain callables with one signature, in one registry dict.

Every rule in ``SELECTION_RULES`` is called as ``rule(samples, rng=None) -> index`` where ``samples``
is one problem's scored samples (dicts with ``verdict``, ``step_scores``, ``answer``/``text``,
optionally ``orm_score`` or ``orm_step_scores``) or a :class:`Group` of them, and the index is the
chosen sample's position in ``samples``::

    from eval.selection import SELECTION_RULES
    chosen = SELECTION_RULES["prm_min"](samples)              # ties: the lowest index
    chosen = SELECTION_RULES["majority"](samples, random.Random(0))   # ties: uniformly at random

Rules (``name``: what it picks):

- ``first``: the first sample (pass@1 when the order is random);
- ``majority``: a sample of the answer cluster with the most votes (``eval.answers``);
- ``orm``: the highest learned outcome-RM score (``orm_score``, else the last ``orm_step_scores``);
- ``prm_<agg>``: the highest PRM score, step scores aggregated by ``<agg>`` (``eval.aggregate``);
- ``prm_vote_<agg>``: weighted vote: the answer cluster with the largest summed ``prm_<agg>`` score;
- ``oracle``: a correct sample if there is one (pass@N, the ceiling).

Each rule is two parts: ``features(group) -> Features`` (per-sample keys, and answer clusters for the
voting rules) and the shared :func:`choose`, the argmax over a sample order. The vectorised harness
(``eval.bon``) uses the same features with a numpy argmax, so both give the same choice.

Ties: the winner is the tied sample (voting: the tied cluster's sample) that comes first in the order.
The order is ``0..n-1`` without ``rng`` (deterministic: the lowest index) and a shuffle with it
(uniform among tied samples). Missing scores (a sample with no ``step_scores``) rank below every scored
sample. A rule whose field is absent from the whole group raises :class:`RuleNotApplicable`.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, partial
from typing import Any

from eval.aggregate import AGGREGATIONS, solution_score
from eval.answers import NO_VOTE, AnswerClusterer, answer_of

__all__ = [
    "SELECTION_RULES", "Features", "Group", "RuleNotApplicable", "ScoredSample", "SelectionRule", "choose",
    "default_clusterer",
]  # fmt: skip

ScoredSample = Mapping[str, Any]
_NEG_INF = float("-inf")
_default_clusterer: AnswerClusterer | None = None


class RuleNotApplicable(ValueError):
    """A rule that cannot rank this group (e.g. no sample has ``orm_score``); the message says why."""


def default_clusterer() -> AnswerClusterer:
    """The process-wide clusterer (its verifier cache is shared by every :class:`Group` built without one)."""
    global _default_clusterer
    if _default_clusterer is None:
        _default_clusterer = AnswerClusterer()
    return _default_clusterer


def _orm_score(sample: ScoredSample) -> float | None:
    score = sample.get("orm_score")
    if score is None and sample.get("orm_step_scores"):
        score = sample["orm_step_scores"][-1]
    return None if score is None else float(score)


class Group:
    """One problem's samples with the derived columns the rules read, each computed once."""

    def __init__(self, samples: Sequence[ScoredSample | Any], clusterer: AnswerClusterer | None = None) -> None:
        self.samples = [s.to_dict() if hasattr(s, "to_dict") else s for s in samples]  # records become dicts
        self._clusterer = clusterer
        self._aggregated: dict[str, list[float]] = {}

    def __len__(self) -> int:
        return len(self.samples)

    @cached_property
    def verdicts(self) -> list[str | None]:
        return [s.get("verdict") for s in self.samples]

    @cached_property
    def correct(self) -> list[bool]:
        """Whether each sample's final answer is correct; raises RuleNotApplicable without verdicts."""
        if any(v is None for v in self.verdicts):
            raise RuleNotApplicable("samples without a verdict (verify them first)")
        return [v == "correct" for v in self.verdicts]

    @cached_property
    def clusters(self) -> list[int]:
        """Answer cluster of each sample (``eval.answers.NO_VOTE`` for samples that do not vote)."""
        clusterer = self._clusterer or default_clusterer()
        verdicts = self.verdicts if all(v is not None for v in self.verdicts) else None
        return clusterer.cluster([answer_of(s) for s in self.samples], verdicts)

    def aggregated(self, name: str) -> list[float]:
        """Aggregated PRM score per sample (steps scored None skipped, as ``eval.aggregate.solution_score``
        does), NaN for samples without a scored step."""
        if name not in self._aggregated:
            scores = [solution_score(s.get("step_scores") or [], name) for s in self.samples]
            self._aggregated[name] = [math.nan if score is None else score for score in scores]
        return self._aggregated[name]

    @cached_property
    def orm_scores(self) -> list[float]:
        return [math.nan if (score := _orm_score(s)) is None else score for s in self.samples]


@dataclass(frozen=True)
class Features:
    """What a rule ranks by: ``keys`` per sample (argmax rules: higher is better; voting rules: the
    sample's vote weight) and, for voting rules, each sample's answer cluster (``NO_VOTE``: no vote)."""

    keys: Sequence[float]
    clusters: Sequence[int] | None = None


def choose(features: Features, order: Sequence[int]) -> int:
    """The sample chosen among ``order`` (indices into the group): the first one with the best key.

    NaN keys rank lowest; a voting rule ranks each sample by its cluster's summed weight over ``order``
    (NaN weights count 0; samples that do not vote rank lowest).
    """
    keys = [_NEG_INF if math.isnan(k) else k for k in features.keys]
    clusters = features.clusters
    if clusters is not None:
        totals: dict[int, float] = defaultdict(float)
        for i in order:
            if clusters[i] != NO_VOTE:
                totals[clusters[i]] += 0.0 if keys[i] == _NEG_INF else keys[i]
        keys = [totals[c] if c != NO_VOTE else _NEG_INF for c in clusters]
    best = order[0]
    for i in order[1:]:
        if keys[i] > keys[best]:
            best = i
    return best


@dataclass(frozen=True)
class SelectionRule:
    """A named rule: ``rule(samples, rng=None) -> index`` (see the module docstring for ties)."""

    name: str
    features: Callable[[Group], Features]
    help: str
    proxy: bool = False  # keys are a reward model's score: the proxy of the overoptimization view (eval.bon_monitor)

    def __call__(self, samples: Sequence[ScoredSample] | Group, rng: random.Random | None = None) -> int:
        group = samples if isinstance(samples, Group) else Group(samples)
        if len(group) == 0:
            raise ValueError(f"{self.name}: empty group")
        order = list(range(len(group)))
        if rng is not None:
            rng.shuffle(order)
        return choose(self.features(group), order)


def _first(group: Group) -> Features:
    return Features([0.0] * len(group))


def _majority(group: Group) -> Features:
    return Features([1.0] * len(group), group.clusters)


def _need(values: list[float], what: str) -> list[float]:
    if all(math.isnan(v) for v in values):
        raise RuleNotApplicable(f"no sample has {what}")
    return values


def _prm(group: Group, aggregation: str) -> Features:
    return Features(_need(group.aggregated(aggregation), "step_scores"))


def _prm_vote(group: Group, aggregation: str) -> Features:
    return Features(_need(group.aggregated(aggregation), "step_scores"), group.clusters)


def _orm(group: Group) -> Features:
    return Features(_need(group.orm_scores, "orm_score or orm_step_scores"))


def _oracle(group: Group) -> Features:
    return Features([1.0 if c else 0.0 for c in group.correct])


def _registry() -> dict[str, SelectionRule]:
    rules = [
        SelectionRule("first", _first, "the first sample (pass@1)"),
        SelectionRule("majority", _majority, "majority vote over verifier-equivalent answers"),
        SelectionRule("orm", _orm, "highest learned outcome-RM score (orm_score, else last orm_step_scores)", True),
    ]
    rules += [SelectionRule(f"prm_{agg}", partial(_prm, aggregation=agg), f"highest PRM score ({agg} over steps)",
                            True) for agg in AGGREGATIONS]
    rules += [SelectionRule(f"prm_vote_{agg}", partial(_prm_vote, aggregation=agg),
                            f"answer with the largest summed PRM score ({agg} over steps)") for agg in AGGREGATIONS]
    rules.append(SelectionRule("oracle", _oracle, "a correct sample if any (pass@N, the ceiling)"))
    return {rule.name: rule for rule in rules}


SELECTION_RULES: dict[str, SelectionRule] = _registry()
