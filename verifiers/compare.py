"""Typed comparison of two parsed answers.

One rule per pair of structure types, chosen from a registry; every rule bottoms out in a scalar
oracle's ``equal(a, b)`` on LaTeX leaves. :class:`ExactOracle` answers from exact rational
arithmetic and raises :class:`NeedsSympy` when a leaf is not plain arithmetic; the sympy oracle in
``verifiers.symbolic`` (run inside a sandboxed worker process) subclasses it and goes further.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

from verifiers.answers import (
    Based,
    Collection,
    Equation,
    Matrix,
    Node,
    Percent,
    Scalar,
    Text,
    Union,
    is_value,
    is_variable,
)
from verifiers.arith import NotArithmetic, evaluate
from verifiers.config import VerifyConfig
from verifiers.normalize import text_key

__all__ = ["NeedsSympy", "ExactOracle", "answers_equal", "describe"]

_INFINITIES = {"\\infty": 1, "+\\infty": 1, "-\\infty": -1}


class NeedsSympy(Exception):
    """The exact oracle cannot decide; the comparison must be redone with sympy."""


class ExactOracle:
    """Scalar comparison by exact rational arithmetic: fast, no sympy, no timeouts needed."""

    def __init__(self, config: VerifyConfig) -> None:
        self.config = config

    def value(self, latex: str) -> tuple[Fraction, bool] | None:
        try:
            result = evaluate(latex, mixed_numbers=True)
        except NotArithmetic:
            return None
        return result.value, result.has_decimal

    def close(self, a: Fraction, b: Fraction, approximate: bool) -> bool:
        if a == b:
            return True
        if not approximate:
            return False
        return abs(a - b) <= Fraction(self.config.rel_tol) * max(abs(a), abs(b))

    def equal(self, a: str, b: str) -> bool:
        a_key, b_key = a.replace(" ", ""), b.replace(" ", "")
        if a_key == b_key:
            return True
        if a_key in _INFINITIES or b_key in _INFINITIES:
            return _INFINITIES.get(a_key) == _INFINITIES.get(b_key)
        va, vb = self.value(a), self.value(b)
        if va is not None and vb is not None:
            return self.close(va[0], vb[0], va[1] or vb[1])
        return self.symbolic_equal(a, b)

    def symbolic_equal(self, a: str, b: str) -> bool:
        raise NeedsSympy(f"{a!r} vs {b!r}")

    def equations_equivalent(self, gold: Equation, pred: Equation) -> bool:
        raise NeedsSympy("general equations")

    def show(self, latex: str) -> str:
        value = self.value(latex)
        return str(value[0]) if value is not None else latex


Rule = Callable[[Node, Node, ExactOracle], bool]


def _scalar(g: Scalar, p: Scalar, o: ExactOracle) -> bool:
    return o.equal(g.latex, p.latex)


def _text(g: Node, p: Node, o: ExactOracle) -> bool:
    return text_key(_source(g)) == text_key(_source(p))


def _percent_vs(g: Node, p: Node, o: ExactOracle) -> bool:
    percent, other = (g, p) if isinstance(g, Percent) else (p, g)
    assert isinstance(percent, Percent)
    if isinstance(other, Percent):
        return o.equal(percent.latex, other.latex)
    if not isinstance(other, Scalar):
        return False
    mode = o.config.percent
    as_number = mode in ("both", "number") and o.equal(percent.latex, other.latex)
    return as_number or (mode in ("both", "fraction")
                         and o.equal(f"\\frac{{{percent.latex}}}{{100}}", other.latex))


def _based_vs(g: Node, p: Node, o: ExactOracle) -> bool:
    based, other = (g, p) if isinstance(g, Based) else (p, g)
    assert isinstance(based, Based)
    if isinstance(other, Based):
        return (based.digits, based.base) == (other.digits, other.base)
    # A bare numeral matches when it spells the same digits (the subscript was left off).
    return isinstance(other, Scalar) and other.latex.replace(" ", "").upper().lstrip("0") == based.digits


def _equation_vs(g: Node, p: Node, o: ExactOracle) -> bool:
    if isinstance(g, Equation) and isinstance(p, Equation):
        if is_variable(g.lhs) and is_variable(p.lhs):
            return g.lhs.replace(" ", "") == p.lhs.replace(" ", "") and answers_equal(g.rhs, p.rhs, o)
        return o.equations_equivalent(g, p)
    equation, other = (g, p) if isinstance(g, Equation) else (p, g)
    assert isinstance(equation, Equation)
    # ``x = 5`` gives x; a chain of values ``9/4 = 2.25`` states its value. ``7 = 11a+c`` is an equation
    # between a number and an expression: it is not the expression ``11a+c``.
    chain = is_value(equation.lhs) and isinstance(equation.rhs, Scalar) and is_value(equation.rhs.latex)
    if not (is_variable(equation.lhs) or chain):
        return False
    return answers_equal(equation.rhs, other, o) if equation is g else answers_equal(g, equation.rhs, o)


def _unordered(gold: tuple[Node, ...], pred: tuple[Node, ...], o: ExactOracle) -> bool:
    """Every gold item matches a pred item and every pred item matches a gold item."""
    return (all(any(answers_equal(g, p, o) for p in pred) for g in gold)
            and all(any(answers_equal(g, p, o) for g in gold) for p in pred))


def _ordered(gold: tuple[Node, ...], pred: tuple[Node, ...], o: ExactOracle) -> bool:
    return len(gold) == len(pred) and all(answers_equal(g, p, o) for g, p in zip(gold, pred, strict=True))


def _collection_vs(g: Node, p: Node, o: ExactOracle) -> bool:
    gc = g if isinstance(g, Collection) else Collection("set", (g,))
    pc = p if isinstance(p, Collection) else Collection("set", (p,))
    if gc.kind == "set" and pc.kind == "set":
        bare_lists = not gc.opening and not pc.opening and len(gc.items) > 1 and len(pc.items) > 1
        if bare_lists and o.config.comma_list == "tuple":
            return _ordered(gc.items, pc.items, o)
        return _unordered(gc.items, pc.items, o)
    if gc.kind == "bracketed" and pc.kind == "bracketed":
        same_brackets = (gc.opening, gc.closing) == (pc.opening, pc.closing)
        return same_brackets and _ordered(gc.items, pc.items, o)
    # A parenthesised tuple against a bare list of the same items, in order (never against a written set).
    tuple_side, list_side = (gc, pc) if gc.kind == "bracketed" else (pc, gc)
    if (tuple_side.opening, tuple_side.closing) != ("(", ")") or len(list_side.items) < 2 or list_side.opening:
        return False
    return _ordered(gc.items, pc.items, o)


def _union_parts(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Union):
        parts: list[Node] = []
        for part in node.parts:
            if isinstance(part, Collection) and part.kind == "set":
                parts.extend(part.items)
            else:
                parts.append(part)
        return tuple(parts)
    if isinstance(node, Collection) and node.kind == "set":
        return node.items
    return (node,)


def _union_vs(g: Node, p: Node, o: ExactOracle) -> bool:
    return _unordered(_union_parts(g), _union_parts(p), o)


def _matrix_vs(g: Node, p: Node, o: ExactOracle) -> bool:
    if isinstance(g, Matrix) and isinstance(p, Matrix):
        return len(g.rows) == len(p.rows) and all(_ordered(a, b, o) for a, b in zip(g.rows, p.rows, strict=True))
    matrix, other = (g, p) if isinstance(g, Matrix) else (p, g)
    assert isinstance(matrix, Matrix)
    if not isinstance(other, Collection) or other.kind != "bracketed":
        return False
    # A row or column vector against a tuple of its entries.
    flat = tuple(cell for row in matrix.rows for cell in row)
    if len(matrix.rows) != 1 and any(len(row) != 1 for row in matrix.rows):
        return False
    return _ordered(flat, other.items, o) if matrix is g else _ordered(other.items, flat, o)


_RULES: dict[type, Rule] = {
    Text: _text,
    Percent: _percent_vs,
    Based: _based_vs,
    Equation: _equation_vs,
    Matrix: _matrix_vs,
    Union: _union_vs,
    Collection: _collection_vs,
}
# The first type in this order that either side has picks the rule (Text beats everything).
_PRECEDENCE = (Text, Percent, Based, Equation, Matrix, Union, Collection)


def answers_equal(gold: Node, pred: Node, oracle: ExactOracle) -> bool:
    """Whether two parsed answers are equal; raises NeedsSympy when the exact oracle can't tell."""
    if isinstance(gold, Scalar) and isinstance(pred, Scalar):
        return _scalar(gold, pred, oracle)
    for kind in _PRECEDENCE:
        if isinstance(gold, kind) or isinstance(pred, kind):
            return _RULES[kind](gold, pred, oracle)
    return False


def _source(node: Node) -> str:
    if isinstance(node, Text):
        return node.text
    if isinstance(node, Scalar | Percent):
        return node.latex
    return describe(node)


def describe(node: Node, oracle: ExactOracle | None = None) -> str:
    """A short human-readable form of what an answer parsed to."""
    show = oracle.show if oracle is not None else (lambda s: s)
    if isinstance(node, Scalar):
        return show(node.latex)
    if isinstance(node, Text):
        return f"text {node.text!r}"
    if isinstance(node, Percent):
        return f"{show(node.latex)}%"
    if isinstance(node, Based):
        return f"{node.digits} in base {node.base}"
    if isinstance(node, Equation):
        return f"{node.lhs} = {describe(node.rhs, oracle)}"
    if isinstance(node, Union):
        return " ∪ ".join(describe(p, oracle) for p in node.parts)
    if isinstance(node, Matrix):
        return "matrix[" + "; ".join(", ".join(describe(c, oracle) for c in r) for r in node.rows) + "]"
    inner = ", ".join(describe(i, oracle) for i in node.items)
    if node.kind == "set":
        return "{" + inner + "}"
    return f"{node.opening}{inner}{node.closing}"
