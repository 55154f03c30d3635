"""``prm verify FILE``: verdicts for every row of a JSONL file, plus a summary.

Rows may be ``{"gold", "pred"}`` pairs, or sample records (``text`` plus ``answer``/``gold``, or
``problem_id`` joined with the problems of ``--problems``, read by :func:`data.loaders.load_problems`).
Writes the rows with ``verdict`` (correct / incorrect / unparsable / timeout), ``extracted_answer`` and
``verdict_reason`` added, atomically.
"""

from __future__ import annotations

import argparse
import collections
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from data.jsonl import RecordError, read_jsonl, require_field, write_jsonl_atomic
from prm.cli_contract import shared
from verifiers import Status, VerifyConfig, verify_many

logger = logging.getLogger(__name__)

VERDICT_NAMES = {Status.EQUAL: "correct", Status.NOT_EQUAL: "incorrect",
                 Status.UNPARSABLE: "unparsable", Status.TIMEOUT: "timeout"}
PRED_FIELDS = ("pred", "text", "completion")
GOLD_FIELDS = ("gold", "answer")


@dataclass
class VerifyCommandConfig:
    problems: str | None = shared("problems", detail="gold answers, joined to rows with a problem_id")
    output: str | None = shared("output", detail="JSONL of verdicts (default: FILE with .verified.jsonl)")
    workers: int = shared("workers", 2)
    timeout_s: float = shared("timeout_s", 3.0)
    rel_tol: float = field(default=1e-6, metadata={"help": "relative tolerance when decimals are involved"})
    percent: Literal["both", "number", "fraction"] = field(default="both", metadata={"help": "what 10%% may equal"})


CONFIG = VerifyCommandConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="JSONL file of (gold, pred) pairs or sample records")


def _gold_by_problem(spec: str) -> dict[str, str]:
    """Gold answers by problem id, read as ``prm sample`` reads problems (so the ids match its samples)."""
    from data.loaders import load_problems

    return {problem.id: problem.answer for problem in load_problems(spec)}


def _pairs(path: Path, answers: dict[str, str] | None) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    rows, pairs = [], []
    for line_no, row in read_jsonl(path):
        where = f"{path} line {line_no}"
        pred = require_field(row, PRED_FIELDS, where)
        if answers is not None and "problem_id" in row:
            key = str(row["problem_id"])
            if key not in answers:
                raise RecordError(f"{where}: problem_id {key!r} is not in the problems file")
            gold = answers[key]
        else:
            gold = require_field(row, GOLD_FIELDS, where + " (or give --problems to join on problem_id)")
        rows.append(row)
        pairs.append((gold, pred))
    return rows, pairs


def summarize(counts: collections.Counter, seconds: float) -> str:
    total = sum(counts.values())
    lines = ["| verdict | count | share |", "|---|---:|---:|"]
    for name in VERDICT_NAMES.values():
        lines.append(f"| {name} | {counts[name]} | {counts[name] / max(total, 1):.1%} |")
    lines.append(f"| total | {total} | {total / max(seconds, 1e-9):.0f} pairs/s |")
    return "\n".join(lines)


def run(config: VerifyCommandConfig, args: argparse.Namespace) -> int:
    try:
        answers = _gold_by_problem(config.problems) if config.problems else None
        rows, pairs = _pairs(args.file, answers)
    except RecordError as error:
        logger.error("%s", error)
        return 2
    verify_config = VerifyConfig(timeout_s=config.timeout_s, rel_tol=config.rel_tol, percent=config.percent)
    start = time.perf_counter()
    verdicts = verify_many(pairs, workers=config.workers, config=verify_config)
    seconds = time.perf_counter() - start
    counts: collections.Counter = collections.Counter()
    for row, verdict in zip(rows, verdicts, strict=True):
        row["verdict"] = VERDICT_NAMES[verdict.status]
        row["extracted_answer"] = verdict.pred
        row["verdict_reason"] = verdict.reason
        counts[row["verdict"]] += 1
    out = Path(config.output) if config.output else args.file.with_suffix(".verified.jsonl")
    write_jsonl_atomic(out, rows)
    logger.info("wrote %d verdicts to %s", len(rows), out)
    sys.stdout.write(summarize(counts, seconds) + "\n")
    return 0
