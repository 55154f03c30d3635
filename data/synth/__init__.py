"""The synthetic MATH-style task: seeded problems whose every reference step is checkable arithmetic.

Families (``FAMILIES``, name -> ``(rng, Difficulty) -> Draft``): multi-step word arithmetic,
fraction arithmetic, linear equations, 2x2 systems, evaluating polynomials, simplifying linear
expressions, percent changes, ratios, remainders, gcd/lcm. Each reference solution has
``Difficulty.steps`` blank-line separated steps; every step states at least one pure-number
equation that :func:`verifiers.check_steps` finds and checks, and the last step carries
``\\boxed{answer}``. Imports without torch::

    from data.synth import generate_problems
    train = generate_problems(20_000, seed=0, split="train")
"""

from data.synth.common import LEVELS, Difficulty, Draft, level_of
from data.synth.generate import (
    DEFAULT_LEVELS,
    FAMILIES,
    TEST_FRACTION,
    ReferenceCheck,
    answer_type,
    check_reference,
    generate_problems,
    split_of,
)

__all__ = [
    "DEFAULT_LEVELS",
    "FAMILIES",
    "LEVELS",
    "TEST_FRACTION",
    "Difficulty",
    "Draft",
    "ReferenceCheck",
    "answer_type",
    "check_reference",
    "generate_problems",
    "level_of",
    "split_of",
]
