"""Inputs of the best-of-N harness: scored samples joined to their problems, verdicts and step labels.

- :func:`read_samples` reads sample JSONL files as plain dicts (unknown fields kept);
- :func:`fill_verdicts` verifies samples that have no ``verdict`` (``verifiers.verify_many`` against the
  gold answer of their problem), in memory; ``write_samples`` writes them back when asked;
- :func:`build_problems` groups samples by ``problem_id`` (ordered by ``sample_idx``) into
  :class:`eval.bon.BonProblem` with the breakdown fields (``subject``, ``level``, ``family``) and, per
  correct-answer sample, whether every step is right (``step_ok``).

``step_ok`` comes from, in order: a ``step_labels`` field (a step is wrong when its label is ``<=
WRONG_LABEL_AT``), a ``first_error`` field, or exact labels (``data.labelling.exact_labels``: step
arithmetic checks) when the problem is synthetic or GSM8K-like. Mode ``"field"`` uses the fields only,
``"exact"`` forces exact labels, ``"none"`` skips the count.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from data.jsonl import RecordError, read_jsonl, require_field, write_jsonl_atomic
from data.labelling import Unlabellable, exact_labels, solution_steps
from data.records import Problem
from eval.answers import AnswerClusterer
from eval.bon import BonProblem
from eval.selection import Group
from eval.steps_eval import first_error_from_labels
from verifiers import Status, VerifyConfig, verify_many

__all__ = ["STEP_LABEL_MODES", "VERDICT_NAMES", "build_problems", "fill_verdicts", "read_samples", "write_samples"]

logger = logging.getLogger(__name__)

VERDICT_NAMES = {Status.EQUAL: "correct", Status.NOT_EQUAL: "incorrect",
                 Status.UNPARSABLE: "unparsable", Status.TIMEOUT: "timeout"}
StepLabelMode = Literal["auto", "field", "exact", "none"]
STEP_LABEL_MODES: tuple[str, ...] = ("auto", "field", "exact", "none")
_EXACT_SOURCES = ("synth", "gsm8k")


def read_samples(path: str | Path) -> list[dict[str, Any]]:
    """Sample rows of a JSONL file; a row without ``problem_id`` or ``text`` raises RecordError."""
    rows = []
    for line_no, row in read_jsonl(path):
        where = f"{path} line {line_no}"
        require_field(row, ("problem_id",), where)
        require_field(row, ("text",), where)
        rows.append(row)
    return rows


def write_samples(path: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write sample rows back atomically (after ``fill_verdicts``)."""
    return write_jsonl_atomic(path, rows)


def fill_verdicts(rows: Sequence[dict[str, Any]], gold: dict[str, str], workers: int = 1,
                  config: VerifyConfig | None = None) -> int:
    """Add ``verdict`` (and ``extracted_answer``) to rows that lack one; returns how many were verified."""
    missing = [row for row in rows if row.get("verdict") is None]
    todo = [row for row in missing if str(row["problem_id"]) in gold]
    if len(todo) < len(missing):
        example = next(str(row["problem_id"]) for row in missing if str(row["problem_id"]) not in gold)
        if not gold:
            raise RecordError(f"{len(missing)} samples have no verdict and no gold answer (give --problems), "
                              f"e.g. problem_id {example!r}")
        logger.warning("%d samples without a verdict have no problem in the problems file, e.g. %r",
                       len(missing) - len(todo), example)
    if not todo:
        return 0
    start = time.perf_counter()
    verdicts = verify_many([(gold[str(row["problem_id"])], row["text"]) for row in todo], workers, config)
    for row, verdict in zip(todo, verdicts, strict=True):
        row["verdict"] = VERDICT_NAMES[verdict.status]
        if verdict.pred is not None:
            row.setdefault("extracted_answer", verdict.pred)
    logger.info("verified %d samples in %.1f s", len(todo), time.perf_counter() - start)
    return len(todo)


def _exact_step_ok(row: dict[str, Any], problem: Problem, skipped: Counter[str]) -> bool | None:
    steps = [s for s in row.get("steps") or [] if isinstance(s, str)] or solution_steps(row["text"], problem.source)
    try:
        return exact_labels(steps, problem.answer, missing_answer="ignore").first_error < 0
    except Unlabellable as error:
        skipped[str(error)] += 1
        return None


def step_ok(row: dict[str, Any], problem: Problem | None, mode: StepLabelMode = "auto",
            skipped: Counter[str] | None = None) -> bool | None:
    """For a correct-answer sample: whether every step is right (None: unknown or not a correct answer)."""
    if row.get("verdict") != "correct" or mode == "none":
        return None
    if mode in ("auto", "field"):
        if isinstance(row.get("step_labels"), list) and row["step_labels"]:
            return first_error_from_labels(row["step_labels"]) < 0
        if isinstance(row.get("first_error"), int):
            return row["first_error"] < 0
    if problem is None or mode == "field":
        return None
    if mode == "exact" or any(tag in problem.source.lower() for tag in _EXACT_SOURCES):
        return _exact_step_ok(row, problem, skipped if skipped is not None else Counter())
    return None


def problem_meta(problem: Problem) -> dict[str, str]:
    """Breakdown fields of a problem: subject, level, family (``family`` field, else ``synth/<family>/`` ids)."""
    meta = {"subject": problem.subject, "level": problem.level, "family": problem.extra.get("family")}
    if meta["family"] is None and problem.id.startswith("synth/") and problem.id.count("/") >= 2:
        meta["family"] = problem.id.split("/")[1]
    return {key: str(value) for key, value in meta.items() if value is not None and str(value) != ""}


def build_problems(rows: Sequence[dict[str, Any]], problems: Sequence[Problem] | None = None,
                   step_labels: StepLabelMode = "auto",
                   clusterer: AnswerClusterer | None = None) -> tuple[list[BonProblem], list[str]]:
    """Samples grouped per problem (ordered by ``sample_idx``) and notes on what was left out."""
    by_id = {p.id: p for p in problems} if problems is not None else None
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(str(row["problem_id"]), []).append(row)
    notes: list[str] = []
    if by_id is not None:
        unknown = [pid for pid in grouped if pid not in by_id]
        if unknown:
            notes.append(f"{len(unknown)} problem id(s) in the samples are not in the problems file (left out), "
                         f"e.g. {unknown[0]!r}")
        without = len(set(by_id) - set(grouped))
        if without:
            notes.append(f"{without} problem(s) have no samples (left out)")
    clusterer = clusterer or AnswerClusterer()
    skipped: Counter[str] = Counter()
    start = time.perf_counter()
    out = []
    for pid, group_rows in grouped.items():
        problem = by_id.get(pid) if by_id is not None else None
        if by_id is not None and problem is None:
            continue
        group_rows.sort(key=lambda r: r.get("sample_idx", 0))
        labels = [step_ok(r, problem, step_labels, skipped) for r in group_rows]
        out.append(BonProblem(pid, Group(group_rows, clusterer), problem_meta(problem) if problem else {}, labels))
    if skipped:
        notes.append("exact step labels: " + ", ".join(f"{n} {why}" for why, n in skipped.most_common()))
    logger.info("grouped %d samples into %d problems in %.1f s", len(rows), len(out), time.perf_counter() - start)
    return out, notes
