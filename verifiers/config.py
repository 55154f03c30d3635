"""Configuration of the answer verifier: one frozen dataclass, passed to every entry point."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Literal

__all__ = ["Status", "VerifyConfig", "DEFAULT_CONFIG"]


class Status(str, Enum):
    """Outcome of one comparison."""

    EQUAL = "equal"
    NOT_EQUAL = "not_equal"
    UNPARSABLE = "unparsable"
    TIMEOUT = "timeout"


@dataclass(frozen=True)
class VerifyConfig:
    """How strictly answers are compared. Frozen so it can key caches and cross process borders."""

    rel_tol: float = field(
        default=1e-6,
        metadata={"help": "relative tolerance when a decimal is involved (0.333 != 1/3 at 1e-6)"},
    )
    percent: Literal["both", "number", "fraction"] = field(
        default="both",
        metadata={"help": "what 10% may equal: 'both' (10 and 0.1), 'number' (10) or 'fraction' (0.1)"},
    )
    timeout_s: float = field(
        default=3.0, metadata={"help": "wall-clock budget for the sympy work on one pair, in seconds"}
    )
    numeric_points: int = field(
        default=5, metadata={"help": "random points for the numeric second opinion on expressions"}
    )
    max_answer_chars: int = field(
        default=1000, metadata={"help": "longer extracted answers are unparsable, never parsed"}
    )
    max_bare_pred_chars: int = field(
        default=300,
        metadata={"help": "a pred with no answer marker is used whole only up to this length"},
    )
    max_items: int = field(default=64, metadata={"help": "most elements in a set, list, tuple or matrix"})
    comma_list: Literal["set", "tuple"] = field(
        default="set",
        metadata={"help": "a bare comma list (no brackets) on both sides compares as an unordered 'set' (the "
                          "roots 1, 2) or an ordered 'tuple' (a sequence); written sets and tuples keep theirs"},
    )
    strict_units: bool = field(
        default=False,
        metadata={"help": "trailing units must agree (5 cm is not 5 m, nor a bare 5); default: units are ignored"},
    )
    prose_fallback: bool = field(
        default=True,
        metadata={"help": "a pred with no answer marker that reads as prose is scored on its last math span, "
                          "else its last number, as a grader would; False: only markers or a bare answer"},
    )


DEFAULT_CONFIG = VerifyConfig()
