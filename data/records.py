"""The record types that flow through the pipeline, with validation that names record and field.

On disk every record is one JSON object per line (``datasets`` compatible):

- Problem: ``{"id", "problem", "answer", "solution"?, "source", "level"?, "subject"?}``
- Sample: ``{"problem_id", "sample_idx", "text", "steps", "answer"?, "num_tokens", ...}``
- StepwiseRow (TRL's stepwise-supervision shape): ``{"prompt", "completions", "labels"}`` with
  float labels in [0, 1]; labels are never cast to int (soft Monte-Carlo labels stay soft).

Unknown keys are kept in ``extra`` and written back, so a round trip loses nothing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from data.jsonl import RecordError, read_jsonl, write_jsonl_atomic

__all__ = ["Problem", "Sample", "StepwiseRow", "read_records", "write_records", "to_dataset", "from_dataset"]

R = TypeVar("R", bound="_Record")


def _check(value: Any, kind: type | tuple[type, ...], where: str, name: str) -> Any:
    if isinstance(kind, tuple) and float in kind and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        expected = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise RecordError(f"{where}: field {name!r} should be {expected}, got {type(value).__name__}")
    return value


class _Record:
    """Shared dict conversion: typed known fields, unknown keys kept in ``extra``."""

    extra: dict[str, Any]

    @classmethod
    def from_dict(cls: type[R], data: dict[str, Any], where: str = "record") -> R:
        declared = [f for f in fields(cls) if f.name != "extra"]  # type: ignore[arg-type]
        known = {f.name for f in declared}
        for f in declared:
            if f.default is MISSING and f.default_factory is MISSING and data.get(f.name) is None:
                raise RecordError(f"{where}: missing field {f.name!r}")
        values = {k: v for k, v in data.items() if k in known}
        record = cls(**values, extra={k: v for k, v in data.items() if k not in known})  # type: ignore[call-arg]
        record.validate(where)
        return record

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}  # type: ignore[arg-type]
        out = {k: v for k, v in out.items() if v is not None}
        out.update(self.extra)
        return out

    def validate(self, where: str) -> None:
        raise NotImplementedError


@dataclass
class Problem(_Record):
    id: str
    problem: str
    answer: str
    source: str = ""
    solution: str | None = None
    level: int | str | None = None
    subject: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def validate(self, where: str) -> None:
        for name in ("id", "problem", "answer", "source"):
            _check(getattr(self, name), str, where, name)
        if self.solution is not None:
            _check(self.solution, str, where, "solution")


@dataclass
class Sample(_Record):
    problem_id: str
    sample_idx: int
    text: str
    steps: list[str] = field(default_factory=list)
    answer: str | None = None
    num_tokens: int = 0
    finish_reason: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def validate(self, where: str) -> None:
        _check(self.problem_id, str, where, "problem_id")
        _check(self.sample_idx, int, where, "sample_idx")
        _check(self.text, str, where, "text")
        for i, step in enumerate(_check(self.steps, list, where, "steps")):
            _check(step, str, where, f"steps[{i}]")


@dataclass
class StepwiseRow(_Record):
    prompt: str
    completions: list[str]
    labels: list[float]
    extra: dict[str, Any] = field(default_factory=dict)

    def validate(self, where: str) -> None:
        _check(self.prompt, str, where, "prompt")
        for i, step in enumerate(_check(self.completions, list, where, "completions")):
            _check(step, str, where, f"completions[{i}]")
        labels = _check(self.labels, list, where, "labels")
        for i, label in enumerate(labels):
            label = labels[i] = _check(label, (float, int), where, f"labels[{i}]")
            if math.isnan(label) or not 0.0 <= label <= 1.0:
                raise RecordError(f"{where}: field 'labels[{i}]' should be in [0, 1], got {label!r}")
        if len(labels) != len(self.completions):
            raise RecordError(
                f"{where}: {len(self.completions)} completions but {len(labels)} labels (one label per step)"
            )
        if not self.completions:
            raise RecordError(f"{where}: field 'completions' is empty")


def read_records(path: str | Path, kind: type[R]) -> Iterator[R]:
    """Typed records from a JSONL file; the first bad one raises RecordError naming its line."""
    for line_no, row in read_jsonl(path):
        yield kind.from_dict(row, where=f"{path} line {line_no}")


def write_records(path: str | Path, records: Iterable[_Record]) -> int:
    return write_jsonl_atomic(path, (r.to_dict() for r in records))


def to_dataset(records: Iterable[_Record]) -> Any:
    """A ``datasets.Dataset`` with one column per field (imported lazily)."""
    import datasets

    rows = [r.to_dict() for r in records]
    columns = list(dict.fromkeys(key for row in rows for key in row))  # every key of every row, in order
    return datasets.Dataset.from_list([{key: row.get(key) for key in columns} for row in rows])


def from_dataset(dataset: Iterable[dict[str, Any]], kind: type[R], name: str = "dataset") -> list[R]:
    return [kind.from_dict(dict(row), where=f"{name} row {i}") for i, row in enumerate(dataset)]
