"""The regime task's knobs come out at the requested rates, and its exact labels follow their definition.

Each rate is measured on a few thousand draws and must fall within 4 standard errors of the value the knob
asks for (an analytic expectation where the knob interacts with another), so a generator that ignores a knob
or applies it twice fails. Exact labels are checked on hand-written solutions (errors, fixes, compensating
errors).
"""

from __future__ import annotations

import math
import random

import pytest

from data.regime import (
    FIX,
    OP,
    Knobs,
    Line,
    answer_correct,
    answer_of,
    continue_solution,
    draw_problem,
    exact_labels,
    is_wrong,
    process_correct,
    solve,
)


def within(observed: float, expected: float, count: int, sigmas: float = 4.0) -> bool:
    spread = math.sqrt(max(expected * (1 - expected), 1e-4) / count)
    return abs(observed - expected) <= sigmas * spread


def draws(knobs: Knobs, count: int, seed: int = 0) -> list[tuple]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        problem = draw_problem(knobs, rng)
        out.append((problem, solve(problem, knobs, rng)))
    return out


@pytest.mark.parametrize("depth", [1, 3, 7])
def test_every_solution_does_depth_operations(depth: int) -> None:
    knobs = Knobs(depth=depth, self_correction_rate=0.5)
    for problem, lines in draws(knobs, 200):
        assert sum(line.kind == OP for line in lines) == depth
        assert lines[0].x == problem.x0
        for before, line in zip(lines, lines[1:], strict=False):  # each line starts from the value written last
            assert line.x == before.y or line.kind == FIX


@pytest.mark.parametrize("rate", [0.05, 0.3])
def test_error_rate(rate: float) -> None:
    knobs = Knobs(error_rate=rate)
    lines = [line for _, solution in draws(knobs, 3000) for line in solution]
    wrong = sum(is_wrong(line, knobs.modulus) for line in lines) / len(lines)
    assert within(wrong, rate, len(lines)), wrong


@pytest.mark.parametrize("spurious", [0.0, 0.25, 0.6])
def test_spurious_rate(spurious: float) -> None:
    """Of the solutions whose last operation starts off track, the share with a right answer is s, plus the
    last line's own error landing on the true value: s + (1 - s) * e / (M - 1)."""
    knobs = Knobs(depth=3, error_rate=0.3, spurious_rate=spurious)
    events = right = 0
    for problem, lines in draws(knobs, 5000):
        if lines[-1].x != problem.values[-2]:
            events += 1
            right += answer_correct(problem, lines, knobs)
    expected = spurious + (1 - spurious) * knobs.error_rate / (knobs.modulus - 1)
    assert events > 1000
    assert within(right / events, expected, events), (right / events, expected)


@pytest.mark.parametrize("rate", [0.0, 0.4, 1.0])
def test_self_correction_rate(rate: float) -> None:
    knobs = Knobs(error_rate=0.3, self_correction_rate=rate)
    wrong = fixed = 0
    for _, lines in draws(knobs, 3000):
        for line, after in zip(lines, lines[1:] + [None], strict=True):
            if line.kind == OP and is_wrong(line, knobs.modulus):
                wrong += 1
                fixed += after is not None and after.kind == FIX
    assert within(fixed / wrong, rate, wrong), fixed / wrong


@pytest.mark.parametrize("space", [6, 3, 2])
def test_answer_space_lucky_rate(space: int) -> None:
    """A wrong final value is uniform over the M-1 others, so it is a right answer mod A with probability
    (M/A - 1) / (M - 1)."""
    knobs = Knobs(error_rate=0.3, answer_space=space)
    events = lucky = 0
    for problem, lines in draws(knobs, 4000):
        if lines[-1].y != problem.values[-1]:
            events += 1
            lucky += answer_of(lines, knobs) == problem.values[-1] % space
    expected = (knobs.modulus / space - 1) / (knobs.modulus - 1)
    assert within(lucky / events, expected, events), (lucky / events, expected)


def test_process_correct_solutions_have_the_right_answer() -> None:
    knobs = Knobs(error_rate=0.3, spurious_rate=0.5, self_correction_rate=0.5)
    for problem, lines in draws(knobs, 2000):
        if process_correct(lines, knobs.modulus):
            assert answer_correct(problem, lines, knobs)
            assert exact_labels(lines, knobs.modulus) == [1.0] * len(lines)


M = 6
# (lines, exact labels): op lines are (x, op, a, y) with + as 0, - as 1; mod 6
LABEL_CASES = [
    ([(OP, 1, 0, 2, 3), (OP, 3, 0, 1, 4)], [1.0, 1.0]),
    ([(OP, 1, 0, 2, 5), (OP, 5, 0, 1, 0)], [0.0, 0.0]),  # an error, then right arithmetic off track
    ([(OP, 1, 0, 2, 5), (FIX, 1, 0, 2, 3), (OP, 3, 0, 1, 4)], [0.0, 1.0, 1.0]),  # fixed: back on track
    ([(OP, 1, 0, 2, 5), (OP, 5, 0, 1, 4)], [0.0, 0.0]),  # a compensating error: right value, still wrong
    ([(OP, 1, 0, 2, 5), (OP, 5, 0, 1, 1), (FIX, 5, 0, 1, 0)], [0.0, 0.0, 0.0]),  # a fix off track stays wrong
    ([(OP, 1, 1, 2, 5), (OP, 5, 1, 5, 0)], [1.0, 1.0]),  # subtraction wraps around
]


@pytest.mark.parametrize(("lines", "labels"), LABEL_CASES)
def test_exact_labels(lines: list[tuple], labels: list[float]) -> None:
    assert exact_labels([Line(*line) for line in lines], M) == labels


def test_continuation_keeps_the_prefix_and_completes() -> None:
    knobs = Knobs(depth=5, error_rate=0.3, self_correction_rate=0.3)
    rng = random.Random(1)
    problem = draw_problem(knobs, rng)
    prefix = continue_solution(problem, knobs, [], rng, max_lines=2)
    assert len(prefix) == 2
    full = continue_solution(problem, knobs, prefix, rng)
    assert full[:2] == prefix and sum(line.kind == OP for line in full) == 5


@pytest.mark.parametrize("kwargs", [{"answer_space": 4}, {"depth": 0}, {"error_rate": 1.5}, {"modulus": 2}])
def test_bad_knobs_are_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        Knobs(**kwargs)
