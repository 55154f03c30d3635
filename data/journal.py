"""A resumable job's journal: keyed JSONL rows appended and fsync'd chunk by chunk, recovered after a kill.

Each ``append`` is one write followed by flush and fsync, so after ``kill -9`` the file holds whole rows
and at most one torn last line; reopening cuts that line off (truncating in place) and loads the rest,
so a rerun skips the keys already done and never duplicates one. The settings that shape the rows are
kept beside the file in ``<path>.meta.json``; reopening with other settings is refused, not mixed.

The three primitives under it are shared by every resumable output in the project (``prm sample``'s
``SampleWriter``, ``prm score``, this journal): :func:`check_settings` (the ``.meta.json`` sidecar),
:func:`append_synced` (one write, flush, fsync) and :func:`cut_tail` (truncate a torn tail in place).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

from data.jsonl import RecordError

__all__ = ["JournalMismatch", "RowJournal", "append_synced", "check_settings", "cut_tail", "discard", "settings_path"]

logger = logging.getLogger(__name__)


class JournalMismatch(ValueError):
    """The journal on disk was written with other settings, or holds a key twice."""


def settings_path(path: Path) -> Path:
    """Where the settings of the output ``path`` are kept: ``<path>.meta.json``."""
    return path.with_name(path.name + ".meta.json")


def discard(path: Path, reason: str = "--no-resume") -> None:
    """Delete the output ``path`` and its settings so a run starts it over; a WARNING says what was there."""
    if path.exists():
        logger.warning("%s: deleting %s (%d bytes) to start it over", reason, path, path.stat().st_size)
    path.unlink(missing_ok=True)
    settings_path(path).unlink(missing_ok=True)


def check_settings(path: Path, meta: dict[str, Any] | None, error: type[ValueError] = JournalMismatch,
                   hint: str = "delete it to start over, or use another output") -> None:
    """Refuse to resume ``path`` with settings other than those it was written with; record them when new."""
    if meta is None:
        return
    side = settings_path(path)
    if side.exists() and path.exists():
        old = json.loads(side.read_text(encoding="utf-8"))
        diff = {k: (old.get(k), v) for k, v in meta.items() if old.get(k) != v}
        if diff:
            details = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in diff.items())
            raise error(f"{path} was written with other settings ({details}); {hint}")
        return
    tmp = side.with_name(side.name + ".tmp")
    tmp.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, side)


def append_synced(handle: Any, rows: list[dict[str, Any]]) -> None:
    """Write ``rows`` as JSON lines in one write to a binary append ``handle``, then flush and fsync."""
    handle.write("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8"))
    handle.flush()
    os.fsync(handle.fileno())


def cut_tail(path: Path, keep: int) -> None:
    """Truncate ``path`` to its first ``keep`` bytes (a torn tail left by a kill), durably."""
    logger.warning("%s: cutting a torn tail of %d bytes", path, path.stat().st_size - keep)
    with path.open("r+b") as handle:
        handle.truncate(keep)
        handle.flush()
        os.fsync(handle.fileno())


class RowJournal:
    """Append-only keyed rows; ``rows`` maps each key already on disk to its row (in file order)."""

    def __init__(self, path: str | Path, key: Callable[[dict[str, Any]], Hashable],
                 meta: dict[str, Any] | None = None) -> None:
        self.path = Path(path)
        self.key = key
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._check_meta(meta)
        self.rows: dict[Hashable, dict[str, Any]] = self._recover() if self.path.exists() else {}
        self._handle = self.path.open("ab")

    @property
    def meta_path(self) -> Path:
        return settings_path(self.path)

    def _check_meta(self, meta: dict[str, Any] | None) -> None:
        check_settings(self.path, meta)

    def _recover(self) -> dict[Hashable, dict[str, Any]]:
        """The rows of the existing file; a torn last line (no newline, or not JSON) is cut off."""
        raw = self.path.read_bytes()
        rows: dict[Hashable, dict[str, Any]] = {}
        good = 0
        lines = raw.split(b"\n")
        for line_no, line in enumerate(lines[:-1], start=1):  # the piece after the last newline is torn
            try:
                row = json.loads(line)
            except ValueError as error:
                if line_no < len(lines) - 1:
                    raise RecordError(f"{self.path} line {line_no}: not valid JSON in the middle of the journal "
                                      f"({error})") from error
                break  # the last line was cut inside a write
            key = self.key(row)
            if key in rows:
                raise JournalMismatch(f"{self.path} line {line_no}: key {key!r} appears twice")
            rows[key] = row
            good += len(line) + 1
        if good < len(raw):
            cut_tail(self.path, good)
        return rows

    def done(self, key: Hashable) -> bool:
        return key in self.rows

    def append(self, rows: list[dict[str, Any]]) -> None:
        """Write ``rows`` in one write, then flush and fsync; a key already in the journal raises ValueError."""
        keys = [self.key(row) for row in rows]
        repeated = [k for k in keys if k in self.rows]
        if repeated or len(set(keys)) < len(keys):
            raise ValueError(f"keys already in {self.path}: {repeated[:5] or keys}")
        append_synced(self._handle, rows)
        self.rows.update(zip(keys, rows, strict=True))

    def remove(self) -> None:
        """Delete the journal and its settings (the job's real output has been written)."""
        self.close()
        self.path.unlink(missing_ok=True)
        self.meta_path.unlink(missing_ok=True)

    def close(self) -> None:
        if not self._handle.closed:
            self._handle.close()

    def __enter__(self) -> RowJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
