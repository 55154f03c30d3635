"""Exact arithmetic fast path: values, refusals, and bounded work on hostile powers."""

from __future__ import annotations

from fractions import Fraction

import pytest

from verifiers.arith import NotArithmetic, evaluate


@pytest.mark.parametrize(("text", "value"), [
    ("3 \\times 12", 36), ("\\frac12+\\frac13", Fraction(5, 6)), ("48/2", 24), ("2(3+4)", 14),
    ("-2^2", -4), ("(-2)^2", 4), ("2^{-3}", Fraction(1, 8)), ("2^3^2", 512), ("\\sqrt{16}", 4),
    ("\\sqrt[3]{-27}", -3), ("\\sqrt(4)(16)", 32), ("4^{1/2}", 2), ("5!", 120), ("50\\%", Fraction(1, 2)),
    ("1{,}000", 1000),
    ("0.\\overline{142857}", Fraction(1, 7)), ("1.5e3", 1500), ("10 \\div 4", Fraction(5, 2)),
    ("\\left(\\frac{3}{4}\\right)^2", Fraction(9, 16)), ("7 − 2", 5), ("3·4", 12),
])
def test_values(text: str, value: Fraction | int) -> None:
    assert evaluate(text).value == value


@pytest.mark.parametrize(("text", "value"), [
    ("2\\frac{1}{2}", Fraction(5, 2)), ("-2\\frac12", Fraction(-5, 2)), ("6 \\cdot 8\\frac{1}{3}", 50),
    ("2 \\times 3\\frac12", 7), ("33\\frac13\\%", Fraction(1, 3)), ("2\\frac{3}{2}", 3),
])
def test_mixed_numbers(text: str, value: Fraction | int) -> None:
    assert evaluate(text, mixed_numbers=True).value == value


def test_mixed_numbers_only_when_asked() -> None:
    assert evaluate("2\\frac{1}{2}").value == 1


@pytest.mark.parametrize("text", [
    "x+1", "\\sqrt 16", "\\sqrt{2}", "\\pi", "1/0", "²", "①", "(" * 300 + "1" + ")" * 300, "-" * 1500 + "3",
    "9^{9^{9^9}}", "10^{100000}", "1000!", "", "3 4", "(1", "1,2", "2^{1/3}",
])
def test_refuses_what_is_not_exact_arithmetic(text: str) -> None:
    with pytest.raises(NotArithmetic):
        evaluate(text)


def test_decimals_are_flagged() -> None:
    assert evaluate("0.5 + 1").has_decimal and not evaluate("\\frac{1}{2}").has_decimal
