"""Matrix expressions (``2A``, ``A + B``, ``AB``, ``A^{-1}``, ``A^T``) evaluated to the matrix they denote.

Imports sympy, so it is only ever imported inside a sandbox worker (by the sympy oracle's comparison of a
matrix with an expression), under that worker's timeout and memory cap. The expression has already been read
by the LaTeX grammar (``verifiers.symbolic``); nothing here parses text, so no model text reaches ``eval``.
"""

from __future__ import annotations

import logging

import sympy

from verifiers.answers import Matrix, Scalar

__all__ = ["evaluated_matrix"]

logger = logging.getLogger(__name__)


def evaluated_matrix(expr: sympy.Basic, max_items: int) -> Matrix | None:
    """The explicit matrix ``expr`` evaluates to, entries as LaTeX leaves; None when it is no matrix (a
    determinant, a number), cannot be evaluated (a singular inverse, mismatched shapes) or is too large."""
    try:
        value = expr.doit()
        if isinstance(value, sympy.MatrixExpr):
            value = value.as_explicit()
    except (ValueError, TypeError, ArithmeticError, NotImplementedError, sympy.matrices.MatrixError) as error:
        logger.debug("matrix expression not evaluated: %s", error)
        return None
    if not isinstance(value, sympy.MatrixBase) or value.rows * value.cols > max_items:
        return None
    return Matrix(tuple(tuple(Scalar(sympy.latex(value[r, c])) for c in range(value.cols))
                        for r in range(value.rows)))
