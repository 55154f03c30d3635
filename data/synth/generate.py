"""Seeded generation of the synthetic task, the train/test split, and checks of reference solutions.

``generate_problems(n, seed, split)`` cycles through the families, draws a level per problem (or uses
the given :class:`Difficulty`), and keeps a draw only if its problem falls in the requested split and
is new in this call. The split is a hash of the problem's *skeleton* (its text with every word
removed, so only numbers and symbols remain): two problems that differ only in names or items share
a skeleton and so land in the same split. Train and test are therefore disjoint by problem text and
also by the underlying arithmetic, whatever seeds produced them.
"""

from __future__ import annotations

import hashlib
import logging
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from data.records import Problem
from data.segment import split_steps
from data.synth.algebra import evaluate, linear_equation, linear_system, simplify
from data.synth.common import Difficulty, Draft, Retry, level_of
from data.synth.numbers import fractions, gcd_lcm, remainder
from data.synth.word import percent, ratio, word_arithmetic
from verifiers import check_steps, verify

__all__ = [
    "FAMILIES", "DEFAULT_LEVELS", "TEST_FRACTION", "generate_problems", "split_of", "answer_type",
    "ReferenceCheck", "check_reference",
]

logger = logging.getLogger(__name__)

Family = Callable[[random.Random, Difficulty], Draft]

FAMILIES: dict[str, Family] = {
    "arithmetic": word_arithmetic,
    "fractions": fractions,
    "linear_equation": linear_equation,
    "linear_system": linear_system,
    "evaluate": evaluate,
    "simplify": simplify,
    "percent": percent,
    "ratio": ratio,
    "remainder": remainder,
    "gcd_lcm": gcd_lcm,
}

DEFAULT_LEVELS: tuple[int, ...] = (1, 2, 3)  # 2-3 steps, numbers up to 20: what a tiny policy can learn
TEST_FRACTION = 0.1
SPLITS = ("train", "test")
_MAX_TRIES_PER_PROBLEM = 2000
_TRIES_PER_LEVEL = 50
_WORD = re.compile(r"[^\W\d_]+")


def _digest(text: str, size: int) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=size).digest()


def normalise(text: str) -> str:
    return " ".join(text.lower().split())


def skeleton(text: str) -> str:
    """The problem without words and spaces: its numbers, operators and punctuation."""
    return "".join(_WORD.sub("", normalise(text)).split())


def split_of(problem: str, test_fraction: float = TEST_FRACTION) -> str:
    """``"test"`` for a fixed ``test_fraction`` of problem skeletons, ``"train"`` for the rest."""
    bucket = int.from_bytes(_digest(skeleton(problem), 8), "big") % 1_000_000
    return "test" if bucket < test_fraction * 1_000_000 else "train"


def _resolve(families: Sequence[str] | None) -> list[str]:
    names = list(families) if families else list(FAMILIES)
    unknown = [name for name in names if name not in FAMILIES]
    if unknown:
        raise ValueError(f"unknown synthetic famil{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)}; "
                         f"choose from {', '.join(FAMILIES)}")
    return names


def generate_problems(
    n: int,
    seed: int = 0,
    split: str = "train",
    families: Sequence[str] | None = None,
    difficulty: Difficulty | None = None,
    *,
    levels: Sequence[int] | None = None,
    test_fraction: float = TEST_FRACTION,
) -> list[Problem]:
    """``n`` distinct problems of ``split``, cycling through ``families``; deterministic for a seed.

    With ``difficulty`` every problem uses those knobs (its level is the easiest level at least as
    hard); otherwise each problem draws a level from ``levels`` (default ``DEFAULT_LEVELS``).
    Raises ValueError when the families cannot yield ``n`` distinct problems at these knobs.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    names = _resolve(families)
    pool = list(levels) if levels else list(DEFAULT_LEVELS)
    knobs = {level: Difficulty.for_level(level) for level in pool}  # validates the levels
    rng = random.Random(f"prm-math synth {seed} {split}")
    seen: set[str] = set()
    problems: list[Problem] = []
    for i in range(n):
        family = names[i % len(names)]
        for attempt in range(_MAX_TRIES_PER_PROBLEM):
            if attempt % _TRIES_PER_LEVEL == 0:  # a level is kept until it looks exhausted
                level = rng.choice(pool) if difficulty is None else level_of(difficulty)
            try:
                draft = FAMILIES[family](rng, difficulty or knobs[level])
            except Retry:
                continue
            key = normalise(draft.problem)
            if key in seen or split_of(draft.problem, test_fraction) != split:
                continue
            seen.add(key)
            problems.append(_record(family, level, draft))
            break
        else:
            raise ValueError(f"family {family!r} produced no new {split} problem in {_MAX_TRIES_PER_PROBLEM} "
                             f"draws after {i} problems; ask for fewer problems or larger numbers")
    logger.debug("generated %d %s problems (seed %d)", len(problems), split, seed)
    return problems


def _record(family: str, level: int, draft: Draft) -> Problem:
    digest = _digest(normalise(draft.problem), 6).hex()
    return Problem(id=f"synth/{family}/{digest}", problem=draft.problem, answer=draft.answer, source="synthetic",
                   solution=draft.solution, level=level, subject=family)


_INTEGER = re.compile(r"-?\d+")
_FRACTION = re.compile(r"-?\\frac\{\d+\}\{\d+\}")
_TUPLE = re.compile(r"\(\s*-?\d+\s*,\s*-?\d+\s*\)")


def answer_type(answer: str) -> str:
    """integer, negative, fraction, negative fraction, tuple, expression or other."""
    answer = answer.strip()
    if _INTEGER.fullmatch(answer):
        return "negative" if answer.startswith("-") else "integer"
    if _FRACTION.fullmatch(answer):
        return "negative fraction" if answer.startswith("-") else "fraction"
    if _TUPLE.fullmatch(answer):
        return "tuple"
    return "expression" if re.search(r"[a-z]", answer.replace("\\frac", "")) else "other"


@dataclass(frozen=True)
class ReferenceCheck:
    """How a reference solution fares under the exact checks."""

    steps: int
    claims_per_step: tuple[int, ...]
    steps_ok: tuple[bool, ...]  # each step has at least one claim and all of them hold
    answer_ok: bool  # the boxed answer verifies equal to the problem's answer

    @property
    def ok(self) -> bool:
        return self.answer_ok and all(self.steps_ok)


def check_reference(problem: Problem) -> ReferenceCheck:
    """Split the reference solution into steps, check every step's arithmetic and the boxed answer."""
    steps = split_steps(problem.solution or "")
    checks = [check_steps(step) for step in steps]
    return ReferenceCheck(
        steps=len(steps),
        claims_per_step=tuple(len(c.claims) for c in checks),
        steps_ok=tuple(c.ok is True for c in checks),
        answer_ok=bool(problem.solution) and verify(problem.answer, problem.solution).is_equal,
    )
