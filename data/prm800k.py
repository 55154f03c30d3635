"""PRM800K by phase: which of OpenAI's PRM800K files (or rows) become training rows.

PRM800K ships ``phase1_train.jsonl``, ``phase1_test.jsonl``, ``phase2_train.jsonl`` and ``phase2_test.jsonl``
(openai/prm800k ``prm800k/data/``; the hub copies, e.g. tasksource/PRM800K, use the same names).
``load_prm800k(spec, phase, split)`` with ``phase`` "1", "2" or "both":

* a folder holding ``phaseN_*.jsonl`` files: ``phase{N}_{split}.jsonl`` for each phase asked (``split``
  "train" by default), chosen by the file name. ``--phase 1`` or ``2`` without its file is refused, naming
  the missing file and the phase files the folder has; "both" takes the phases present (at least one).
* a file named ``phaseN_*.jsonl``: its phase is the one in its name; asking for the other is refused.
* a hub id: its ``phase{N}_{split}.jsonl`` files, downloaded with ``huggingface_hub`` (same rules).
* any other file or folder (``<split>.jsonl``): the fallback signal, each row's ``generation``. The
  README says "In phase 1, this value should always be null"; phase 2 numbers its generations, -1 being
  the 30 initial screening questions. The real rows in ``shared/datasets/real_schema_samples/prm800k.jsonl``
  agree: four have ``generation: null`` and no ``pre_generated_steps`` (phase 1), two have 6 and -1
  (``is_initial_screening_question``) and ``pre_generated_steps`` (phase 2). A phase asked for that no row
  has is refused, naming the file; so is a row without ``generation`` when a phase is asked.

In a file named by phase the name wins; rows whose ``generation`` says otherwise are kept and counted as
a note in the load report. Rows become ``StepwiseRow`` through ``data.stepwise``'s ``prm800k`` converter.
The test files hold solutions to the MATH-500 problems ("Let's Verify Step by Step" trains on the other
12,000 MATH problems, 4,500 of them from MATH's test split): ``data.decontaminate`` warns about such rows.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any, Literal

from data.jsonl import RecordError
from data.loaders import LoadReport, Rows, convert_rows, open_rows
from data.records import StepwiseRow
from data.stepwise import STEPWISE_FORMATS, StepwiseOptions, detect_stepwise_format, load_stepwise_with_report
from data.stepwise import prm800k_phase as row_phase

__all__ = ["PHASES", "Phase", "file_phase", "is_phase_layout", "load_prm800k", "load_stepwise_phased", "phase_files"]

logger = logging.getLogger(__name__)

Phase = Literal["1", "2", "both"]
PHASES: tuple[str, ...] = ("1", "2", "both")
_NAMED = re.compile(r"phase([12])_(\w+)\.jsonl")
_SIGNAL = "each row's 'generation': null in phase 1, a number in phase 2"


def _wanted(phase: str) -> tuple[int, ...]:
    if str(phase) not in PHASES:
        raise ValueError(f"phase should be one of {', '.join(PHASES)}, got {phase!r}")
    return (1, 2) if str(phase) == "both" else (int(phase),)


def file_phase(path: str | Path) -> int | None:
    """1 or 2 for a file named ``phase1_*.jsonl`` / ``phase2_*.jsonl``, else None."""
    match = _NAMED.fullmatch(Path(path).name)
    return int(match.group(1)) if match else None


def _named_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and file_phase(p)) if folder.is_dir() else []


def _pick(found: dict[int, Path | None], expected: dict[int, str], phase: str, listing: str) -> list[tuple[Path, int]]:
    """The files of the phases asked; refuses a phase asked by number without its file, or "both" with none."""
    wanted = _wanted(phase)
    missing = [p for p in wanted if found.get(p) is None]
    if missing and (len(wanted) == 1 or len(missing) == len(wanted)):
        names = " and ".join(expected[p] for p in missing)
        raise FileNotFoundError(f"{names}: no such file, so --phase {phase} finds no PRM800K "
                                f"phase-{' or '.join(map(str, missing))} rows ({listing})")
    for p in missing:
        logger.info("PRM800K: no phase-%d file (%s); --phase %s uses the other phase", p, expected[p], phase)
    return [(path, p) for p, path in found.items() if p in wanted and path is not None]


def phase_files(folder: str | Path, phase: str = "both", split: str = "train") -> list[tuple[Path, int]]:
    """(file, phase) of ``folder``'s ``phase{N}_{split}.jsonl`` for the phases asked (see the module docstring)."""
    folder = Path(folder)
    expected = {p: folder / f"phase{p}_{split}.jsonl" for p in (1, 2)}
    found = {p: path if path.is_file() else None for p, path in expected.items()}
    listing = f"{folder} holds {', '.join(p.name for p in _named_in(folder)) or 'no phaseN_*.jsonl file'}"
    return _pick(found, {p: str(path) for p, path in expected.items()}, phase, listing)


