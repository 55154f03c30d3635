"""The regime task: modular-arithmetic chains whose every property that matters to PRM vs ORM is a knob.

A problem is a start value ``x0`` in Z_M (``modulus`` M) and ``depth`` K operations ``+a`` / ``-a``; the
true values are ``x_i = x_{i-1} op_i a_i (mod M)`` and the answer is ``x_K mod answer_space``. A solution
is a list of :class:`Line` s, each ``x op a = y``: an *op* line does the next operation on the value the
previous line wrote (the policy always copies the operation and the carried value right; its errors are in
the result ``y``); a *fix* line re-does the op line just before it correctly ("wait: ..."), which puts
the solution back on the value that line should have written.

The policy (:func:`continue_solution`) writes one line at a time from any prefix, with exact knobs:

- ``error_rate`` e: an op line writes a wrong result (uniform over the M-1 values other than the right one
  for its carried value) with probability e;
- ``self_correction_rate`` c: right after a wrong op line, the next line is a fix with probability c;
- ``spurious_rate`` s: when the last op line starts from a wrong carried value (an earlier error that was
  not fixed), it writes the *true* final value with probability s: a compensating error, so a solution
  with a wrong step reaches the right answer (Lightman et al.'s false positives of outcome labels);
- ``answer_space`` A (a divisor of M): only ``x_K mod A`` is the answer, so a wrong final value is a
  right answer by luck with probability about (M/A - 1)/(M - 1).

Exact labels (:func:`exact_labels`): a line is right (1) while every wrong op line so far was fixed, so the
first 0 is the first error (ProcessBench's convention) and a fix line is 1 when it puts the solution back on
track. A solution is *process-correct* when no line is wrong at all (a fixed error still counts as one).
Everything here is plain Python (no torch); randomness comes from the ``random.Random`` passed in.
"""

from __future__ import annotations

import random
import re
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

__all__ = [
    "OP", "FIX", "Knobs", "Line", "Problem", "answer_of", "answer_correct", "continue_solution", "draw_problem",
    "exact_labels", "is_wrong", "parse_step", "process_correct", "render", "solve",
]  # fmt: skip

OP, FIX = 0, 1
_SIGNS = ("+", "-")


class Line(NamedTuple):
    """``x op a = y``; ``kind`` is OP or FIX, ``op`` 0 for + and 1 for -."""

    kind: int
    x: int
    op: int
    a: int
    y: int


@dataclass(frozen=True)
class Problem:
    """Start value and operations; ``values`` are the true x_0 .. x_K."""

    x0: int
    ops: tuple[tuple[int, int], ...]
    values: tuple[int, ...]


