"""Shared pieces of the synthetic task: difficulty knobs, the draft a family returns, LaTeX helpers.

Every family is a plain function ``(rng, difficulty) -> Draft``. A draft's solution is a list of
steps; each step is one sentence whose ``$...$`` equations are pure arithmetic that
:func:`verifiers.check_steps` finds and checks, and the last step carries ``\\boxed{answer}``.
Scalar answers are boxed inside the last claim (``$36 - 14 = \\boxed{22}$``) so a wrong boxed value
is a failed claim; pairs and expressions are boxed after it (``so the answer is $\\boxed{(5, 2)}$``).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from fractions import Fraction

__all__ = [
    "Difficulty", "Draft", "LEVELS", "MIN_STEPS", "MAX_STEPS", "level_of", "res", "num", "frac_tex",
    "signed_sum", "linear_tex", "nonzero", "sign_pm", "NAMES", "clamp", "lcm", "Retry",
]

MIN_STEPS, MAX_STEPS = 2, 5


class Retry(Exception):
    """A family drew numbers it cannot use (a non-exact division, a huge value): draw again."""


@dataclass(frozen=True)
class Difficulty:
    """Knobs every family honours: the number of solution steps and the size of the numbers drawn.

    ``steps`` is the exact number of blank-line separated steps in the reference solution (2-5);
    ``max_value`` bounds the operands a family draws (results of products may be larger).
    """

    steps: int = 3
    max_value: int = 20

    def __post_init__(self) -> None:
        if not MIN_STEPS <= self.steps <= MAX_STEPS:
            raise ValueError(f"Difficulty.steps must be in {MIN_STEPS}..{MAX_STEPS}, got {self.steps}")
        if self.max_value < 5:
            raise ValueError(f"Difficulty.max_value must be at least 5, got {self.max_value}")

    @classmethod
    def for_level(cls, level: int) -> Difficulty:
        """The knobs of a MATH-style level 1 (easiest) to 5."""
        if level not in LEVELS:
            raise ValueError(f"level must be one of {sorted(LEVELS)}, got {level}")
        return LEVELS[level]


LEVELS: dict[int, Difficulty] = {
    1: Difficulty(steps=2, max_value=10),
    2: Difficulty(steps=2, max_value=20),
    3: Difficulty(steps=3, max_value=20),
    4: Difficulty(steps=4, max_value=50),
    5: Difficulty(steps=5, max_value=100),
}


def level_of(difficulty: Difficulty) -> int:
    """The easiest level whose knobs are at least as hard as ``difficulty`` (5 if none is)."""
    for level, knobs in sorted(LEVELS.items()):
        if difficulty.steps <= knobs.steps and difficulty.max_value <= knobs.max_value:
            return level
    return 5


@dataclass(frozen=True)
class Draft:
    """What a family produces: the problem statement, the reference steps and the answer (LaTeX)."""

    problem: str
    steps: tuple[str, ...]
    answer: str

    @property
    def solution(self) -> str:
        return "\n\n".join(self.steps)


NAMES: tuple[tuple[str, str, str], ...] = (
    ("Maya", "she", "her"), ("Liam", "he", "his"), ("Ava", "she", "her"), ("Noah", "he", "his"),
    ("Zoe", "she", "her"), ("Omar", "he", "his"), ("Lena", "she", "her"), ("Ravi", "he", "his"),
    ("Sofia", "she", "her"), ("Kenji", "he", "his"), ("Tara", "she", "her"), ("Diego", "he", "his"),
)


def res(value: int | Fraction | str, last: bool) -> str:
    """A claim's result: boxed when it is the final answer of the solution."""
    text = value if isinstance(value, str) else frac_tex(value)
    return f"\\boxed{{{text}}}" if last else text


def num(value: int) -> str:
    """An integer operand after an operator: negative ones in parentheses, ``3 \\times (-2)``."""
    return f"({value})" if value < 0 else str(value)


def frac_tex(value: int | Fraction) -> str:
    """``\\frac{a}{b}`` in lowest terms, ``-\\frac{a}{b}`` when negative, a plain integer if whole."""
    value = Fraction(value)
    if value.denominator == 1:
        return str(value.numerator)
    sign = "-" if value < 0 else ""
    return f"{sign}\\frac{{{abs(value.numerator)}}}{{{value.denominator}}}"


def signed_sum(values: list[int]) -> str:
    """``12 - 10 + 7`` for [12, -10, 7]: the way a sum of signed terms is written out."""
    parts = [str(values[0])]
    for value in values[1:]:
        parts.append(f"- {-value}" if value < 0 else f"+ {value}")
    return " ".join(parts)


def linear_tex(coef: int, const: int, var: str = "x") -> str:
    """``3x - 5``, ``-x + 2``, ``x``, ``7``: a linear expression in simplest written form."""
    if coef == 0:
        return str(const)
    head = var if coef == 1 else f"-{var}" if coef == -1 else f"{coef}{var}"
    if const == 0:
        return head
    return f"{head} - {-const}" if const < 0 else f"{head} + {const}"


def nonzero(rng: random.Random, low: int, high: int) -> int:
    """A uniform integer in [-high, -low] or [low, high] (low >= 1)."""
    return rng.choice((-1, 1)) * rng.randint(low, high)


def sign_pm(value: int) -> str:
    """`` + 5`` or `` - 5``: a signed term written after another term."""
    return f" - {-value}" if value < 0 else f" + {value}"


def clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def lcm(a: int, b: int) -> int:
    return a * b // math.gcd(a, b)
