"""Typed comparison of two parsed answers.

One rule per pair of structure types, chosen from a registry; every rule bottoms out in a scalar
oracle's ``equal(a, b)`` on LaTeX leaves. :class:`ExactOracle` answers from exact rational
arithmetic and raises :class:`NeedsSympy` when a leaf is not plain arithmetic; the sympy oracle in
``verifiers.symbolic`` (run inside a sandboxed worker process) subclasses it and goes further.
"""

from __future__ import annotations

import re
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
    is_name,
    is_value,
    name_tuple,
)
from verifiers.arith import NotArithmetic, evaluate
from verifiers.config import VerifyConfig
from verifiers.normalize import text_key

__all__ = ["NeedsSympy", "ExactOracle", "answers_equal", "describe"]

_INFINITIES = {"\\infty": 1, "+\\infty": 1, "-\\infty": -1}
# A scalar that holds a matrix environment is a matrix expression (2A, A + B, A^{-1}) unless it is a determinant.
_MATRIX_ENV = re.compile(r"\\begin\{(?:[pbB]?matrix|array)\}")
_DETERMINANT = re.compile(r"\||\\det\b|\\begin\{[vV]matrix\}")


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

    def matrix_value(self, latex: str) -> Matrix | None:
        """The matrix a matrix expression (``2A``, ``A + B``, ``AB``, ``A^{-1}``, ``A^T``) evaluates to, or None.

        Needs sympy: the exact oracle raises NeedsSympy, so the pair is redone in a sandbox worker by the sympy
        oracle, whose ``parse`` (``verifiers.symbolic``) reads the LaTeX with the grammar, never ``eval``."""
        parse = getattr(self, "parse", None)
        if parse is None:
            raise NeedsSympy(f"matrix expression {latex!r}")
        from verifiers.matrices import evaluated_matrix  # sympy: imported in the sandbox worker only

        return evaluated_matrix(parse(latex), self.config.max_items)

    def show(self, latex: str) -> str:
        value = self.value(latex)
        return str(value[0]) if value is not None else latex


Rule = Callable[[Node, Node, ExactOracle], bool]


def _scalar(g: Scalar, p: Scalar, o: ExactOracle) -> bool:
    if _is_matrix_expression(g) and _is_matrix_expression(p):
        return _matrix_vs(g, p, o)
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


def _labels(node: Node) -> dict[str, Node] | None:
    """The values an answer gives by name: ``(a, b) = (4, 1)`` and ``a = 4, b = 1`` both give {a: 4, b: 1}."""
    if isinstance(node, Equation):
        names, rhs = name_tuple(node.lhs), node.rhs
        if names and isinstance(rhs, Collection) and rhs.opening == "(" and len(rhs.items) == len(names):
            return dict(zip(names, rhs.items, strict=True))
        return None
    if not isinstance(node, Collection) or node.kind != "set" or node.opening or len(node.items) < 2:
        return None
    pairs = [(i.lhs.replace(" ", ""), i.rhs) for i in node.items if isinstance(i, Equation) and is_name(i.lhs)]
    return dict(pairs) if len(pairs) == len(node.items) == len(dict(pairs)) else None


def _labelled_vs(g: Node, p: Node, o: ExactOracle) -> bool | None:
    """Two answers that both name every value they give: the same names with equal values (else None)."""
    if not isinstance(g, Equation | Collection) or not isinstance(p, Equation | Collection):
        return None
    gold, pred = _labels(g), _labels(p)
    if gold is None or pred is None:
        return None
    return gold.keys() == pred.keys() and all(answers_equal(gold[k], pred[k], o) for k in gold)


def _names_its_value(equation: Equation) -> bool:
    """``x = 5``, ``AB = 5``, ``AE:EC = 3:5``, ``(a, b) = (4, 1)``: the left side names what the right side is."""
    return is_name(equation.lhs) or _labels(equation) is not None


def _equation_vs(g: Node, p: Node, o: ExactOracle) -> bool:
    if isinstance(g, Equation) and isinstance(p, Equation):
        if _names_its_value(g) and _names_its_value(p):
            return g.lhs.replace(" ", "") == p.lhs.replace(" ", "") and answers_equal(g.rhs, p.rhs, o)
        return o.equations_equivalent(g, p)
    equation, other = (g, p) if isinstance(g, Equation) else (p, g)
    assert isinstance(equation, Equation)
    # ``x = 5`` gives x (and ``AB = 5`` the length AB); a chain of values ``9/4 = 2.25`` states its value.
    # ``7 = 11a+c`` is an equation between a number and an expression: it is not the expression ``11a+c``.
    chain = is_value(equation.lhs) and isinstance(equation.rhs, Scalar) and is_value(equation.rhs.latex)
    if not (_names_its_value(equation) or chain):
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


def _is_matrix_expression(node: Node) -> bool:
    return isinstance(node, Scalar) and bool(_MATRIX_ENV.search(node.latex)) and not _DETERMINANT.search(node.latex)


def _evaluated(node: Node, o: ExactOracle) -> Node:
    """A matrix expression replaced by the matrix it evaluates to (left as it is when it is none)."""
    if isinstance(node, Scalar) and _is_matrix_expression(node):
        return o.matrix_value(node.latex) or node
    return node


def _matrix_vs(g: Node, p: Node, o: ExactOracle) -> bool:
    g, p = _evaluated(g, o), _evaluated(p, o)
    if isinstance(g, Matrix) and isinstance(p, Matrix):
        return len(g.rows) == len(p.rows) and all(_ordered(a, b, o) for a, b in zip(g.rows, p.rows, strict=True))
    matrix, other = (g, p) if isinstance(g, Matrix) else (p, g)
    if not isinstance(matrix, Matrix) or not isinstance(other, Collection) or other.kind != "bracketed":
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
    if (labelled := _labelled_vs(gold, pred, oracle)) is not None:
        return labelled
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
