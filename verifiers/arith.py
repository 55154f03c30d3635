"""Exact arithmetic on LaTeX or plain-text numerals, without sympy and without ``eval``.

This is the verifier's fast path and the engine behind :func:`verifiers.check_steps`: a small
recursive-descent parser that turns strings such as ``3 \\times 12``, ``\\frac12+\\frac13``,
``2\\frac{1}{2}``, ``0.\\overline{3}``, ``1{,}000``, ``1.5\\times10^{3}`` or ``48/2`` into an exact
:class:`fractions.Fraction`. Anything outside plain arithmetic (a variable, ``\\pi``, an irrational
root, a function) raises :class:`NotArithmetic`, so callers can fall back to sympy.

Work is bounded by construction: inputs longer than ``MAX_CHARS`` are refused, exponents and
factorials are capped before they are computed, so a hostile ``9^{9^{9^9}}`` fails in
microseconds instead of running for hours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

__all__ = ["NotArithmetic", "ArithValue", "evaluate", "MAX_CHARS"]

MAX_CHARS = 2000
MAX_RESULT_BITS = 20_000
MAX_FACTORIAL = 300


class NotArithmetic(ValueError):
    """The text is not plain arithmetic that can be evaluated exactly (or is too large)."""


@dataclass(frozen=True)
class ArithValue:
    """An exact value and whether any decimal literal went into it (decimals may be rounded)."""

    value: Fraction
    has_decimal: bool = False


_SPACING = re.compile(r"\\[,;:! ]|\\q?quad|~|\\left|\\right|\\displaystyle|\\mathrm\{\s*\}")
_NUMBER = re.compile(r"\d+(?:\{,\}\d{3})+(?:\.\d+)?|\d{1,3}(?:,\d{3})+(?![\d])(?:\.\d+)?|\d*\.\d+|\d+\.?")
_OVERLINE = re.compile(r"\\overline\{(\d+)\}")
_SCI_E = re.compile(r"[eE]([+-]?\d{1,4})(?![\w])")
_COMMAND = re.compile(r"\\([a-zA-Z]+)")
_DIGITS = frozenset("0123456789")
MAX_DEPTH = 64

_SYMBOL_TOKENS = {
    "+": "+", "-": "-", "−": "-", "–": "-", "*": "*", "×": "*", "·": "*", "/": "/", "÷": "/",
    "^": "^", "!": "!", "%": "%", "(": "(", ")": ")", "[": "(", "]": ")", "{": "{", "}": "}",
}
_COMMAND_TOKENS = {
    "times": "*", "cdot": "*", "ast": "*", "div": "/", "%": "%", "frac": "frac", "dfrac": "frac",
    "tfrac": "frac", "cfrac": "frac", "sqrt": "sqrt", "{": "(", "}": ")",
}


def _tokenize(text: str) -> list[tuple[str, object]]:
    """Split text into (kind, payload) tokens; kinds are operators, 'num', 'frac', 'sqrt'."""
    text = _SPACING.sub(" ", text)
    tokens: list[tuple[str, object]] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch in _DIGITS or (ch == "." and i + 1 < n and text[i + 1] in _DIGITS):
            i = _read_number(text, i, tokens)
            continue
        if ch == "\\":
            if text.startswith("\\%", i):
                tokens.append(("%", None))
                i += 2
                continue
            if text.startswith("\\{", i) or text.startswith("\\}", i):
                tokens.append(("(" if text[i + 1] == "{" else ")", None))
                i += 2
                continue
            m = _COMMAND.match(text, i)
            if not m or m.group(1) not in _COMMAND_TOKENS:
                raise NotArithmetic(f"unsupported command {text[i:i + 12]!r}")
            tokens.append((_COMMAND_TOKENS[m.group(1)], None))
            i = m.end()
            continue
        if ch in _SYMBOL_TOKENS:
            tokens.append((_SYMBOL_TOKENS[ch], ch))
            i += 1
            continue
        raise NotArithmetic(f"unexpected character {ch!r}")
    return tokens


def _read_number(text: str, i: int, tokens: list[tuple[str, object]]) -> int:
    """Read a numeral at ``i`` (thousands separators, decimals, repeating and e-notation)."""
    m = _NUMBER.match(text, i)
    assert m is not None
    raw = m.group(0).replace("{,}", "").replace(",", "")
    end = m.end()
    has_decimal = "." in raw
    if raw.endswith("."):
        raw = raw[:-1]
    value = Fraction(raw) if raw else Fraction(0)
    over = _OVERLINE.match(text, end) if has_decimal or raw.endswith(".") else None
    if over is None and m.group(0).endswith(".") and text.startswith("\\overline", end):
        over = _OVERLINE.match(text, end)
    if over is not None:
        value = _repeating(raw, over.group(1))
        has_decimal = False
        end = over.end()
    sci = _SCI_E.match(text, end)
    if sci is not None:
        exponent = int(sci.group(1))
        if abs(exponent) > 400:
            raise NotArithmetic("exponent too large")
        value *= Fraction(10) ** exponent
        end = sci.end()
    tokens.append(("num", ArithValue(value, has_decimal)))
    return end


def _repeating(prefix: str, period: str) -> Fraction:
    """``0.1\\overline{6}`` -> 1/6: prefix digits then a repeating period."""
    whole, _, fixed = prefix.partition(".")
    base = Fraction(f"{whole or 0}.{fixed}" if fixed else (whole or "0"))
    scale = Fraction(1, 10 ** len(fixed))
    return base + scale * Fraction(int(period), 10 ** len(period) - 1)


class _Parser:
    """Recursive descent over tokens: sums of products of signed powers of atoms."""

    def __init__(self, tokens: list[tuple[str, object]], mixed_numbers: bool) -> None:
        self.tokens = tokens
        self.pos = 0
        self.depth = 0
        self.mixed_numbers = mixed_numbers

    def peek(self) -> str | None:
        return self.tokens[self.pos][0] if self.pos < len(self.tokens) else None

    def take(self, kind: str | None = None) -> tuple[str, object]:
        if self.pos >= len(self.tokens):
            raise NotArithmetic("unexpected end of input")
        token = self.tokens[self.pos]
        if kind is not None and token[0] != kind:
            raise NotArithmetic(f"expected {kind!r}, found {token[0]!r}")
        self.pos += 1
        return token

    def parse(self) -> ArithValue:
        if not self.tokens:
            raise NotArithmetic("empty")
        value = self.sum()
        if self.pos != len(self.tokens):
            raise NotArithmetic(f"trailing input at token {self.pos}")
        return value

    def sum(self) -> ArithValue:
        value = self.product()
        while self.peek() in ("+", "-"):
            op = self.take()[0]
            rhs = self.product()
            value = _combine(value, rhs, value.value + rhs.value if op == "+" else value.value - rhs.value)
        return value

    def product(self) -> ArithValue:
        value = self.signed()
        while True:
            kind = self.peek()
            if kind in ("*", "/"):
                self.take()
                rhs = self.signed()
                if kind == "/" and rhs.value == 0:
                    raise NotArithmetic("division by zero")
                result = value.value * rhs.value if kind == "*" else value.value / rhs.value
                value = _combine(value, rhs, result)
            elif kind in ("(", "{", "frac", "sqrt", "num"):
                value = self.juxtaposed(value)
            else:
                return value

    def juxtaposed(self, left: ArithValue) -> ArithValue:
        """Implicit product ``2(3+4)``."""
        if self.peek() == "num":
            raise NotArithmetic("two numbers in a row")
        right = self.power()
        return _combine(left, right, left.value * right.value)

    def signed(self) -> ArithValue:
        if self.peek() == "-":
            self.take()
            inner = self.signed()
            return ArithValue(-inner.value, inner.has_decimal)
        if self.peek() == "+":
            self.take()
            return self.signed()
        return self.power()

    def power(self) -> ArithValue:
        base = self.postfix(self.atom())
        if self.peek() != "^":
            return base
        self.take()
        exponent = self.signed_exponent()
        return _combine(base, exponent, _pow(base.value, exponent.value))

    def signed_exponent(self) -> ArithValue:
        if self.peek() == "-":
            self.take()
            inner = self.signed_exponent()
            return ArithValue(-inner.value, inner.has_decimal)
        return self.power()

    def postfix(self, value: ArithValue) -> ArithValue:
        while self.peek() in ("!", "%"):
            kind = self.take()[0]
            if kind == "%":
                value = ArithValue(value.value / 100, value.has_decimal)
            else:
                value = ArithValue(Fraction(_factorial(value.value)), value.has_decimal)
        return value

    def atom(self) -> ArithValue:
        kind, payload = self.take()
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise NotArithmetic("nested too deeply")
        try:
            return self.atom_body(kind, payload)
        finally:
            self.depth -= 1

    def atom_body(self, kind: str, payload: object) -> ArithValue:
        if kind == "num":
            assert isinstance(payload, ArithValue)
            if self.mixed_numbers and self.peek() == "frac" and payload.value.denominator == 1:
                return self.mixed_number(payload)
            return payload
        if kind in ("(", "{"):
            inner = self.sum()
            self.take(")" if kind == "(" else "}")
            return inner
        if kind == "frac":
            num, den = self.frac_argument(), self.frac_argument()
            if den.value == 0:
                raise NotArithmetic("division by zero")
            return _combine(num, den, num.value / den.value)
        if kind == "sqrt":
            return self.root()
        raise NotArithmetic(f"unexpected {kind!r}")

    def mixed_number(self, whole: ArithValue) -> ArithValue:
        """``2\\frac{1}{2}`` = 5/2 (only a proper fraction right after an integer)."""
        start = self.pos
        self.take("frac")
        part = self.atom_body("frac", None)
        if not 0 < part.value < 1:
            self.pos = start
            return whole
        return _combine(whole, part, whole.value + part.value)

    def frac_argument(self) -> ArithValue:
        """``\\frac{a}{b}`` takes braced groups; ``\\frac12`` takes single digits."""
        if self.peek() in ("{", "("):
            return self.atom()
        kind, payload = self.take("num")
        assert isinstance(payload, ArithValue)
        if payload.value.denominator != 1 or payload.has_decimal:
            raise NotArithmetic("bad \\frac argument")
        digits = str(payload.value.numerator)
        if len(digits) == 1:
            return payload
        # \frac12 tokenises as one number "12": split off the first digit, push back the rest.
        self.tokens.insert(self.pos, ("num", ArithValue(Fraction(int(digits[1:])))))
        return ArithValue(Fraction(int(digits[0])))

    def root(self) -> ArithValue:
        degree = 2
        if self.pos < len(self.tokens) and self.tokens[self.pos] == ("(", "["):
            # \sqrt[3]{x}: the degree in square brackets
            self.take()
            degree_value = self.sum().value
            self.take(")")
            if degree_value.denominator != 1 or not 2 <= degree_value <= 64:
                raise NotArithmetic("unsupported root degree")
            degree = int(degree_value)
        radicand = self.frac_argument()
        return ArithValue(_exact_root(radicand.value, degree), radicand.has_decimal)


def _combine(a: ArithValue, b: ArithValue, value: Fraction) -> ArithValue:
    if max(value.numerator.bit_length(), value.denominator.bit_length()) > MAX_RESULT_BITS:
        raise NotArithmetic("result too large")
    return ArithValue(value, a.has_decimal or b.has_decimal)


def _pow(base: Fraction, exponent: Fraction) -> Fraction:
    if exponent.denominator != 1:
        root = _exact_root(base, exponent.denominator)
        return _pow(root, Fraction(exponent.numerator))
    e = exponent.numerator
    if base == 0 and e < 0:
        raise NotArithmetic("division by zero")
    size = max(base.numerator.bit_length(), base.denominator.bit_length())
    if abs(e) * max(size, 1) > MAX_RESULT_BITS and base not in (0, 1, -1):
        raise NotArithmetic("power too large")
    return base**e


def _factorial(value: Fraction) -> int:
    if value.denominator != 1 or not 0 <= value <= MAX_FACTORIAL:
        raise NotArithmetic("unsupported factorial")
    result = 1
    for k in range(2, int(value) + 1):
        result *= k
    return result


def _integer_root(n: int, degree: int) -> int | None:
    if n < 0:
        return None
    guess = round(n ** (1.0 / degree)) if n.bit_length() < 1000 else _bisect_root(n, degree)
    for candidate in (guess - 1, guess, guess + 1):
        if candidate >= 0 and candidate**degree == n:
            return candidate
    return None


def _bisect_root(n: int, degree: int) -> int:
    lo, hi = 0, 1 << (n.bit_length() // degree + 1)
    while lo < hi:
        mid = (lo + hi) // 2
        if mid**degree < n:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _exact_root(value: Fraction, degree: int) -> Fraction:
    """The exact ``degree``-th root of a rational, or NotArithmetic if it is irrational."""
    sign = 1
    if value < 0:
        if degree % 2 == 0:
            raise NotArithmetic("even root of a negative number")
        sign, value = -1, -value
    num = _integer_root(value.numerator, degree)
    den = _integer_root(value.denominator, degree)
    if num is None or den is None:
        raise NotArithmetic("irrational root")
    return Fraction(sign * num, den)


def evaluate(text: str, mixed_numbers: bool = False) -> ArithValue:
    """Evaluate plain arithmetic in LaTeX or text exactly.

    >>> evaluate(r"\\frac12+\\frac13").value
    Fraction(5, 6)
    >>> evaluate("3 \\\\times 12").value
    Fraction(36, 1)
    >>> evaluate(r"2\\frac{1}{2}", mixed_numbers=True).value
    Fraction(5, 2)

    Raises NotArithmetic for anything else (symbols, irrational roots, oversized results).
    """
    if len(text) > MAX_CHARS:
        raise NotArithmetic("input too long")
    try:
        return _Parser(_tokenize(text), mixed_numbers).parse()
    except RecursionError as error:
        raise NotArithmetic("nested too deeply") from error
