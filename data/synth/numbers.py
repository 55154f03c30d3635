"""Number families: fraction arithmetic, remainders, and gcd/lcm by the Euclidean algorithm.

Fraction steps write the common-denominator or product form as a chain of equalities
(``\\frac{1}{2} + \\frac{1}{3} = \\frac{3}{6} + \\frac{2}{6} = \\frac{5}{6}``), so every link is a claim.
Division with remainder is stated as a subtraction with a bound (``$84 - 1 \\times 60 = 24 < 60$``):
a quotient that is too small or too large makes one of the claims false.
"""

from __future__ import annotations

import random
from fractions import Fraction

from data.synth.common import Difficulty, Draft, Retry, clamp, frac_tex, lcm, res

__all__ = ["fractions", "remainder", "gcd_lcm"]

_OPS = {"+": "+", "-": "-", "*": "\\times", "/": "\\div"}
_MAX_DEN, _MAX_NUM = 60, 150


def _operand(rng: random.Random, d: Difficulty) -> Fraction:
    top = clamp(d.max_value // 2, 3, 12)
    for _ in range(20):
        den = rng.randint(2, top)
        value = Fraction(rng.randint(1, 2 * den - 1), den)
        if value.denominator > 1:
            return value
    raise Retry


def _fraction_step(acc: Fraction, op: str, operand: Fraction, last: bool) -> tuple[str, Fraction]:
    """The chain for ``acc op operand``: common denominators or a product, then lowest terms."""
    links = [f"{frac_tex(acc)} {_OPS[op]} {frac_tex(operand)}"]
    if op in "+-":
        common = lcm(acc.denominator, operand.denominator)
        a = acc.numerator * (common // acc.denominator)
        b = operand.numerator * (common // operand.denominator)
        if acc.denominator != operand.denominator:
            links.append(f"{_over(a, common)} {op} {_over(b, common)}")
        raw = (a + b if op == "+" else a - b, common)
    else:
        if op == "/":
            operand = 1 / operand
            links.append(f"{frac_tex(acc)} \\times {frac_tex(operand)}")
        raw = (acc.numerator * operand.numerator, acc.denominator * operand.denominator)
    result = Fraction(*raw)
    if raw != (result.numerator, result.denominator):  # not in lowest terms yet: show it, then reduce
        links.append(_over(*raw))
    links.append(res(result, last))
    return " = ".join(links), result


def _over(numerator: int, denominator: int) -> str:
    """``\\frac{n}{d}`` as written, not reduced (``-\\frac{n}{d}`` when negative)."""
    if denominator == 1:
        return str(numerator)
    sign = "-" if numerator < 0 else ""
    return f"{sign}\\frac{{{abs(numerator)}}}{{{denominator}}}"


def fractions(rng: random.Random, d: Difficulty) -> Draft:
    """Evaluate a chain of ``steps`` fraction operations, left to right, in lowest terms."""
    acc = _operand(rng, d)
    expr, additive = frac_tex(acc), False
    steps = []
    for i in range(d.steps):
        op = rng.choice("+-*/")
        operand = _operand(rng, d)
        if op in "*/" and additive:
            expr = f"({expr})"  # the written expression evaluates in the order of the steps
        additive = op in "+-"
        expr = f"{expr} {_OPS[op]} {frac_tex(operand)}"
        last = i == d.steps - 1
        chain, acc = _fraction_step(acc, op, operand, last)
        if acc == 0 or acc.denominator > _MAX_DEN or abs(acc.numerator) > _MAX_NUM:
            raise Retry
        word = "Finally" if last else "First" if i == 0 else "Then"
        steps.append(f"{word}, ${chain}$.")
    problem = f"Compute ${expr}$. Express your answer in simplest form."
    return Draft(problem, tuple(steps), frac_tex(acc))


def _multiple_steps(n: int, m: int) -> tuple[str, str, int]:
    q = n // m
    return (f"The quotient is {q}, since ${m} \\times {q} = {m * q} \\le {n} < {m} \\times {q + 1}$.",
            f"So the remainder is ${n} - {m * q} = {res(n - m * q, True)}$.", n % m)


def remainder(rng: random.Random, d: Difficulty) -> Draft:
    """The remainder of a number, a sum, a product plus a number, or a sum of two products."""
    m = rng.randint(3, clamp(d.max_value // 2 + 2, 5, 12))
    terms = [rng.randint(m + 1, max(10 * d.max_value, 50)) for _ in range(2)]
    steps: list[str] = []
    if d.steps == 2:
        n, shown = terms[0], str(terms[0])
    elif d.steps == 3:
        n, shown = sum(terms), f"{terms[0]} + {terms[1]}"
        steps.append(f"First, ${shown} = {n}$.")
    else:
        a, b = rng.randint(2, clamp(d.max_value // 2, 3, 15)), rng.randint(2, clamp(d.max_value // 2, 3, 15))
        if d.steps == 4:
            c = terms[0]
            n, shown = a * b + c, f"{a} \\times {b} + {c}"
            steps += [f"First, ${a} \\times {b} = {a * b}$.", f"Then ${a * b} + {c} = {n}$."]
        else:
            e, f = rng.randint(2, clamp(d.max_value // 2, 3, 15)), rng.randint(2, clamp(d.max_value // 2, 3, 15))
            n, shown = a * b + e * f, f"{a} \\times {b} + {e} \\times {f}"
            steps += [f"First, ${a} \\times {b} = {a * b}$.", f"Next, ${e} \\times {f} = {e * f}$.",
                      f"Then ${a * b} + {e * f} = {n}$."]
    subject = shown if d.steps == 2 else f"${shown}$"
    problem = f"What is the remainder when {subject} is divided by {m}?"
    first, second, r = _multiple_steps(n, m)
    return Draft(problem, (*steps, first, second), str(r))


def _divisions(a: int, b: int) -> int:
    count = 0
    while b:
        a, b = b, a % b
        count += 1
    return count


def _euclid_pair(rng: random.Random, divisions: int, d: Difficulty) -> tuple[int, int]:
    """Numbers a > b > 1 (at most ``6 * max_value``) whose Euclidean algorithm takes ``divisions`` steps."""
    cap = max(6 * d.max_value, 60)
    for _ in range(200):
        b = rng.randint(2, cap - 1)
        a = rng.randint(b + 1, cap)
        if _divisions(a, b) == divisions:
            return a, b
    raise Retry


def gcd_lcm(rng: random.Random, d: Difficulty) -> Draft:
    """Greatest common divisor by repeated division, or least common multiple as a * b / gcd."""
    want_lcm = rng.random() < 0.4
    a, b = _euclid_pair(rng, d.steps - 1 if want_lcm else d.steps, d)
    x, y, steps = a, b, []
    while y:
        q, r = divmod(x, y)
        final = r == 0 and not want_lcm
        tail = f", so the greatest common divisor is ${res(y, True)}$" if final else ""
        steps.append(f"Divide {x} by {y}: ${x} - {q} \\times {y} = {r} < {y}${tail}.")
        x, y = y, r
    g = x
    if want_lcm:
        steps.append(f"The least common multiple is ${a} \\times {b} \\div {g} = {res(a * b // g, True)}$.")
        return Draft(f"What is the least common multiple of {a} and {b}?", tuple(steps), str(a * b // g))
    return Draft(f"What is the greatest common divisor of {a} and {b}?", tuple(steps), str(g))
