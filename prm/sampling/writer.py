"""Resumable sample output: whole problems appended to a JSONL file, fsync'd, recovered after a kill.

A problem's ``n`` samples are written in one ``write`` then flushed and fsync'd, so after a kill the
file holds complete problem groups followed by at most one torn group (some of a problem's lines,
perhaps a last line without its newline). :class:`SampleWriter` recovers on open: it drops a
trailing partial line and a trailing incomplete group (truncating the file in place), and reports
the completed problem ids so a rerun skips them. A sample is thus never duplicated or lost.

The sampling settings that shape the samples (model, n, temperature, top_p, max_new_tokens) are kept
beside the file in ``<out>.meta.json``; resuming with different ones is refused, not mixed.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from data.journal import append_synced, check_settings, cut_tail
from data.jsonl import RecordError

__all__ = ["ResumeMismatch", "SampleWriter"]

logger = logging.getLogger(__name__)


class ResumeMismatch(ValueError):
    """The existing output was made with other settings, or is not a file this writer wrote."""


class SampleWriter:
    """Append-only writer of complete problem groups; ``completed`` holds the problem ids already done."""

    def __init__(self, path: str | Path, n: int, meta: dict[str, Any] | None = None) -> None:
        self.path = Path(path)
        self.n = n
        self.dropped_samples = 0
        self.dropped_partial_line = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._check_meta(meta)
        self.completed: list[str] = self._recover() if self.path.exists() else []
        self._done = set(self.completed)
        self._handle = self.path.open("ab")

    def _check_meta(self, meta: dict[str, Any] | None) -> None:
        check_settings(self.path, meta, ResumeMismatch, hint="pass --no-resume to start it over, or another --output")

    def _recover(self) -> list[str]:
        """Completed problem ids of the existing file; a torn tail is cut off."""
        raw = self.path.read_bytes()
        complete_end = raw.rfind(b"\n") + 1
        self.dropped_partial_line = complete_end < len(raw)
        groups: list[tuple[str, list[int], int]] = []  # (problem_id, sample indices, byte offset of its start)
        offset = 0
        for line_no, line in enumerate(raw[:complete_end].split(b"\n")[:-1], start=1):
            if line.strip():
                pid, idx = self._parse(line, line_no)
                if groups and groups[-1][0] == pid:
                    groups[-1][1].append(idx)
                else:
                    groups.append((pid, [idx], offset))
            offset += len(line) + 1
        keep_end = complete_end
        if groups and not self._is_complete(groups[-1][1]):
            pid, indices, start = groups.pop()
            self.dropped_samples, keep_end = len(indices), start
        self._check_groups(groups)
        if keep_end < len(raw):
            cut_tail(self.path, keep_end)
            logger.info("%s: dropped a torn tail (%d incomplete samples%s)", self.path, self.dropped_samples,
                        ", a partial line" if self.dropped_partial_line else "")
        return [pid for pid, _, _ in groups]

    def _parse(self, line: bytes, line_no: int) -> tuple[str, int]:
        where = f"{self.path} line {line_no}"
        try:
            row = json.loads(line)
            return str(row["problem_id"]), int(row["sample_idx"])
        except (ValueError, KeyError, TypeError) as error:
            raise RecordError(f"{where}: not a sample record ({error})") from error

    def _is_complete(self, indices: list[int]) -> bool:
        return sorted(indices) == list(range(self.n))

    def _check_groups(self, groups: list[tuple[str, list[int], int]]) -> None:
        seen: set[str] = set()
        for pid, indices, _ in groups:
            if pid in seen:
                raise ResumeMismatch(f"{self.path}: problem {pid!r} appears in two separate groups")
            if not self._is_complete(indices):
                raise ResumeMismatch(
                    f"{self.path}: problem {pid!r} has sample_idx {sorted(indices)[:8]}..., expected 0..{self.n - 1}"
                )
            seen.add(pid)

    def is_done(self, problem_id: str) -> bool:
        return problem_id in self._done

    def write_problem(self, records: list[dict[str, Any]]) -> None:
        """Append one problem's ``n`` records at once, then flush and fsync."""
        if len(records) != self.n or len({r["problem_id"] for r in records}) != 1:
            raise ValueError(f"write_problem takes the {self.n} samples of one problem, got {len(records)}")
        pid = str(records[0]["problem_id"])
        if pid in self._done:
            raise ValueError(f"problem {pid!r} is already in {self.path}")
        append_synced(self._handle, records)
        self._done.add(pid)
        self.completed.append(pid)

    def close(self) -> None:
        if not self._handle.closed:
            self._handle.close()

    def __enter__(self) -> SampleWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
