"""Algebra families: linear equations, 2x2 systems, evaluating polynomials, simplifying expressions.

Lines that carry a variable (``$4x + 5 = 25$``) are never claims, so every step also states the
arithmetic behind it as a pure-number equation, preferably in the same chain as the variable line
(``$3x = 20 - 5 = 15$``, ``$x = 15 \\div 3 = \\boxed{5}$``): a slip in the arithmetic is a false claim.
"""

from __future__ import annotations

import random

from data.synth.common import Difficulty, Draft, Retry, clamp, linear_tex, nonzero, num, res, sign_pm, signed_sum

__all__ = ["linear_equation", "linear_system", "evaluate", "simplify"]


def _affine(a: int, b: int) -> str:
    """``3(x + 4)``, ``-2(x - 5)``."""
    return f"{a}({linear_tex(1, b)})"


def _collect(a: int, c: int, lhs_const: int, rhs_const: int) -> str:
    """Move ``cx`` from the right side to the left side."""
    k = a - c
    verb, shown, claim = (("Subtract", linear_tex(c, 0), f"{a} - {c}") if c > 0
                          else ("Add", linear_tex(-c, 0), f"{a} + {-c}"))
    side = "from" if c > 0 else "to"
    return (f"{verb} ${shown}$ {side} both sides: ${linear_tex(k, lhs_const)} = {rhs_const}$, "
            f"since ${claim} = {k}$.")


def _move_constant(k: int, const: int, rhs: int) -> tuple[str, int]:
    """``kx + const = rhs`` becomes ``kx = rhs - const``."""
    lhs = linear_tex(k, 0)
    if const > 0:
        return f"Subtract {const} from both sides: ${lhs} = {rhs} - {const} = {rhs - const}$.", rhs - const
    return f"Add {-const} to both sides: ${lhs} = {rhs} + {-const} = {rhs - const}$.", rhs - const


