"""The registry of rewards (``REWARDS``), their shared resources (:class:`RewardContext`), and building reward
functions from a spec (:func:`build_rewards`) and combining their values (:func:`combine`).

Every reward is a callable with TRL's signature ``f(prompts, completions, **columns)``; ``kind`` says what it
returns per completion: ``outcome`` one float (None: cannot judge, skipped, never 0) or ``process`` one score per
step (steps as :func:`data.segment.split_steps` cuts them). ``needs`` names the columns it reads, so a caller that
cannot provide one (the verl adapter has no ``finish_reason``) refuses the spec up front.

Adding a reward is one entry here plus its function: ``"name": RewardEntry("outcome", build, needs, summary)``
where ``build(context, term)`` returns the callable.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from prm.rewards.answer import AnswerReward
from prm.rewards.prm_scores import PRMOutcomeReward, PRMProcessReward
from prm.rewards.shaping import LengthReward, format_reward
from prm.rewards.spec import RewardTerm, parse_terms
from verifiers.config import VerifyConfig

__all__ = ["REWARDS", "BuiltReward", "RewardContext", "RewardEntry", "build_rewards", "combine", "parse_rewards"]

Kind = Literal["outcome", "process"]
RewardFn = Callable[..., list[Any]]


@dataclass
class RewardContext:
    """What reward builders may need: the PRM (loaded once, shared by every PRM term), the token budget, the
    answer checker's workers and options, and the dataset's column names."""

    prm: str | None = None
    prm_format: str = "auto"
    prm_options: dict[str, Any] = field(default_factory=dict)  # the format loader's options
    scorer: Any | None = None  # a loaded prm.model.Scorer; loaded from ``prm`` on first use when None
    device: str = "auto"
    batch_size: int = 16
    max_new_tokens: int = 256
    workers: int = 1
    verify_config: VerifyConfig | None = None
    gold_column: str = "answer"
    problem_column: str = "problem"

    @functools.cached_property
    def prm_scorer(self) -> Any:
        if self.scorer is not None:
            return self.scorer
        if not self.prm:
            raise ValueError("the prm_outcome and prm_process rewards need a PRM (--prm PATH)")
        from prm.model.formats import load_scorer

        return load_scorer(self.prm, self.prm_format, device=self.device, batch_size=self.batch_size,
                           **self.prm_options)


@dataclass(frozen=True)
class RewardEntry:
    """A registered reward: its kind, its builder, the columns it reads and a one-line summary."""

    kind: Kind
    build: Callable[[RewardContext, RewardTerm], RewardFn]
    needs: tuple[str, ...]
    summary: str
    aggregates: bool = False  # takes '@AGGREGATION' (PRM step scores -> one number)


REWARDS: dict[str, RewardEntry] = {
    "answer": RewardEntry(
        "outcome", lambda ctx, term: AnswerReward(ctx.gold_column, ctx.workers, ctx.verify_config, name="answer"),
        ("answer",), "1/0 by the sympy answer check; None when the gold is missing or unreadable"),
    "prm_outcome": RewardEntry(
        "outcome", lambda ctx, term: PRMOutcomeReward(aggregation=term.aggregation or "min", scorer=ctx.prm_scorer,
                                                      batch_size=ctx.batch_size, problem_column=ctx.problem_column),
        ("problem",), "the PRM's step scores aggregated (@min, @product, @last, @mean; default min)", aggregates=True),
    "prm_process": RewardEntry(
        "process", lambda ctx, term: PRMProcessReward(ctx.prm_scorer, ctx.problem_column, ctx.batch_size),
        ("problem",), "the PRM's score of every step (process advantages)"),
    "format": RewardEntry(
        "outcome", lambda ctx, term: format_reward, ("finish_reason",),
        "0.5 for a boxed answer in the last step + 0.5 for a completion that ended by itself"),
    "length": RewardEntry(
        "outcome", lambda ctx, term: LengthReward(ctx.max_new_tokens), ("completion_ids",),
        "-tokens / max_new_tokens, a penalty on long completions"),
}


@dataclass(frozen=True)
class BuiltReward:
    """A term of a spec with its reward function."""

    term: RewardTerm
    kind: Kind
    function: RewardFn

    @property
    def name(self) -> str:
        return self.term.name

    @property
    def weight(self) -> float:
        return self.term.weight


def parse_rewards(spec: str, available: Iterable[str] | None = None) -> list[RewardTerm]:
    """The terms of ``spec`` (grammar: :mod:`prm.rewards.spec`); ValueError on a bad term, more than one process
    reward, or a reward that needs a column not in ``available`` (None: every column is available)."""
    terms = parse_terms(spec, REWARDS, lambda name: REWARDS[name].aggregates)
    if sum(REWARDS[t.name].kind == "process" for t in terms) > 1:
        raise ValueError(f"at most one process reward in {spec!r}")
    if available is not None:
        have = set(available)
        for term in terms:
            missing = [c for c in REWARDS[term.name].needs if c not in have]
            if missing:
                raise ValueError(f"reward {term.name!r} in {spec!r} needs {', '.join(missing)}, which this caller "
                                 f"does not have (it has: {', '.join(sorted(have))})")
    return terms


def build_rewards(spec: str | Sequence[RewardTerm], context: RewardContext) -> list[BuiltReward]:
    """The reward function of every term of ``spec``, built against ``context``."""
    terms = parse_rewards(spec) if isinstance(spec, str) else list(spec)
    return [BuiltReward(term, REWARDS[term.name].kind, REWARDS[term.name].build(context, term)) for term in terms]


def combine(values: Mapping[str, Sequence[float | None]], weights: Mapping[str, float]) -> list[float | None]:
    """Per completion, the weighted sum of outcome rewards; None (skipped) where any term is None or NaN.
    A term of weight 0 is logged, not combined (``prm_outcome:0`` watches a PRM without training on it)."""
    columns = [(weights[name], column) for name, column in values.items() if weights[name] != 0]
    if not columns and values:  # every term weighs 0: nothing to train on, every completion counts 0
        return [0.0] * len(next(iter(values.values())))
    count = len(columns[0][1]) if columns else 0
    out: list[float | None] = []
    for i in range(count):
        terms = [(w, column[i]) for w, column in columns]
        if any(v is None or math.isnan(v) for _, v in terms):
            out.append(None)
        else:
            out.append(math.fsum(w * float(v) for w, v in terms))  # type: ignore[arg-type]
    return out
