"""A PRM's step scores on a benchmark, kept so that a rerun (a new threshold, a killed run) does not rescore.

``OUT_DIR/step_scores.jsonl`` holds one ``{"id", "split", "step_scores"}`` line per scored item, appended a
chunk at a time and fsync'd; a torn last line (a kill mid-write) is cut off on open. The settings that shape
the scores (the PRM, its format and options, the benchmark) are kept beside it
(``step_scores.jsonl.meta.json``, :func:`data.journal.check_settings`): resuming with others is refused,
never mixed; ``resume=False`` starts over.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

from data.journal import append_synced, check_settings, cut_tail, discard
from data.jsonl import RecordError

__all__ = ["ScoreStore", "StepScorer", "score_items"]

logger = logging.getLogger(__name__)

StepScores = list[float | None]


class StepScorer(Protocol):
    def score_batch(self, items: Sequence[tuple[str, Sequence[str]]], batch_size: int | None = None
                    ) -> list[StepScores]: ...


class ScoreStore:
    """Step scores by item id, read from and appended to a JSONL file."""

    def __init__(self, path: str | Path, settings: dict[str, Any], resume: bool = True) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not resume:
            discard(self.path)
        check_settings(self.path, settings, RecordError, hint="pass --no-resume to rescore, or another --out-dir")
        self.scores: dict[str, StepScores] = self._read() if self.path.exists() else {}

    def _read(self) -> dict[str, StepScores]:
        scores, good = {}, 0
        with self.path.open("rb") as handle:
            for line in handle:
                try:
                    if not line.endswith(b"\n"):
                        raise ValueError("torn line")
                    row = json.loads(line)
                    scores[str(row["id"])] = row["step_scores"]
                except (ValueError, KeyError, TypeError):
                    break
                good += len(line)
        if good < self.path.stat().st_size:
            logger.info("%s: cut a torn tail after %d items", self.path, len(scores))
            cut_tail(self.path, good)
        return scores

    def add(self, rows: Iterable[dict[str, Any]]) -> None:
        """Append rows ``{"id", "step_scores", ...}`` in one fsync'd write."""
        rows = list(rows)
        with self.path.open("ab") as handle:
            append_synced(handle, rows)
        self.scores.update({str(row["id"]): row["step_scores"] for row in rows})


def score_items(scorer: StepScorer, items: Sequence[Any], store: ScoreStore, batch_size: int = 16,
                chunk: int = 256) -> dict[str, StepScores]:
    """Step scores of every item (``.key``, ``.split``, ``.problem``, ``.steps``): those in ``store`` as they
    are, the others scored ``chunk`` at a time and appended. Returns key -> scores for ``items``."""
    todo = [item for item in items if item.key not in store.scores]
    if len(todo) < len(items):
        logger.info("%s: %d of %d items already scored", store.path, len(items) - len(todo), len(items))
    for start in range(0, len(todo), max(chunk, 1)):
        part = todo[start: start + chunk]
        scores = scorer.score_batch([(item.problem, list(item.steps)) for item in part], batch_size)
        store.add({"id": item.key, "split": item.split, "step_scores": s} for item, s in zip(part, scores, strict=True))
        logger.info("scored %d of %d items", len(items) - len(todo) + start + len(part), len(items))
    return {item.key: store.scores[item.key] for item in items}
