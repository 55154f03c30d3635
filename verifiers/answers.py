"""Parse a normalised answer string into a typed structure, without sympy.

The structure decides *how* two answers are compared: sets and lists ignore order, tuples and
intervals do not, an assignment ``x=5`` (or ``AB = 5``, ``(a, b) = (4, 1)``: see :func:`is_name`) compares
by its right-hand side, an inequality becomes the interval it describes (``|x - 1| \\le 2`` too),
``a \\pm b`` becomes the set of both roots, ``10\\%`` keeps its percent
sign, ``25_6`` keeps its base. The leaves are :class:`Scalar` LaTeX strings that a scalar oracle
(exact arithmetic first, sympy in a sandbox second) compares. Pure string work, bounded by the
caller's length cap.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

from verifiers.arith import NotArithmetic, evaluate
from verifiers.normalize import text_key

__all__ = [
    "Node", "Scalar", "Text", "Percent", "Based", "Equation", "Collection", "Union", "Matrix",
    "UnparsableAnswer", "parse_answer", "is_variable", "is_name", "name_tuple",
]


class UnparsableAnswer(ValueError):
    """The answer has no structure we can compare (empty, unbalanced, too many items)."""


@dataclass(frozen=True)
class Scalar:
    latex: str


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Percent:
    latex: str


@dataclass(frozen=True)
class Based:
    digits: str
    base: int


@dataclass(frozen=True)
class Equation:
    lhs: str
    rhs: Node


@dataclass(frozen=True)
class Collection:
    """``kind``: 'set' (``\\{..\\}`` and bare lists: unordered) or 'bracketed' (tuples, intervals)."""

    kind: str
    items: tuple[Node, ...]
    opening: str = ""
    closing: str = ""


@dataclass(frozen=True)
class Union:
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Matrix:
    rows: tuple[tuple[Node, ...], ...]


Node = Scalar | Text | Percent | Based | Equation | Collection | Union | Matrix

_OPENERS = {"(": ")", "[": "]", "{": "}"}
_EMPTY_WORDS = {"none", "nosolution", "nosolutions", "norealsolutions", "norealsolution", "emptyset"}
# x, y_1, \theta, f(x), and the functions f^{-1}(x), f'(x), g''(t)
_VARIABLE = re.compile(r"^(?:[a-zA-Z]|\\[a-zA-Z]+)(?:_\{?[a-zA-Z0-9]+\}?)?(?:(?:\^\{-1\}|\^-1|')*\([a-zA-Z]\))?$")
_BASED = re.compile(r"^([0-9A-Fa-f]+)_\{?\(?(\d{1,2})\)?\}?$")
_TEXT_ONLY = re.compile(r"^\\text\{([^{}]*)\}$")
_WORDY = re.compile(r"^[A-Za-z][A-Za-z'\- ]*$")
_MATRIX = re.compile(r"^\\begin\{([pbBv]?matrix|array)\}(?:\{[lcr|:\s]*\})?(.*)\\end\{\1\}$", re.DOTALL)
# Names of quantities besides variables: a segment or figure (AB, \overline{AB}, [ABC]), an angle (\angle A,
# m\angle ABC), a quantity in words (\text{area}).
_QUANTITY = re.compile(
    r"^(?:\\overline\{[A-Z]{2,4}\}|[A-Z]{2,4}|\[[A-Z]{3,4}\]|(?:m\s*)?\\angle\s*[A-Z]{1,3}|\\text\{[A-Za-z ]{1,24}\})$"
)
_FRACTION_OF_NAMES = re.compile(r"^\\frac\{([^{}]+)\}\{([^{}]+)\}$")
_RATIO_SIGN = re.compile(r"\s*[:/]\s*")
_ABSOLUTE = re.compile(r"^\|([^|]+)\|$")
_PLAIN_NUMBER = r"(?:\d+(?:\.\d+)?|\\frac\{\d+\}\{\d+\})"
# k x + c, c + k x (k a positive number): the inside of an absolute value that an inequality can be solved for
_LINEAR = (re.compile(rf"^(?P<k>{_PLAIN_NUMBER})?(?P<v>[a-zA-Z])(?:(?P<s>[+-])(?P<c>{_PLAIN_NUMBER}))?$"),
           re.compile(rf"^(?P<c>{_PLAIN_NUMBER})(?P<s>[+-])(?P<k>{_PLAIN_NUMBER})?(?P<v>[a-zA-Z])$"))
_THOUSANDS = re.compile(r"^[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_RELATIONS = (("\\le ", "<="), ("\\ge ", ">="), ("\\neq ", "!="), ("\\approx", "="), ("\\in ", "in"),
              ("\\leq", "<="), ("\\geq", ">="), ("\\in", "in"), ("<", "<"), (">", ">"), ("=", "="))
_COMMANDS = re.compile(r"\\[a-zA-Z]+")
_CONNECTIVES = re.compile(r"\\text\{\s*(?:or|and)\s*\}|\s(?:or|and)\s|\\lor|\\vee|\\wedge")


def is_value(text: str) -> bool:
    """No variable in it: ``\\frac{9}{4}``, ``2\\pi + 1`` (a chain ``9/4 = 2.25`` states a value)."""
    return not re.search(r"[a-zA-Z]", _COMMANDS.sub("", text))


def is_variable(text: str) -> bool:
    """``x``, ``y_1``, ``\\theta``, ``f(x)``: a left-hand side that names what is being given."""
    return bool(_VARIABLE.match(text.strip()))


def _single_name(text: str) -> bool:
    return is_variable(text) or bool(_QUANTITY.match(text.strip()))


def is_name(text: str) -> bool:
    """A left-hand side that names a quantity: a variable (:func:`is_variable`), a segment, figure, angle or
    worded quantity (``AB``, ``\\overline{AB}``, ``[ABC]``, ``m\\angle ABC``, ``\\text{area}``), or a ratio of two
    names (``AE:EC``, ``AE/EC``, ``\\frac{AE}{EC}``). ``x^2``, ``x+y`` and ``ab`` are expressions, not names."""
    text = text.strip()
    if _single_name(text):
        return True
    fraction = _FRACTION_OF_NAMES.match(text)
    parts = list(fraction.groups()) if fraction else _RATIO_SIGN.split(text)
    return len(parts) == 2 and all(_single_name(part) for part in parts)


def name_tuple(text: str) -> list[str] | None:
    """``(a, b)`` -> ``["a", "b"]``: the distinct names of a tuple left-hand side, else None."""
    text = text.strip()
    if text[:1] != "(" or text[-1:] != ")" or _matching_close(text) != len(text) - 1:
        return None
    names = [name.replace(" ", "") for name in split_top_level(text[1:-1], ",")]
    if len(names) < 2 or len(set(names)) != len(names) or not all(_single_name(n) for n in names):
        return None
    return names


def _scan(text: str) -> Iterator[tuple[int, int]]:
    """Yield (index, depth) for each character, with ``()``, ``[]``, ``{}`` and ``\\{\\}`` nesting.

    Round and square brackets count as one kind so that half-open intervals ``[1, 2)`` balance.
    """
    depth = 0
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and text.startswith(("\\{", "\\}"), i):
            depth += 1 if text[i + 1] == "{" else -1
            yield i, depth
            i += 2
            continue
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth < 0:
                raise UnparsableAnswer("unbalanced brackets")
        yield i, depth
        i += 1
    if depth != 0:
        raise UnparsableAnswer("unbalanced brackets")


def split_top_level(text: str, separator: str) -> list[str]:
    """Split on ``separator`` where it is outside every bracket."""
    parts, start = [], 0
    for i, depth in _scan(text):
        if depth == 0 and text.startswith(separator, i) and text[i] not in "([{)]}":
            parts.append(text[start:i])
            start = i + len(separator)
    parts.append(text[start:])
    return [p.strip() for p in parts]


def _top_level_relations(text: str) -> list[tuple[int, str, str]]:
    """Positions of relation symbols outside brackets: (index, spelling, operator)."""
    found: list[tuple[int, str, str]] = []
    skip_until = -1
    for i, depth in _scan(text):
        if i < skip_until or depth != 0:
            continue
        for spelling, op in _RELATIONS:
            if text.startswith(spelling, i) and not (spelling == "\\in" and text[i + 3: i + 4].isalpha()):
                found.append((i, spelling, op))
                skip_until = i + len(spelling)
                break
    return found


def _matching_close(text: str) -> int:
    """Index where the bracket opened at position 0 closes."""
    for i, depth in _scan(text):
        if depth == 0:
            return i
    return -1


def parse_answer(text: str, max_items: int = 64) -> Node:
    """Typed structure of a normalised answer string."""
    text = text.strip()
    if not text:
        raise UnparsableAnswer("empty answer")
    return _Parser(max_items).node(text)


class _Parser:
    def __init__(self, max_items: int) -> None:
        self.max_items = max_items

    def node(self, text: str) -> Node:
        text = text.strip()
        if not text:
            raise UnparsableAnswer("empty element")
        for rule in (self.text_answer, self.listing, self.union, self.relation, self.plus_minus,
                     self.bracketed, self.matrix, self.percent, self.based):
            result = rule(text)
            if result is not None:
                return result
        return Scalar(text)

    def items(self, parts: list[str]) -> tuple[Node, ...]:
        if len(parts) > self.max_items:
            raise UnparsableAnswer(f"more than {self.max_items} items")
        return tuple(self.node(p) for p in parts)

    def text_answer(self, text: str) -> Node | None:
        if text == "\\emptyset" or text_key(text) in _EMPTY_WORDS:
            return Collection("set", ())
        match = _TEXT_ONLY.match(text)
        inner = match.group(1).strip() if match else text
        if match and len(split_top_level(inner, ",")) > 1:
            return self.listing(inner)  # \text{A, C}: a selection of choices, compared as a set
        if match and not any(c.isdigit() for c in inner) or _WORDY.match(text) and len(text) >= 4:
            return Text(inner)
        return None

    def listing(self, text: str) -> Node | None:
        if _THOUSANDS.match(text):
            return None
        text = _CONNECTIVES.sub(",", text) if not _has_inequality(text) else text
        parts = split_top_level(text, ",")
        if len(parts) < 2:
            parts = split_top_level(text, ";")  # "1; 2": a list written with semicolons
        if len(parts) < 2:
            return None
        if any(not p for p in parts):
            parts = [p for p in parts if p]
            if len(parts) < 2:
                return self.node(parts[0]) if parts else None
        items = self.items(parts)
        # "x = 1, 2" gives every root to the variable of the first item.
        if isinstance(items[0], Equation) and not any(isinstance(i, Equation) for i in items[1:]):
            return Equation(items[0].lhs, Collection("set", (items[0].rhs, *items[1:])))
        return Collection("set", items)

    def union(self, text: str) -> Node | None:
        pieces = split_top_level(_CONNECTIVES.sub(lambda _: "\\cup", text), "\\cup")
        if len(pieces) < 2:
            return None
        return Union(self.items(pieces))

    def relation(self, text: str) -> Node | None:
        found = _top_level_relations(text)
        if not found:
            return None
        cuts = [0] + [x for i, spelling, _ in found for x in (i, i + len(spelling))] + [len(text)]
        sides = [text[cuts[k]:cuts[k + 1]].strip() for k in range(0, len(cuts), 2)]
        ops = [op for _, _, op in found]
        if any(not s for s in sides):
            raise UnparsableAnswer("relation with an empty side")
        if ops == ["in"]:
            return self.node(sides[1])
        if all(op == "=" for op in ops):
            return Equation(sides[0], self.node(sides[-1]))
        return _inequality_interval(sides, ops) or _absolute_interval(sides, ops) or Scalar(text)

    def plus_minus(self, text: str) -> Node | None:
        for sign in ("\\pm", "\\mp"):
            parts = split_top_level(text, sign)
            if len(parts) == 2:
                head, tail = parts
                if not head:
                    return Collection("set", (Scalar(tail), Scalar(f"-({tail})")))
                return Collection("set", (Scalar(f"{head}+({tail})"), Scalar(f"{head}-({tail})")))
        return None

    def bracketed(self, text: str) -> Node | None:
        if text.startswith("\\{") and text.endswith("\\}") and _matching_close(text) == len(text) - 2:
            inner = text[2:-2].strip()
            return Collection("set", self.items(split_top_level(inner, ",")) if inner else (), "\\{", "\\}")
        if text[0] == "{" and text[-1] == "}" and _matching_close(text) == len(text) - 1:
            parts = split_top_level(text[1:-1], ",")  # {1, 2}: braces left unescaped; one item is a group
            return Collection("set", self.items(parts), "{", "}") if len(parts) > 1 else None
        if text[0] not in "([" or text[-1] not in ")]" or _matching_close(text) != len(text) - 1:
            return None
        parts = split_top_level(text[1:-1], ",")
        if len(parts) == 1:
            return self.node(parts[0]) if text[0] == "(" else None
        return Collection("bracketed", self.items(parts), text[0], text[-1])

    def matrix(self, text: str) -> Node | None:
        if text[0] in "([" and text[-1] in ")]" and _matching_close(text) == len(text) - 1:
            text = text[1:-1].strip()  # \left[\begin{array}{cc} .. \end{array}\right]: the brackets draw the matrix
        match = _MATRIX.match(text)
        # vmatrix is a determinant; a second environment inside means an expression (A + B), not one matrix
        if not match or match.group(1) == "vmatrix" or "\\begin{" in match.group(2) or "\\end{" in match.group(2):
            return None
        rows = [r for r in (row.strip() for row in match.group(2).split("\\\\")) if r]
        if not rows or sum(r.count("&") + 1 for r in rows) > self.max_items:
            raise UnparsableAnswer("empty or oversized matrix")
        return Matrix(tuple(self.items([c.strip() for c in r.split("&")]) for r in rows))

    def percent(self, text: str) -> Node | None:
        for sign in ("\\%", "%"):
            if text.endswith(sign) and text[: -len(sign)].strip():
                return Percent(text[: -len(sign)].strip())
        return None

    def based(self, text: str) -> Node | None:
        match = _BASED.match(text)
        if not match:
            return None
        digits, base = match.group(1).upper(), int(match.group(2))
        if not 2 <= base <= 36 or any(int(d, 36) >= base for d in digits):
            return None
        return Based(digits.lstrip("0") or "0", base)


def _has_inequality(text: str) -> bool:
    return any(op in text for op in ("<", ">", "\\le", "\\ge"))


def _inequality_interval(sides: list[str], ops: list[str]) -> Collection | None:
    """``a < x \\le b`` -> ``(a, b]``; ``x > 2`` -> ``(2, \\infty)``; None if not one variable."""
    if "!=" in ops or "=" in ops or "in" in ops or len(sides) > 3:
        return None
    variables = [k for k, side in enumerate(sides) if is_variable(side) and "infty" not in side]
    if len(variables) != 1:
        return None
    k = variables[0]
    lo, hi, lo_closed, hi_closed = "-\\infty", "\\infty", False, False
    for j, op in enumerate(ops):
        bound, closed = (sides[j], op.endswith("=")) if j + 1 == k else (sides[j + 1], op.endswith("="))
        below = (j + 1 == k) == op.startswith("<")  # bound < x  or  x > bound
        if below:
            lo, lo_closed = bound, closed
        else:
            hi, hi_closed = bound, closed
    return Collection("bracketed", (Scalar(lo), Scalar(hi)), "[" if lo_closed else "(",
                      "]" if hi_closed else ")")


def _exact(latex: str) -> Fraction | None:
    try:
        return evaluate(latex).value
    except NotArithmetic:
        return None


def _fraction_latex(value: Fraction) -> str:
    sign = "-" if value < 0 else ""
    value = abs(value)
    if value.denominator == 1:
        return f"{sign}{value.numerator}"
    return f"{sign}\\frac{{{value.numerator}}}{{{value.denominator}}}"


def _linear_center(inside: str) -> tuple[Fraction, Fraction] | None:
    """``k x + c`` -> (k, -c/k): |k x + c| = k |x - center|. None unless k > 0 and c are plain numbers."""
    for pattern in _LINEAR:
        match = pattern.match(inside.replace(" ", ""))
        if match:
            slope = _exact(match["k"]) if match["k"] else Fraction(1)
            shift = _exact(match["c"]) if match["c"] else Fraction(0)
            if slope is None or shift is None or slope <= 0:
                return None
            return slope, (shift if match["s"] == "-" else -shift) / slope
    return None


def _absolute_interval(sides: list[str], ops: list[str]) -> Node | None:
    """``|x - 1| \\le 2`` -> ``[-1, 3]``; ``|x| > 3`` -> ``(-\\infty, -3) \\cup (3, \\infty)``; ``2 > |x|`` too.

    Only for one relation, a linear inside with numeric coefficients and a positive numeric bound."""
    if len(ops) != 1 or ops[0] not in ("<", "<=", ">", ">="):
        return None
    (left, right), op = sides, ops[0]
    if _ABSOLUTE.match(right) and not _ABSOLUTE.match(left):
        left, right, op = right, left, {"<": ">", "<=": ">=", ">": "<", ">=": "<="}[op]
    inside = _ABSOLUTE.match(left)
    linear = _linear_center(inside.group(1)) if inside else None
    bound = _exact(right)
    if linear is None or bound is None or bound <= 0:
        return None
    slope, center = linear
    lo, hi = _fraction_latex(center - bound / slope), _fraction_latex(center + bound / slope)
    closed = op.endswith("=")
    if op.startswith("<"):
        return Collection("bracketed", (Scalar(lo), Scalar(hi)), "[" if closed else "(", "]" if closed else ")")
    return Union((Collection("bracketed", (Scalar("-\\infty"), Scalar(lo)), "(", "]" if closed else ")"),
                  Collection("bracketed", (Scalar(hi), Scalar("\\infty")), "[" if closed else "(", ")")))
