"""JSON Lines I/O with errors that name the file, line and field, and atomic rewrites."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

__all__ = ["RecordError", "read_jsonl", "write_jsonl_atomic", "require_field"]


class RecordError(ValueError):
    """A record on disk is malformed; the message names the file, the line and the field."""


def read_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) for each non-blank line; malformed lines raise RecordError."""
    path = Path(path)
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise RecordError(f"{path} line {line_no}: not valid JSON ({error.msg})") from error
            if not isinstance(record, dict):
                raise RecordError(f"{path} line {line_no}: expected a JSON object, got {type(record).__name__}")
            yield line_no, record


def require_field(record: dict[str, Any], names: tuple[str, ...], where: str, kind: type = str) -> Any:
    """The first of ``names`` present in ``record``, type-checked; RecordError naming them if none."""
    for name in names:
        if name in record and record[name] is not None:
            value = record[name]
            if kind is str and isinstance(value, int | float) and not isinstance(value, bool):
                value = str(value)
            if not isinstance(value, kind):
                raise RecordError(f"{where}: field {name!r} should be {kind.__name__}, got {type(value).__name__}")
            return value
    raise RecordError(f"{where}: missing field {' / '.join(repr(n) for n in names)}")


def write_jsonl_atomic(path: str | Path, records: Iterable[dict[str, Any]]) -> int:
    """Write all records to a temporary file, then rename it over ``path``: never a half file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    count = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
                count += 1
        os.chmod(tmp_name, 0o644)  # mkstemp creates 0600; outputs are meant to be shared
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return count
