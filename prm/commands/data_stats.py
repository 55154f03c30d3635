"""``prm data stats FILE``: Markdown statistics of a problem file (or a stepwise file).

For problems: counts per subject and level; steps per reference solution; answer types; and, with
``--check`` (the default), the share of reference steps whose arithmetic claims all verify under
:func:`verifiers.check_steps` and the share of boxed answers that verify equal to ``answer``.
For stepwise rows (``prompt``/``completions``/``labels``): steps per row and label balance.
"""

from __future__ import annotations

import argparse
import collections
import logging
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from data.jsonl import RecordError, read_jsonl
from data.records import Problem, StepwiseRow
from data.segment import split_steps
from data.synth import answer_type, check_reference

logger = logging.getLogger(__name__)


@dataclass
class DataStatsConfig:
    check: bool = field(default=True, metadata={"help": "check reference steps and boxed answers (slower)"})


CONFIG = DataStatsConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="JSONL file of problems or stepwise rows")


def _table(header: list[str], rows: list[list[Any]]) -> str:
    align = ["---"] + ["---:"] * (len(header) - 1)
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "n/a"


def _level_table(problems: list[Problem]) -> str:
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for problem in problems:
        counts[problem.subject or "?"][str(problem.level) if problem.level is not None else "?"] += 1
    levels = sorted({level for counter in counts.values() for level in counter})
    rows = [[subject, *(counter[level] for level in levels), sum(counter.values())]
            for subject, counter in sorted(counts.items())]
    total = collections.Counter()
    for counter in counts.values():
        total.update(counter)
    rows.append(["**all**", *(total[level] for level in levels), len(problems)])
    return _table(["subject", *(f"level {level}" for level in levels), "problems"], rows)


@dataclass
class _Tally:
    steps: list[int] = field(default_factory=list)
    chars: list[int] = field(default_factory=list)
    checked_steps: int = 0
    verified_steps: int = 0
    claimless_steps: int = 0
    checked: int = 0
    answers_ok: int = 0

    def row(self, name: str, check: bool) -> list[Any]:
        if not self.steps:
            return [name, 0, "n/a", "n/a", "n/a", "n/a", "n/a", "n/a", "n/a"]
        cells = [name, len(self.steps), min(self.steps), f"{statistics.fmean(self.steps):.2f}", max(self.steps),
                 f"{statistics.fmean(self.chars):.0f}"]
        if not check:
            return cells + ["-", "-", "-"]
        return cells + [_share(self.verified_steps, self.checked_steps), _share(self.claimless_steps,
                                                                                  self.checked_steps),
                        _share(self.answers_ok, self.checked)]

    def add(self, other: _Tally) -> None:
        for name in ("steps", "chars"):
            getattr(self, name).extend(getattr(other, name))
        for name in ("checked_steps", "verified_steps", "claimless_steps", "checked", "answers_ok"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def _solution_table(problems: list[Problem], check: bool) -> str:
    tallies: dict[str, _Tally] = collections.defaultdict(_Tally)
    for problem in problems:
        if not problem.solution:
            continue
        tally = tallies[problem.subject or "?"]
        tally.chars.append(len(problem.solution))
        if not check:
            tally.steps.append(len(split_steps(problem.solution)))
            continue
        result = check_reference(problem)
        tally.steps.append(result.steps)
        tally.checked += 1
        tally.checked_steps += result.steps
        tally.verified_steps += sum(result.steps_ok)
        tally.claimless_steps += sum(1 for n in result.claims_per_step if n == 0)
        tally.answers_ok += result.answer_ok
    total = _Tally()
    rows = []
    for subject, tally in sorted(tallies.items()):
        rows.append(tally.row(subject, check))
        total.add(tally)
    rows.append(total.row("**all**", check))
    header = ["subject", "solutions", "steps min", "steps mean", "steps max", "chars mean",
              "steps all claims hold", "steps without claims", "boxed answer verifies"]
    return _table(header, rows)


def _answer_table(problems: list[Problem]) -> str:
    counts = collections.Counter(answer_type(problem.answer) for problem in problems)
    rows = [[kind, count, _share(count, len(problems))] for kind, count in counts.most_common()]
    return _table(["answer type", "count", "share"], rows)


def problem_stats(problems: list[Problem], check: bool = True) -> str:
    """The Markdown report for a list of problems."""
    return "\n\n".join([
        f"## {len(problems)} problems by subject and level", _level_table(problems),
        "## Reference solutions", _solution_table(problems, check),
        "## Answer types", _answer_table(problems),
    ]) + "\n"


def stepwise_stats(rows: list[StepwiseRow]) -> str:
    steps = [len(row.completions) for row in rows]
    labels = [label for row in rows for label in row.labels]
    positive = sum(label >= 0.5 for label in labels)
    flawed = sum(any(label < 0.5 for label in row.labels) for row in rows)
    table = _table(["rows", "steps min", "steps mean", "steps max", "labels >= 0.5", "rows with a step < 0.5"],
                   [[len(rows), min(steps, default=0), f"{statistics.fmean(steps) if steps else 0:.2f}",
                     max(steps, default=0), _share(positive, len(labels)), _share(flawed, len(rows))]])
    return f"## {len(rows)} stepwise rows\n\n{table}\n"


def run(config: DataStatsConfig, args: argparse.Namespace) -> int:
    try:
        rows = [(line_no, row) for line_no, row in read_jsonl(args.file)]
        if rows and "completions" in rows[0][1] and "labels" in rows[0][1]:
            records = [StepwiseRow.from_dict(row, where=f"{args.file} line {n}") for n, row in rows]
            report = stepwise_stats(records)
        else:
            problems = [Problem.from_dict(row, where=f"{args.file} line {n}") for n, row in rows]
            report = problem_stats(problems, check=config.check)
    except (RecordError, OSError) as error:
        logger.error("%s", error)
        return 2
    sys.stdout.write(report)
    return 0
