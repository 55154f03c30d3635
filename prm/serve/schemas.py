"""Request and response bodies of ``prm serve`` (pydantic), the server's options, and the request limits.

Structure is checked by pydantic; the size limits (items per request, steps per item, characters per
item) are checked by :func:`check_limits` because they are server options. Every problem is reported
as one line that names the item and field, e.g. ``items[3].steps: 300 steps > limit 128``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from prm.cli_contract import shared

__all__ = ["ServeConfig", "ScoreItem", "ScoreRequest", "VerifyPair", "VerifyRequest", "RewardRequest",
           "RequestError", "check_count", "check_limits", "item_limit_errors", "format_validation_errors",
           "SERVE_COLUMNS"]

# what /get_reward can give a reward: the label (gold answer) and the prompt (problem text)
SERVE_COLUMNS = ("answer", "problem")


@dataclass
class ServeConfig:
    prm: str | None = shared("prm", detail="without it only /verify and /get_reward's answer reward are served")
    prm_format: str = shared("prm_format", "auto")
    prm_options: str | None = shared("prm_options")
    host: str = field(default="127.0.0.1", metadata={"help": "address to listen on"})
    port: int = field(default=8000, metadata={"help": "TCP port"})
    max_batch: int = field(default=32, metadata={"help": "most solutions merged into one PRM forward pass"})
    max_wait_ms: float = field(default=5.0, metadata={"help": "how long a batch waits for more requests to merge"})
    forward_batch: int = field(default=8, metadata={"help": "solutions per forward pass within a merged batch, "
                                                            "sorted by length (8 was fastest for a tiny PRM on CPU; "
                                                            "on a GPU use --max-batch)"})
    rewards: str | None = field(default=None, metadata={
        "help": "/get_reward: a reward spec (prm.rewards) of answer and prm_outcome terms, e.g. 'answer', "
                "'prm_outcome@last', 'answer,prm_outcome:0.5' (default: answer,prm_outcome@AGGREGATION with --prm, "
                "answer without)"})
    aggregation: str = field(default="min", metadata={"help": "/score's default step-score aggregation, and the "
                                                              "default reward's (eval.aggregate)"})
    device: Literal["auto", "cpu", "cuda"] = shared("device", "auto")
    dtype: str = shared("dtype", "auto")
    threads: int = shared("threads", 0)
    workers: int = shared("workers", 2)
    timeout_s: float = shared("timeout_s", 3.0)
    max_body_bytes: int = field(default=8 << 20, metadata={"help": "largest request body accepted (413 above)"})
    max_items: int = field(default=256, metadata={"help": "most items / pairs / queries per request"})
    max_steps_per_item: int = field(default=128, metadata={"help": "most steps per solution"})
    max_chars: int = field(default=32_000, metadata={"help": "most characters per item (all its text fields)"})

    def reward_spec(self) -> str:
        """The /get_reward spec, the default resolved."""
        if self.rewards:
            return self.rewards
        return f"answer,prm_outcome@{self.aggregation}" if self.prm else "answer"


class RequestError(ValueError):
    """A bad request: ``status`` is the HTTP status, ``errors`` one line per problem (item index and field)."""

    def __init__(self, status: int, errors: Sequence[str]) -> None:
        super().__init__(errors[0] if errors else "bad request")
        self.status = status
        self.errors = list(errors)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScoreItem(_Strict):
    problem: str
    steps: list[str] | None = None
    solution: str | None = None

    @model_validator(mode="after")
    def _one_of(self) -> ScoreItem:
        if (self.steps is None) == (self.solution is None):
            raise ValueError("give exactly one of steps (a list of strings) or solution (a string)")
        return self


class ScoreRequest(_Strict):
    items: list[ScoreItem]
    aggregation: str | None = None


class VerifyPair(_Strict):
    gold: str
    answer: str


class VerifyRequest(_Strict):
    pairs: list[VerifyPair]


class RewardRequest(BaseModel):
    """OpenRLHF's remote reward model body; unknown keys are ignored as OpenRLHF may send more."""

    query: list[str]
    prompts: list[str] | None = None
    labels: list[str | int | float | None] | None = None  # numbers are read as their decimal text

    @model_validator(mode="after")
    def _same_lengths(self) -> RewardRequest:
        if self.labels is not None:
            self.labels = [None if label is None else str(label) for label in self.labels]
        for name in ("prompts", "labels"):
            values = getattr(self, name)
            if values is not None and len(values) != len(self.query):
                raise ValueError(f"{name}: {len(values)} entries but query has {len(self.query)}")
        return self


_UNION_TAGS = {"str", "none", "list[str]", "list", "float", "int"}  # union members pydantic adds to a loc


def _where(loc: Sequence[Any]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part != "body" and part not in _UNION_TAGS and not str(part).startswith("function-"):
            text += f".{part}" if text else str(part)
    return text or "body"


def format_validation_errors(errors: Sequence[dict[str, Any]]) -> list[str]:
    """pydantic errors as ``field.path[3].name: message`` lines (never echoing the input)."""
    lines = []
    for error in errors:
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        line = f"{_where(error.get('loc', ()))}: {message}"
        if line not in lines:
            lines.append(line)
    return lines


Fields = dict[str, "str | Sequence[str] | None"]  # one item's text fields (a list field counts all its strings)


def _chars(value: str | Sequence[str] | None) -> int:
    if value is None:
        return 0
    return len(value) if isinstance(value, str) else sum(len(v) for v in value if v is not None)


def item_limit_errors(config: ServeConfig, kind: str, items: Sequence[Fields],
                      step_counts: Sequence[int | None] | None = None) -> dict[int, str]:
    """Item index -> why it is over a per-item limit (characters of all its text fields, steps)."""
    errors: dict[int, str] = {}
    for index, fields in enumerate(items):
        sizes = {name: _chars(value) for name, value in fields.items() if value is not None}
        total = sum(sizes.values())
        if total > config.max_chars:
            parts = ", ".join(f"{name} {size}" for name, size in sizes.items())
            errors[index] = f"{kind}[{index}]: {total} characters ({parts}) > limit {config.max_chars}"
    for index, count in enumerate(step_counts or []):
        if count is not None and count > config.max_steps_per_item and index not in errors:
            errors[index] = f"{kind}[{index}].steps: {count} steps > limit {config.max_steps_per_item}"
    return errors


def check_count(config: ServeConfig, kind: str, count: int) -> None:
    """Raise a 422 :class:`RequestError` when a request carries more than ``max_items`` entries."""
    if count > config.max_items:
        raise RequestError(422, [f"{kind}: {count} {kind} > limit {config.max_items}"])


def check_limits(config: ServeConfig, kind: str, items: Sequence[Fields],
                 step_counts: Sequence[int | None] | None = None) -> None:
    """Raise a 422 :class:`RequestError` naming every item over a limit (see :func:`item_limit_errors`)."""
    check_count(config, kind, len(items))
    errors = item_limit_errors(config, kind, items, step_counts)
    if errors:
        raise RequestError(422, [errors[i] for i in sorted(errors)][:20])