def _hub_files(repo: str, phase: str, split: str) -> list[tuple[Path, int]]:
    """Download ``phase{N}_{split}.jsonl`` of the hub data set ``repo`` for the phases asked."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    expected = {p: f"phase{p}_{split}.jsonl" for p in (1, 2)}
    found: dict[int, Path | None] = {}
    for p in _wanted(phase):
        try:
            found[p] = Path(hf_hub_download(repo, expected[p], repo_type="dataset"))
        except EntryNotFoundError as error:
            if isinstance(error, FileNotFoundError):  # not cached, and the hub cannot be reached
                raise FileNotFoundError(f"{repo}: cannot get {expected[p]} (no hub, not cached)") from error
            found[p] = None
    return _pick(found, {p: f"{repo}/{name}" for p, name in expected.items()}, phase, f"hub data set {repo}")


def _select(rows: Rows, wanted: tuple[int, ...], named: int | None, seen: Counter[int | None],
            report: LoadReport) -> Rows:
    """The rows of the phases asked: all of a file named by phase (noting disagreeing rows), else by row."""
    for where, row in rows:
        phase = row_phase(row, where)
        seen[phase] += 1
        if named is not None:
            if phase is not None and phase != named:
                report.skip(f"'generation' says phase {phase}, the file name phase {named}: kept", where, note=True)
            yield where, row
        elif len(wanted) == 2 or phase in wanted:
            yield where, row
        elif phase is None:
            raise RecordError(f"{where}: missing field 'generation', PRM800K's phase signal ({_SIGNAL}): "
                              f"cannot select phase {wanted[0]}")


def _peek_format(rows: Rows) -> Rows:
    """``rows`` unchanged, after checking that the first one is a PRM800K row."""
    first = next(rows, None)
    if first is None:
        return iter(())
    try:
        fmt = detect_stepwise_format(first[1])
    except ValueError as error:
        raise RecordError(f"{first[0]}: {error}") from error
    if fmt != "prm800k":
        raise ValueError(f"{first[0]}: not a PRM800K row (its columns are {fmt}'s), and --phase / --prm800k read "
                         f"PRM800K's raw labels (question, label, generation)")
    return _chain(first, rows)


def _chain(first: tuple[str, dict[str, Any]], rest: Rows) -> Rows:
    yield first
    yield from rest


def _sources(spec: str | Path, phase: str, split: str) -> list[tuple[str | Path, int | None]]:
    path = Path(spec).expanduser()
    if path.is_dir() and _named_in(path):
        return list(phase_files(path, phase, split))
    if path.is_file() and (named := file_phase(path)) is not None:
        wanted = _wanted(phase)
        if named not in wanted:
            raise ValueError(f"{path}: a PRM800K phase-{named} file by its name, but --phase {phase} was asked")
        return [(path, named)]
    if path.exists() or str(spec).startswith((".", "/", "~")) or str(spec).endswith(".jsonl"):
        return [(spec, None)]
    return list(_hub_files(str(spec), phase, split))


def _load_one(spec: str | Path, named: int | None, phase: str, split: str,
              opts: StepwiseOptions) -> tuple[list[StepwiseRow], LoadReport]:
    wanted = _wanted(phase)
    source, split_name, rows, _ = open_rows(spec, None if named is not None or Path(spec).is_file() else split)
    report = LoadReport(f"{source} [{split_name}]" + (f" (phase {named})" if named else ""))
    seen: Counter[int | None] = Counter()
    convert = partial(STEPWISE_FORMATS["prm800k"], opts=opts)
    selected = _select(_peek_format(rows), wanted, named, seen, report)
    out = convert_rows(selected, convert, source, split_name, report)
    if named is None and len(wanted) == 1 and not seen[wanted[0]]:
        counts = ", ".join(f"phase {p}: {n}" for p, n in sorted(seen.items(), key=str)) or "no rows"
        raise ValueError(f"{spec}: no PRM800K phase-{wanted[0]} rows for --phase {phase} "
                         f"(phase told by {_SIGNAL}; {counts})")
    return out, report


def load_prm800k(spec: str | Path, phase: str = "both", split: str = "train",
                 **options: Any) -> tuple[list[StepwiseRow], list[LoadReport]]:
    """PRM800K rows of the phases asked, and one load report per file (see the module docstring).

    ``options`` are ``data.stepwise.StepwiseOptions`` fields (``neutral``, ``keep_after_error``, ...).
    """
    opts = StepwiseOptions(**options)
    rows: list[StepwiseRow] = []
    reports: list[LoadReport] = []
    for source, named in _sources(spec, str(phase), split):
        made, report = _load_one(source, named, str(phase), split, opts)
        rows.extend(made)
        reports.append(report)
    logger.info("PRM800K %s, phase %s: %d rows from %s", spec, phase, len(rows), ", ".join(r.source for r in reports))
    return rows, reports


def is_phase_layout(spec: str | Path) -> bool:
    """Whether ``spec`` is a PRM800K file named by phase or a folder holding such files."""
    path = Path(spec).expanduser()
    return bool(path.is_file() and file_phase(path) or path.is_dir() and _named_in(path))


def load_stepwise_phased(spec: str | Path, phase: str = "both", split: str = "train") -> list[StepwiseRow]:
    """Stepwise rows of any format (``data.stepwise``), through ``load_prm800k`` when a phase is asked or
    ``spec`` is laid out by phase; what ``prm train --data --phase`` reads."""
    if str(phase) != "both" or is_phase_layout(spec):
        return load_prm800k(spec, phase, split)[0]
    return load_stepwise_with_report(spec)[0]