def linear_equation(rng: random.Random, d: Difficulty) -> Draft:
    """Solve ``ax + b = c`` (2 steps) up to ``a(x + b) + e = cx + d`` (5 steps) for an integer x."""
    m = d.max_value
    x = nonzero(rng, 1, m)
    a = nonzero(rng, 2, clamp(m // 2, 3, 12))
    c = 0 if d.steps == 2 else nonzero(rng, 1, clamp(m // 2, 3, 12))
    k = a - c
    if abs(k) < 2:
        raise Retry
    steps = []
    if d.steps >= 4:
        b = nonzero(rng, 1, m)
        e = nonzero(rng, 1, m) if d.steps == 5 else 0
        const = a * b + e
        rhs = k * x + const
        expanded = linear_tex(a, a * b) + (sign_pm(e) if e else "")
        left = _affine(a, b) + (sign_pm(e) if e else "")
        steps.append(f"Expanding the left side gives ${expanded} = {linear_tex(c, rhs)}$, "
                     f"since ${a} \\times {num(b)} = {a * b}$.")
        if e:
            steps.append(f"Combining the constants gives ${linear_tex(a, const)} = {linear_tex(c, rhs)}$, "
                         f"since ${a * b}{sign_pm(e)} = {const}$.")
    else:
        const = nonzero(rng, 1, m)
        rhs = k * x + const
        left = linear_tex(a, const)
    if const == 0:
        raise Retry
    if c:
        steps.append(_collect(a, c, const, rhs))
    step, rest = _move_constant(k, const, rhs)
    steps += [step, f"Divide both sides by {k}: $x = {rest} \\div {num(k)} = {res(x, True)}$."]
    problem = f"Solve for $x$: ${left} = {linear_tex(c, rhs)}$."
    return Draft(problem, tuple(steps), str(x))


def _pair_tex(a: int, b: int) -> str:
    return f"{linear_tex(a, 0)} + {linear_tex(b, 0, 'y')}"


def linear_system(rng: random.Random, d: Difficulty) -> Draft:
    """A 2x2 system with an integer solution, by adding or subtracting the equations."""
    m = d.max_value
    x, y = rng.randint(-m, m), rng.randint(-m, m)
    answer = f"({x}, {y})"
    boxed = f"so the answer is $\\boxed{{{answer}}}$."
    and_boxed = f"and the answer is $\\boxed{{{answer}}}$."
    tail = "Give your answer as an ordered pair $(x, y)$."
    if d.steps <= 3:  # a1 x + y = s, a2 x - y = t: adding eliminates y
        a1, a2 = rng.randint(1, clamp(m // 5, 2, 4)), rng.randint(1, clamp(m // 5, 2, 4))
        k, s, t = a1 + a2, a1 * x + y, a2 * x - y
        problem = f"Solve the system ${linear_tex(a1, 0)} + y = {s}$ and ${linear_tex(a2, 0)} - y = {t}$. {tail}"
        add = f"Adding the equations gives ${k}x = {signed_sum([s, t])} = {k * x}$"
        share = f"$x = {k * x} \\div {k} = {x}$"
        steps = [f"{add}, so {share}."] if d.steps == 2 else [f"{add}, since ${a1} + {a2} = {k}$.", f"So {share}."]
        back = signed_sum([s, -x]) if a1 == 1 else f"{s} - {a1} \\times {num(x)}"
        steps.append(f"Substituting into the first equation, $y = {back} = {y}$, {boxed}")
        return Draft(problem, tuple(steps), answer)
    a2 = rng.randint(1, clamp(m // 4, 2, 6))
    a1 = a2 + rng.randint(2, clamp(m // 4, 2, 6))
    b = rng.randint(2, clamp(m // 4, 2, 6))
    c1, c2 = a1 * x + b * y, a2 * x + b * y
    k, r = a1 - a2, c1 - a1 * x
    problem = f"Solve the system ${_pair_tex(a1, b)} = {c1}$ and ${_pair_tex(a2, b)} = {c2}$. {tail}"
    steps = [f"Subtracting the second equation from the first gives ${k}x = {c1} - {num(c2)} = {c1 - c2}$, "
             f"since ${a1} - {a2} = {k}$.",
             f"So $x = {c1 - c2} \\div {k} = {x}$.",
             f"Substituting into the first equation, ${b}y = {c1} - {a1} \\times {num(x)} = {r}$."]
    if d.steps == 4:
        steps.append(f"So $y = {r} \\div {b} = {y}$, {and_boxed}")
    else:
        steps += [f"So $y = {r} \\div {b} = {y}$.",
                  f"Check with the second equation: ${a2} \\times {num(x)} + {b} \\times {num(y)} = {c2}$, {boxed}"]
    return Draft(problem, tuple(steps), answer)


_DEGREE_NAMES = {3: "cubic", 2: "quadratic", 1: "linear"}


def _poly_tex(coefs: list[int]) -> str:
    """``3x^2 - 5x + 7`` from [3, -5, 7] (highest power first; no zero coefficients)."""
    degree = len(coefs) - 1
    parts = []
    for i, coef in enumerate(coefs):
        power = degree - i
        body = str(abs(coef)) + ("x" if power else "") + (f"^{power}" if power > 1 else "")
        sign = ("-" if coef < 0 else "") if i == 0 else (" - " if coef < 0 else " + ")
        parts.append(sign + body)
    return "".join(parts)


def _term_steps(coefs: list[int], t: int, of: str = "") -> tuple[list[str], list[int]]:
    """One step per non-constant term: ``The quadratic term is $3 \\times (-2)^2 = 12$.``"""
    degree = len(coefs) - 1
    steps, values = [], []
    for i, coef in enumerate(coefs[:-1]):
        power = degree - i
        value = coef * t ** power
        shown = num(t) + (f"^{power}" if power > 1 else "")
        steps.append(f"The {_DEGREE_NAMES[power]} term{of} is ${coef} \\times {shown} = {value}$.")
        values.append(value)
    return steps, values + [coefs[-1]]


def evaluate(rng: random.Random, d: Difficulty) -> Draft:
    """Evaluate a linear, quadratic or cubic polynomial at an integer, or ``f(g(t))`` at 5 steps."""
    m = d.max_value
    top = clamp(m // 2, 3, 12)
    degree = {2: 1, 3: 2, 4: 3, 5: 2}[d.steps]
    coefs = [nonzero(rng, 2, top) for _ in range(degree)] + [nonzero(rng, 1, m)]
    tmax = {1: clamp(m // 2, 3, 12), 2: clamp(m // 4, 2, 6), 3: clamp(m // 10, 2, 4)}[degree]
    t = rng.choice([v for v in range(-tmax, tmax + 1) if abs(v) > 1])
    f = _poly_tex(coefs)
    steps: list[str] = []
    if d.steps == 5:
        inner = [nonzero(rng, 2, 4), nonzero(rng, 1, clamp(m // 2, 3, 12))]
        u = inner[0] * t + inner[1]
        if u in (0, 1) or abs(u) > 6:
            raise Retry
        problem = f"Let $f(x) = {f}$ and $g(x) = {_poly_tex(inner)}$. What is $f(g({t}))$?"
        g_steps, g_values = _term_steps(inner, t, " of $g$")
        steps += g_steps + [f"So $g({t}) = {signed_sum(g_values)} = {u}$."]
        f_steps, values = _term_steps(coefs, u, " of $f$")
        steps += f_steps
        where = f"f({u})"
    else:
        problem = f"Let $f(x) = {f}$. What is $f({t})$?"
        f_steps, values = _term_steps(coefs, t)
        steps += f_steps
        where, u = f"f({t})", t
    total = sum(values)
    steps.append(f"So ${where} = {signed_sum(values)} = {res(total, True)}$.")
    return Draft(problem, tuple(steps), str(total))


def simplify(rng: random.Random, d: Difficulty) -> Draft:
    """Expand and collect ``a(x + b) + ...`` into ``px + q`` (an expression-valued answer)."""
    m = d.max_value
    groups = [(nonzero(rng, 2, clamp(m // 3, 3, 9)), nonzero(rng, 1, m)) for _ in range(d.steps - 1)]
    coefs, consts = [a for a, _ in groups], [a * b for a, b in groups]
    expr = " ".join((_affine(a, b) if i == 0 else ("- " if a < 0 else "+ ") + _affine(abs(a), b))
                    for i, (a, b) in enumerate(groups))
    if len(groups) == 1:
        c, e = nonzero(rng, 1, clamp(m // 3, 3, 9)), nonzero(rng, 1, m)
        coefs.append(c)
        consts.append(e)
        expr += f" {'-' if c < 0 else '+'} {linear_tex(abs(c), 0)}{sign_pm(e)}"
    p, q = sum(coefs), sum(consts)
    if p == 0:
        raise Retry
    answer = linear_tex(p, q)
    steps = [f"Expanding ${_affine(a, b)}$ gives the constant ${a} \\times {num(b)} = {a * b}$." for a, b in groups]
    steps.append(f"The $x$ terms add up to ${signed_sum(coefs)} = {p}$ and the constants to "
                 f"${signed_sum(consts)} = {q}$, so the expression simplifies to $\\boxed{{{answer}}}$.")
    return Draft(f"Simplify ${expr}$.", tuple(steps), answer)
