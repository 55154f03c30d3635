"""The reward spec grammar and registry (prm.rewards) that `prm grpo`, `prm serve`, TRL and verl share."""

from __future__ import annotations

import math
import re

import pytest

from prm.rewards import REWARDS, RewardTerm, combine, outcome_score, parse_rewards


@pytest.mark.parametrize(("spec", "terms"), [
    ("answer", [RewardTerm("answer")]),
    (" answer : 2 , format:0.1 ", [RewardTerm("answer", 2.0), RewardTerm("format", 0.1)]),
    ("answer,prm_outcome@last:0.5", [RewardTerm("answer"), RewardTerm("prm_outcome", 0.5, "last")]),
    ("prm_outcome:0.5@product", [RewardTerm("prm_outcome", 0.5, "product")]),  # ':' and '@' in either order
    ("length:-1e-3", [RewardTerm("length", -0.001)]),
    ("answer,,format", [RewardTerm("answer"), RewardTerm("format")]),  # an empty term is skipped
])
def test_specs_parse(spec: str, terms: list[RewardTerm]) -> None:
    assert parse_rewards(spec) == terms


@pytest.mark.parametrize(("spec", "message"), [
    ("", "no reward named"),
    ("orm", "unknown reward 'orm' in 'orm'; known: answer, prm_outcome, prm_process, format, length"),
    ("answer:x", "reward 'answer' in 'answer:x': weight 'x' is not a number"),
    ("answer:inf", "weight 'inf' is not finite"),
    ("answer@min", "reward 'answer' in 'answer@min' takes no '@min'"),
    ("prm_outcome@max", "unknown aggregation 'max'; known: min, product, last, mean"),
    ("answer,answer:2", "reward 'answer' appears twice"),
    ("prm_process,prm_process", "appears twice"),
    ("answer(1)", "expected NAME[:WEIGHT][@AGGREGATION]"),
])
def test_bad_specs_name_the_term(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_rewards(spec)


def test_a_caller_refuses_rewards_it_cannot_feed() -> None:
    assert parse_rewards("answer,prm_outcome", available=("answer", "problem"))
    with pytest.raises(ValueError, match="reward 'format' in 'answer,format' needs finish_reason"):
        parse_rewards("answer,format", available=("answer", "problem"))


def test_every_registered_reward_says_what_it_reads() -> None:
    columns = {"answer", "problem", "finish_reason", "completion_ids"}
    for name, entry in REWARDS.items():
        assert entry.kind in ("outcome", "process") and set(entry.needs) <= columns and entry.summary, name
    assert [name for name, entry in REWARDS.items() if entry.aggregates] == ["prm_outcome"]


def test_str_round_trips() -> None:
    for spec in ("answer", "prm_outcome@last:0.5", "format:0.1"):
        (term,) = parse_rewards(spec)
        assert str(term) == spec and parse_rewards(str(term)) == [term]


def test_combine_weights_and_skips() -> None:
    values = {"answer": [1.0, 0.0, None, 1.0], "prm_outcome": [0.5, 0.25, 0.5, math.nan]}
    assert combine(values, {"answer": 1.0, "prm_outcome": 2.0}) == [2.0, 0.5, None, None]
    assert combine({}, {}) == []
    assert combine(values, {"answer": 1.0, "prm_outcome": 0.0}) == [1.0, 0.0, None, 1.0]  # weight 0: watched only
    assert combine({"answer": [1.0, None]}, {"answer": 0.0}) == [0.0, 0.0]


@pytest.mark.parametrize(("scores", "how", "expected"), [
    ([], "min", 0.0),                  # no step at all: a failed solution
    ([None, None], "min", None),       # every step past the length limit: cannot judge
    ([0.9, None, 0.4], "min", 0.4),
    ([0.9, 0.5], "product", 0.45),
    ([0.9, 0.5], "last", 0.5),
])
def test_outcome_score(scores: list, how: str, expected: float | None) -> None:
    assert outcome_score(scores, how) == (pytest.approx(expected) if expected is not None else None)
