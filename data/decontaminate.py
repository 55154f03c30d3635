"""Decontamination check: which training problems are also evaluation problems (torch-free).

``find_overlaps(train, evaluation)`` takes ``(id, problem text)`` pairs and returns an ``OverlapReport``:
one ``Overlap`` per distinct training problem text found in the evaluation set, matched

* exactly: the same string, or else
* after normalisation (``normalise_problem``): lower case; ``$`` and ``\\$`` dropped; ``\\left`` and
  ``\\right`` dropped (their delimiters stay); the LaTeX spaces ``\\,`` ``\\;`` ``\\:`` ``\\!`` ``\\ `` ``~``
  ``\\quad`` ``\\qquad`` read as a space; runs of whitespace collapsed to one space, and spaces next to
  anything but a letter or digit dropped (so ``\\frac {1} {2}`` = ``\\frac{1}{2}`` and ``( x )`` = ``(x)``,
  while ``is a`` stays apart from ``isa``).

Nothing fuzzier: a reworded problem, or one with other numbers, is not found.
``check_overlaps(train, eval_spec)`` loads the evaluation problems with ``data.loaders.load_problems``
(``"math500"``: the local copy, else the hub) and logs a WARNING naming how many training problems
overlap and a few of them. A built-in or hub set that cannot be loaded (no local copy and the hub
unreachable, which costs ``datasets`` some retries, or ``HF_HUB_OFFLINE=1``) is logged at INFO and
skipped; a local path that is missing or cannot be read raises. ``"none"`` skips the check.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from data.loaders import BUILTINS, load_problems_with_report, local_dataset_dirs
from data.records import StepwiseRow

__all__ = ["Overlap", "OverlapReport", "check_overlaps", "find_overlaps", "load_eval_problems", "normalise_problem",
           "stepwise_problems"]

logger = logging.getLogger(__name__)

SKIP = ("", "none")
_FILE_SUFFIXES = (".jsonl", ".json", ".parquet")
_DOLLARS = re.compile(r"\\?\$")
_DELIMITER_SIZES = re.compile(r"\\(?:left|right)(?![A-Za-z])")
_SPACES = re.compile(r"\\[,;:! ]|~|\\q?quad(?![A-Za-z])")
_WHITESPACE = re.compile(r"\s+")
_SPACE_AT_SYMBOL = re.compile(r" ?([^\w ]) ?")


def normalise_problem(text: str) -> str:
    """The text compared after exact matching fails (see the module docstring)."""
    text = _DOLLARS.sub("", text.lower())
    text = _DELIMITER_SIZES.sub("", text)
    text = _WHITESPACE.sub(" ", _SPACES.sub(" ", text)).strip()
    return _SPACE_AT_SYMBOL.sub(r"\1", text)


@dataclass(frozen=True)
class Overlap:
    """A training problem that is an evaluation problem: its first id, how many rows carry it, how it matched."""

    train_id: str
    eval_id: str
    text: str
    exact: bool
    rows: int = 1


@dataclass
class OverlapReport:
    """What ``find_overlaps`` found: distinct problems on each side and the overlapping training problems."""

    eval_source: str
    train_problems: int
    eval_problems: int
    overlaps: list[Overlap] = field(default_factory=list)

    @property
    def exact(self) -> int:
        return sum(o.exact for o in self.overlaps)

    @property
    def rows(self) -> int:
        return sum(o.rows for o in self.overlaps)

    def summary(self, examples: int = 3) -> str:
        if not self.overlaps:
            return (f"no training problem of {self.train_problems} is in {self.eval_source} "
                    f"({self.eval_problems} problems; exact and normalised text)")
        shown = "; ".join(f"{o.train_id} = {self.eval_source} {o.eval_id} ({'exact' if o.exact else 'normalised'}): "
                          f"{_short(o.text)!r}" for o in self.overlaps[:examples])
        return (f"{len(self.overlaps)} of {self.train_problems} training problems ({self.rows} rows) are "
                f"{self.eval_source} problems ({self.exact} identical text, {len(self.overlaps) - self.exact} "
                f"after normalisation): training on them inflates results on {self.eval_source}; e.g. {shown}")


def _short(text: str, width: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def find_overlaps(train: Iterable[tuple[str, str]], evaluation: Iterable[tuple[str, str]],
                  eval_source: str = "the evaluation set") -> OverlapReport:
    """Distinct training problems (by text) that are evaluation problems, exactly or after normalisation."""
    exact: dict[str, str] = {}
    normal: dict[str, str] = {}
    for eval_id, text in evaluation:
        exact.setdefault(text, eval_id)
        normal.setdefault(normalise_problem(text), eval_id)
    first_id: dict[str, str] = {}
    rows: dict[str, int] = {}
    for train_id, text in train:
        first_id.setdefault(text, train_id)
        rows[text] = rows.get(text, 0) + 1
    overlaps = []
    for text, train_id in first_id.items():
        if text in exact:
            overlaps.append(Overlap(train_id, exact[text], text, True, rows[text]))
        elif (key := normalise_problem(text)) in normal:
            overlaps.append(Overlap(train_id, normal[key], text, False, rows[text]))
    return OverlapReport(eval_source, len(first_id), len(exact), overlaps)


def stepwise_problems(rows: Sequence[StepwiseRow], name: str = "training row", first: int = 0) -> list[tuple[str, str]]:
    """(id, prompt) of each row: its ``problem_id`` column, else ``<name> <index counted from first>``."""
    return [(str(row.extra.get("problem_id") or f"{name} {i}"), row.prompt) for i, row in enumerate(rows, first)]


def _offline() -> bool:
    return any(os.environ.get(name, "").strip().upper() in ("1", "ON", "YES", "TRUE")
               for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def _local(spec: str, split: str | None) -> bool:
    """Whether ``spec`` names a local file or folder, or a built-in with a local copy: its errors are the user's."""
    if Path(spec).expanduser().exists() or spec.startswith((".", "/", "~")) or spec.endswith(_FILE_SUFFIXES):
        return True
    return spec in BUILTINS and any((d / spec / f"{split or 'test'}.jsonl").is_file() for d in local_dataset_dirs())


