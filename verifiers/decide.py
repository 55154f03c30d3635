"""One comparison of two extracted answers: normalise, parse the structure, compare the leaves.

The same function runs twice at most: in the caller's process with the exact oracle (no sympy),
and, only if that raises :class:`~verifiers.compare.NeedsSympy`, inside a sandbox worker with the
sympy oracle (``handle_request``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from verifiers.answers import (
    Collection,
    Equation,
    Matrix,
    Node,
    Percent,
    Scalar,
    Union,
    UnparsableAnswer,
    parse_answer,
)
from verifiers.compare import ExactOracle, answers_equal, describe
from verifiers.config import Status, VerifyConfig
from verifiers.normalize import answer_unit, normalize_answer

__all__ = ["Decision", "decide", "handle_request"]


@dataclass(frozen=True)
class Decision:
    status: Status
    gold_parsed: str = ""
    pred_parsed: str = ""
    reason: str = ""
    unparsable_side: str | None = None


def _parse(text: str, side: str, config: VerifyConfig) -> Node | Decision:
    try:
        return parse_answer(normalize_answer(text), config.max_items)
    except UnparsableAnswer as error:
        return Decision(Status.UNPARSABLE, reason=f"{side}: {error}", unparsable_side=side)


def decide(gold: str, pred: str, oracle: ExactOracle) -> Decision:
    """Compare two extracted answer strings. May raise NeedsSympy (exact oracle only)."""
    gold_node = _parse(gold, "gold", oracle.config)
    if isinstance(gold_node, Decision):
        return gold_node
    pred_node = _parse(pred, "pred", oracle.config)
    if isinstance(pred_node, Decision):
        return pred_node
    if oracle.config.strict_units and (units := (answer_unit(gold), answer_unit(pred)))[0] != units[1]:
        return Decision(Status.NOT_EQUAL, gold_parsed=describe(gold_node, oracle),
                        pred_parsed=describe(pred_node, oracle),
                        reason=f"not equal (units {units[0] or 'none'} vs {units[1] or 'none'})")
    if gold_node == pred_node:
        equal, how = True, "same structure and spelling"
    else:
        equal = answers_equal(gold_node, pred_node, oracle)
        how = type(oracle).__name__.removesuffix("Oracle").lower()
    return Decision(
        Status.EQUAL if equal else Status.NOT_EQUAL,
        gold_parsed=describe(gold_node, oracle),
        pred_parsed=describe(pred_node, oracle),
        reason=f"{'equal' if equal else 'not equal'} ({how})",
    )


def leaves(node: Node) -> Iterator[str]:
    """Every LaTeX leaf that an oracle would have to read."""
    if isinstance(node, Scalar | Percent):
        yield node.latex
    elif isinstance(node, Equation):
        yield node.lhs
        yield from leaves(node.rhs)
    elif isinstance(node, Collection):
        for item in node.items:
            yield from leaves(item)
    elif isinstance(node, Union):
        for part in node.parts:
            yield from leaves(part)
    elif isinstance(node, Matrix):
        for row in node.rows:
            for cell in row:
                yield from leaves(cell)


def _unreadable_side(gold: str, oracle: Any, message: str) -> Decision:
    """A leaf failed to parse: say whether the gold itself is unreadable."""
    gold_node = parse_answer(normalize_answer(gold), oracle.config.max_items)
    for leaf in leaves(gold_node):
        if oracle.value(leaf) is None and "infty" not in leaf:
            try:
                oracle.parse(leaf)
            except ValueError:
                return Decision(Status.UNPARSABLE, reason=f"gold: {message}", unparsable_side="gold")
    return Decision(Status.UNPARSABLE, reason=f"pred: {message}", unparsable_side="pred")


def handle_request(request: tuple[str, str, str, VerifyConfig]) -> tuple[str, Any]:
    """Worker-side entry: ``("decide", gold, pred, config)`` -> ``("ok", Decision)``."""
    from verifiers.symbolic import SympyOracle, SympyParseError

    kind, gold, pred, config = request
    if kind != "decide":
        return ("error", f"unknown request {kind!r}")
    oracle = SympyOracle(config)
    try:
        return ("ok", decide(gold, pred, oracle))
    except SympyParseError as error:
        return ("ok", _unreadable_side(gold, oracle, str(error)))