@dataclass(frozen=True)
class Knobs:
    """The task's exact knobs (see the module docstring)."""

    depth: int = 4
    error_rate: float = 0.15
    spurious_rate: float = 0.0
    self_correction_rate: float = 0.0
    answer_space: int = 6
    modulus: int = 6

    def __post_init__(self) -> None:
        if self.depth < 1:
            raise ValueError(f"depth must be >= 1, got {self.depth}")
        for name in ("error_rate", "spurious_rate", "self_correction_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.modulus < 3 or self.answer_space < 2 or self.modulus % self.answer_space:
            raise ValueError(f"answer_space ({self.answer_space}) must be >= 2 and divide modulus ({self.modulus}), "
                             "which must be >= 3")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _apply(x: int, op: int, a: int, modulus: int) -> int:
    return (x + a) % modulus if op == 0 else (x - a) % modulus


def draw_problem(knobs: Knobs, rng: random.Random) -> Problem:
    """A uniform start value and K operations with operands 1 .. M-1."""
    x0 = rng.randrange(knobs.modulus)
    ops = tuple((rng.randrange(2), rng.randrange(1, knobs.modulus)) for _ in range(knobs.depth))
    values = [x0]
    for op, a in ops:
        values.append(_apply(values[-1], op, a, knobs.modulus))
    return Problem(x0, ops, tuple(values))


def is_wrong(line: Line, modulus: int) -> bool:
    """The line's own arithmetic is wrong (whatever its carried value)."""
    return line.y != _apply(line.x, line.op, line.a, modulus)


def _wrong_value(right: int, modulus: int, rng: random.Random) -> int:
    value = rng.randrange(modulus - 1)
    return value + 1 if value >= right else value


def _next_line(problem: Problem, knobs: Knobs, lines: list[Line], rng: random.Random) -> Line | None:
    """The line the policy writes after ``lines``; None once the solution is complete."""
    last = lines[-1] if lines else None
    if last is not None and last.kind == OP and is_wrong(last, knobs.modulus):
        if rng.random() < knobs.self_correction_rate:
            return Line(FIX, last.x, last.op, last.a, _apply(last.x, last.op, last.a, knobs.modulus))
    index = sum(1 for line in lines if line.kind == OP)
    if index == knobs.depth:
        return None
    x = last.y if last is not None else problem.x0
    op, a = problem.ops[index]
    right = _apply(x, op, a, knobs.modulus)
    off_track = x != problem.values[index]
    if index == knobs.depth - 1 and off_track and rng.random() < knobs.spurious_rate:
        return Line(OP, x, op, a, problem.values[-1])  # the compensating error
    y = _wrong_value(right, knobs.modulus, rng) if rng.random() < knobs.error_rate else right
    return Line(OP, x, op, a, y)


def continue_solution(problem: Problem, knobs: Knobs, prefix: list[Line] | tuple[Line, ...], rng: random.Random,
                      max_lines: int | None = None) -> list[Line]:
    """``prefix`` continued by the policy to the end (or by at most ``max_lines`` lines)."""
    lines = list(prefix)
    written = 0
    while max_lines is None or written < max_lines:
        line = _next_line(problem, knobs, lines, rng)
        if line is None:
            break
        lines.append(line)
        written += 1
    return lines


def solve(problem: Problem, knobs: Knobs, rng: random.Random) -> list[Line]:
    """One whole solution drawn from the policy."""
    return continue_solution(problem, knobs, [], rng)


def answer_of(lines: list[Line] | tuple[Line, ...], knobs: Knobs) -> int | None:
    """The solution's answer: its last value mod A (None for a solution with no line)."""
    return lines[-1].y % knobs.answer_space if lines else None


def answer_correct(problem: Problem, lines: list[Line] | tuple[Line, ...], knobs: Knobs) -> bool:
    """The solution is complete and its answer is the true one."""
    complete = sum(1 for line in lines if line.kind == OP) == knobs.depth
    return complete and answer_of(lines, knobs) == problem.values[-1] % knobs.answer_space


def exact_labels(lines: list[Line] | tuple[Line, ...], modulus: int) -> list[float]:
    """1.0 for a line while every wrong op line so far has been fixed, else 0.0 (see the module docstring)."""
    labels: list[float] = []
    ok, before_last_op = True, True
    for line in lines:
        if line.kind == OP:
            before_last_op = ok
            if is_wrong(line, modulus):
                ok = False
        else:  # a fix re-does the op line before it: the state is what it was before that line
            ok = before_last_op
        labels.append(1.0 if ok else 0.0)
    return labels


def process_correct(lines: list[Line] | tuple[Line, ...], modulus: int) -> bool:
    """No line of the solution is wrong (a fixed error counts as one)."""
    return not any(line.kind == OP and is_wrong(line, modulus) for line in lines)


_STEP = re.compile(r"^(wait: )?(\d+) ([+-]) (\d+) = (\d+)$")


def parse_step(text: str) -> Line:
    """The :class:`Line` a step text of :func:`render` stands for; ValueError for any other text."""
    match = _STEP.match(text.strip())
    if match is None:
        raise ValueError(f"not a regime-task step: {text!r}")
    fix, x, sign, a, y = match.groups()
    return Line(FIX if fix else OP, int(x), _SIGNS.index(sign), int(a), int(y))


def render(problem: Problem, lines: list[Line] | tuple[Line, ...], knobs: Knobs) -> tuple[str, list[str]]:
    """Problem text and step texts (the search's policy and verifiers speak text; :func:`parse_step` reads a
    step back)."""
    ops = " ".join(f"{_SIGNS[op]}{a}" for op, a in problem.ops)
    text = f"Start at {problem.x0} (mod {knobs.modulus}), apply {ops}; answer: the result mod {knobs.answer_space}."
    steps = [("wait: " if line.kind == FIX else "") + f"{line.x} {_SIGNS[line.op]} {line.a} = {line.y}"
             for line in lines]
    return text, steps