def load_eval_problems(spec: str | None, split: str | None = None) -> tuple[str, list[tuple[str, str]]] | None:
    """(source name, [(id, problem)]) of an evaluation set, or None when skipped ("none") or not loadable
    offline (a built-in name or hub id; logged at INFO). A local path that is missing or unreadable raises."""
    if spec is None or spec.strip().lower() in SKIP:
        return None
    local = _local(spec, split)
    if not local and _offline():
        logger.info("decontamination check skipped: no local copy of %r and the hub is off (HF_HUB_OFFLINE / "
                    "HF_DATASETS_OFFLINE)", spec)
        return None
    try:
        problems, report = load_problems_with_report(spec, split)
    except Exception as error:  # the hub: offline, unknown id, ... anything; the check is advisory
        if local:
            raise
        logger.info("decontamination check skipped: evaluation problems %r could not be loaded (%s: %s)",
                    spec, type(error).__name__, error)
        return None
    return report.source, [(p.id, p.problem) for p in problems]


def check_overlaps(train: Iterable[tuple[str, str]], eval_spec: str | None, split: str | None = None,
                   examples: int = 3) -> OverlapReport | None:
    """Compare training problems with ``eval_spec``'s; WARNING when any overlap, INFO when none; None if skipped."""
    loaded = load_eval_problems(eval_spec, split)
    if loaded is None:
        return None
    source, evaluation = loaded
    report = find_overlaps(train, evaluation, source)
    logger.log(logging.WARNING if report.overlaps else logging.INFO, "decontamination: %s", report.summary(examples))
    return report
