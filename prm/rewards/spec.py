"""The reward spec grammar shared by ``prm grpo --rewards``, ``prm serve --rewards``, the TRL and verl adapters.

A spec is comma-separated terms; a term is a reward name, optionally a weight after ``:`` and a step-score
aggregation after ``@`` (for rewards that aggregate PRM step scores)::

    answer                        # the answer check, weight 1
    answer:1.0,format:0.1         # weighted sum of two outcome rewards
    answer,prm_outcome@last:0.5   # plus the PRM's last-step score at weight 0.5 ('@' and ':' in any order)

Parsing checks names against a registry (``prm.rewards.REWARDS``), so this module only knows the grammar.
Imports without torch.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from eval.aggregate import AGGREGATIONS

__all__ = ["RewardTerm", "parse_terms"]

_TERM = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<rest>(?:[:@][^:@]*)*)$")


@dataclass(frozen=True)
class RewardTerm:
    """One term of a spec: a registered reward, its weight and (PRM outcome rewards) its aggregation."""

    name: str
    weight: float = 1.0
    aggregation: str | None = None

    def __str__(self) -> str:
        text = self.name + (f"@{self.aggregation}" if self.aggregation else "")
        return text if self.weight == 1.0 else f"{text}:{self.weight:g}"


def _term(text: str, spec: str, known: Mapping[str, object], aggregates: Callable[[str], bool]) -> RewardTerm:
    match = _TERM.match(text)
    if match is None:
        raise ValueError(f"reward term {text!r} in {spec!r}: expected NAME[:WEIGHT][@AGGREGATION]")
    name, weight, aggregation = match["name"], 1.0, None
    if name not in known:
        raise ValueError(f"unknown reward {name!r} in {spec!r}; known: {', '.join(known)}")
    for marker, value in re.findall(r"([:@])([^:@]*)", match["rest"]):
        value = value.strip()
        if marker == ":":
            try:
                weight = float(value)
            except ValueError:
                raise ValueError(f"reward {name!r} in {spec!r}: weight {value!r} is not a number") from None
            if not math.isfinite(weight):
                raise ValueError(f"reward {name!r} in {spec!r}: weight {value!r} is not finite")
        elif not aggregates(name):
            raise ValueError(f"reward {name!r} in {spec!r} takes no '@{value}': it does not aggregate step scores")
        elif value not in AGGREGATIONS:
            raise ValueError(f"reward {name!r} in {spec!r}: unknown aggregation {value!r}; "
                             f"known: {', '.join(AGGREGATIONS)}")
        else:
            aggregation = value
    return RewardTerm(name, weight, aggregation)


def parse_terms(spec: str, known: Mapping[str, object], aggregates: Callable[[str], bool]) -> list[RewardTerm]:
    """The terms of ``spec``; ValueError naming the bad term for an unknown name, a bad weight or aggregation,
    a reward given twice, or an empty spec."""
    terms: list[RewardTerm] = []
    for text in (part.strip() for part in spec.split(",")):
        if not text:
            continue
        term = _term(text.replace(" ", ""), spec, known, aggregates)
        if any(t.name == term.name for t in terms):
            raise ValueError(f"reward {term.name!r} appears twice in {spec!r}")
        terms.append(term)
    if not terms:
        raise ValueError(f"no reward named in {spec!r}: use e.g. 'answer' or 'answer:1.0,format:0.1'")
    return terms
