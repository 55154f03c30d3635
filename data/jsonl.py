"""JSON Lines I/O with errors that name the file, line and field, and atomic rewrites."""

from __future__ import annotations

import codecs
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
    """Yield (line number, object) for each non-blank line; malformed lines raise RecordError.

    Malformed means: not UTF-8, not JSON (also nested too deeply, or an integer too long to convert), not an
    object, or holding a string with an unpaired surrogate escape (``"\\ud800"``: not valid Unicode, it
    cannot be written back as UTF-8 nor tokenized). A UTF-8 byte-order mark before the first line is skipped.
    """
    path = Path(path)
    with path.open("rb") as handle:
        for line_no, raw in enumerate(handle, start=1):
            where = f"{path} line {line_no}"
            line = _decode(raw[3:] if line_no == 1 and raw.startswith(codecs.BOM_UTF8) else raw, where)
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise RecordError(f"{where}: not valid JSON ({error.msg}, column {error.colno})") from error
            except RecursionError as error:
                raise RecordError(f"{where}: not usable JSON (nested too deeply)") from error
            except ValueError as error:  # e.g. an integer literal longer than Python converts
                raise RecordError(f"{where}: not usable JSON ({error})") from error
            if not isinstance(record, dict):
                raise RecordError(f"{where}: expected a JSON object, got {type(record).__name__}")
            if b"\\ud" in raw or b"\\uD" in raw:  # only an escape can smuggle in a lone surrogate
                _check_unicode(record, where)
            yield line_no, record


def _decode(raw: bytes, where: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise RecordError(
            f"{where}: not UTF-8 text (byte 0x{raw[error.start]:02x} at byte {error.start + 1} of the line)"
        ) from error


def _check_unicode(record: dict[str, Any], where: str) -> None:
    """RecordError naming the first field whose string (or key) holds an unpaired surrogate."""
    stack: list[tuple[str, Any]] = [(repr(key), value) for key, value in record.items()]
    stack += [(repr(key), key) for key in record]
    while stack:
        name, value = stack.pop()
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as error:
                raise RecordError(f"{where}: field {name} holds an unpaired surrogate "
                                  f"{value[error.start]!r} at character {error.start} (not valid Unicode)") from None
        elif isinstance(value, dict):
            stack += [(f"{name}[{key!r}]", item) for key, item in value.items()]
            stack += [(f"{name} key", key) for key in value]
        elif isinstance(value, list):
            stack += [(f"{name}[{i}]", item) for i, item in enumerate(value)]


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
