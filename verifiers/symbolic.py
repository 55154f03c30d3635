"""The sympy scalar oracle: LaTeX leaves parsed by a real grammar, compared symbolically.

Runs only inside the sandboxed worker process (``verifiers._worker``), which enforces the
timeout: nothing here protects itself against slow sympy calls. LaTeX is parsed with
``latex2sympy2_extended`` (an ANTLR grammar), never with ``sympify``/``parse_expr`` on model
text, so no model text reaches Python ``eval``.

Expressions are compared in two ways: a numeric check at random points (a quick and reliable
"no"), then ``simplify(a - b) == 0`` to confirm a "yes". When simplify cannot close the gap but
every point agrees to 1e-12, the numeric evidence decides.
"""

from __future__ import annotations

import random
from functools import lru_cache

import sympy
from latex2sympy2_extended import latex2sympy
from latex2sympy2_extended.latex2sympy2 import ConversionConfig

from verifiers.answers import Equation, Scalar
from verifiers.compare import ExactOracle
from verifiers.config import VerifyConfig

__all__ = ["SympyOracle", "to_sympy"]

_CONVERSION = ConversionConfig(interpret_as_mixed_fractions=True, lowercase_symbols=False)
_EXACT_TOL = 1e-12
_IMAGINARY = sympy.Symbol("i")
_PRECISION = 30


class SympyParseError(ValueError):
    """latex2sympy could not read a leaf."""


@lru_cache(maxsize=4096)
def to_sympy(latex: str) -> sympy.Basic:
    """Parse a LaTeX leaf; cached because the same gold is compared against many samples."""
    try:
        return latex2sympy(latex, normalization_config=None, conversion_config=_CONVERSION)
    except Exception as error:  # the parser raises bare Exception on syntax errors
        raise SympyParseError(f"cannot parse {latex!r}: {str(error).splitlines()[0][:80]}") from error


def _number(expr: sympy.Basic) -> complex | None:
    try:
        value = complex(sympy.N(expr, _PRECISION))
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    if value != value or abs(value) == float("inf"):
        return None
    return value


def _points(symbols: list[sympy.Symbol], count: int) -> list[dict[sympy.Symbol, sympy.Rational]]:
    rng = random.Random(1234)
    return [{s: sympy.Rational(rng.randint(-997, 997), rng.randint(101, 499)) for s in symbols}
            for _ in range(count)]


class SympyOracle(ExactOracle):
    """Exact arithmetic first (inherited), sympy for everything else."""

    def __init__(self, config: VerifyConfig) -> None:
        super().__init__(config)

    def parse(self, latex: str) -> sympy.Basic:
        expr = to_sympy(latex.strip())
        # In a final answer, i is the imaginary unit (2+3i, e^{i\\pi}).
        return expr.subs(_IMAGINARY, sympy.I) if _IMAGINARY in expr.free_symbols else expr

    def show(self, latex: str) -> str:
        try:
            return str(self.parse(latex))
        except SympyParseError:
            return latex

    def _close(self, a: complex, b: complex, approximate: bool) -> bool:
        tol = self.config.rel_tol if approximate else _EXACT_TOL
        return abs(a - b) <= tol * max(abs(a), abs(b), 1e-300)

    def symbolic_equal(self, a: str, b: str) -> bool:
        ea, eb = self.parse(a), self.parse(b)
        if not isinstance(ea, sympy.Expr) or not isinstance(eb, sympy.Expr):
            return bool(ea == eb)
        if ea.has(sympy.zoo, sympy.nan) or eb.has(sympy.zoo, sympy.nan):
            return False  # undefined (1/0, 12:00 read as a ratio) equals nothing, not even another 1/0
        if ea == eb:
            return True
        approximate = bool(ea.atoms(sympy.Float) or eb.atoms(sympy.Float))
        symbols = sorted(ea.free_symbols | eb.free_symbols, key=str)
        if not symbols:
            va, vb = _number(ea), _number(eb)
            if va is not None and vb is not None:
                return self._close(va, vb, approximate)
            return sympy.simplify(ea - eb) == 0
        agreed = branch = 0
        for point in _points(symbols, self.config.numeric_points):
            va, vb = _number(ea.subs(point)), _number(eb.subs(point))
            if va is None or vb is None:
                continue
            if not self._close(va, vb, approximate):
                if va.imag and vb.imag:
                    branch += 1  # both off the real line: a branch-cut artefact (sqrt(1/k) vs 1/sqrt(k), k < 0)
                    continue
                return False
            agreed += 1
        if agreed >= (1 if approximate else max(2, self.config.numeric_points - 1 - branch)):
            return True
        return bool(sympy.simplify(ea - eb) == 0)

    def equations_equivalent(self, gold: Equation, pred: Equation) -> bool:
        """``2x+3=7`` vs ``x=2``: no.  ``y=2x+1`` vs ``2x-y+1=0``: yes (residuals proportional)."""
        if not isinstance(gold.rhs, Scalar) or not isinstance(pred.rhs, Scalar):
            return False
        f = self.parse(gold.lhs) - self.parse(gold.rhs.latex)
        h = self.parse(pred.lhs) - self.parse(pred.rhs.latex)
        if f.free_symbols != h.free_symbols or not f.free_symbols:
            return bool(sympy.simplify(f - h) == 0)
        ratios = []
        for point in _points(sorted(f.free_symbols, key=str), self.config.numeric_points):
            vf, vh = _number(f.subs(point)), _number(h.subs(point))
            if vf is None or vh is None or abs(vh) < 1e-300:
                continue
            ratios.append(vf / vh)
        if not ratios or abs(ratios[0]) < 1e-12:
            return False
        return all(self._close(r, ratios[0], False) for r in ratios[1:])
