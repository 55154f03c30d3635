"""Problem loaders: MATH, MATH-500, GSM8K, AIME 2024 from local copies, files, folders or hub ids.

``load_problems(spec, split, limit)`` takes a built-in name from ``BUILTINS`` (a local copy
``<dir>/<name>/<split>.jsonl`` first, searched in ``$PRM_MATH_DATASETS``, ``../shared/datasets``
beside the current directory, then beside the repository; else the name's hub id), a local path
(JSONL/JSON/Parquet file, a folder with ``<split>.jsonl``, MATH's ``train/algebra/1.json`` layout),
or else a ``datasets`` hub id. One converter from ``PROBLEM_FORMATS`` per row, the format detected
from the columns unless given. Malformed rows raise ``RecordError`` naming file, line and field;
well-formed rows that cannot become a Problem (no boxed answer) are skipped, counted by reason in
a ``LoadReport`` (``load_problems_with_report``) and logged. Row sources and ``LoadReport`` are
shared with ``data.stepwise``; ``datasets`` is imported only for hub ids and Parquet files.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any, TypeVar

from data.jsonl import RecordError, read_jsonl, require_field
from data.records import Problem
from verifiers.extract import last_boxed

__all__ = [
    "BUILTINS", "PROBLEM_FORMATS", "Builtin", "LoadReport", "RowContext", "SkipRow",
    "detect_problem_format", "load_problems", "load_problems_with_report", "load_with_report", "open_rows",
]  # fmt: skip

logger = logging.getLogger(__name__)

T = TypeVar("T")
Rows = Iterator[tuple[str, dict[str, Any]]]  # (where, row): where names file and line, or hub id and row
SPLIT_NAMES = ("train", "test", "validation", "valid", "val", "dev")
_EXAMPLES_PER_REASON = 3


class SkipRow(Exception):
    """A well-formed row that cannot be converted; it is skipped and counted under ``reason``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class LoadReport:
    """What a load did: rows loaded, rows skipped by reason, rows changed (``notes``) by reason."""

    source: str
    loaded: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    notes: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)  # reason -> first few row locations

    @property
    def total_skipped(self) -> int:
        return sum(self.skipped.values())

    def skip(self, reason: str, where: str, *, note: bool = False) -> None:
        """Count a skipped row under ``reason`` (or, with ``note=True``, a row kept but changed)."""
        logger.debug("%s: %s (%s)", where, "note" if note else "skipped", reason)
        (self.notes if note else self.skipped)[reason] += 1
        seen = self.examples.setdefault(reason, [])
        if len(seen) < _EXAMPLES_PER_REASON:
            seen.append(where)

    def summary(self) -> str:
        parts = [f"{self.source}: loaded {self.loaded}, skipped {self.total_skipped}"]
        for label, counter in (("skipped", self.skipped), ("note", self.notes)):
            parts += [f"{label} {n} ({why}), e.g. {'; '.join(self.examples[why])}" for why, n in counter.most_common()]
        return "; ".join(parts)

    def log(self) -> None:
        logger.log(logging.WARNING if self.skipped else logging.INFO, "%s", self.summary())


@dataclass(frozen=True)
class RowContext:
    """Where a row came from: for ids (``<source>/<split>/<index>``), error messages and notes."""

    source: str
    split: str
    index: int
    where: str
    report: LoadReport

    def default_id(self) -> str:
        return f"{self.source}/{self.split}/{self.index}"

    def note(self, reason: str) -> None:
        self.report.skip(reason, self.where, note=True)


def _json_file_rows(path: Path) -> Rows:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise RecordError(f"{path}: not valid JSON ({error.msg} at line {error.lineno})") from error
    for i, item in enumerate(data if isinstance(data, list) else [data]):
        where = f"{path} item {i}" if isinstance(data, list) else str(path)
        if not isinstance(item, dict):
            raise RecordError(f"{where}: expected a JSON object, got {type(item).__name__}")
        yield where, item


def _file_rows(path: Path) -> Rows:
    if path.suffix == ".json":
        yield from _json_file_rows(path)
    elif path.suffix == ".parquet":
        import datasets

        yield from ((f"{path} row {i}", dict(row)) for i, row in enumerate(datasets.Dataset.from_parquet(str(path))))
    else:
        for line_no, row in read_jsonl(path):
            yield f"{path} line {line_no}", row


def _split_dir(path: Path) -> Path | None:
    """``path`` or its nearest ancestor named like a split (``MATH/train`` for ``MATH/train/algebra``)."""
    return next((d for d in (path, *path.parents) if d.name in SPLIT_NAMES), None)


def _math_folder_rows(root: Path) -> Rows:
    """MATH's layout: ``<split>/<subject>/<n>.json``; ``unique_id`` is ``<split>/<subject>/<n>.json``."""
    files = sorted(root.rglob("*.json"), key=lambda p: (p.parent, int(p.stem) if p.stem.isdigit() else -1, p.stem))
    if not files:
        raise FileNotFoundError(f"no .json problem files under {root}")
    base = (_split_dir(root) or root).parent
    for path in files:
        for where, row in _json_file_rows(path):
            row.setdefault("unique_id", path.relative_to(base).as_posix())
            yield where, row


def _folder_rows(folder: Path, split: str | None) -> tuple[str, Rows]:
    """``<split>.jsonl`` (or .json/.parquet) in ``folder``, a MATH ``<split>/`` tree, or ``folder`` as one tree."""
    files = {
        f.stem: f
        for f in sorted(folder.iterdir())
        if f.is_file() and (f.suffix in (".jsonl", ".parquet") or f.suffix == ".json" and f.stem in SPLIT_NAMES)
    }
    trees = sorted(d.name for d in folder.iterdir() if d.is_dir() and d.name in SPLIT_NAMES)
    if split is None and len(files) + len(trees) > 1:
        raise ValueError(f"{folder} holds several splits ({', '.join([*files, *trees])}): pass split=")
    if split is None and files:
        split = next(iter(files))
    if split is None:
        if trees:
            return trees[0], _math_folder_rows(folder / trees[0])
        return getattr(_split_dir(folder), "name", "all"), _math_folder_rows(folder)
    if split in files:
        return split, _file_rows(files[split])
    if (folder / split).is_dir():
        return split, _math_folder_rows(folder / split)
    raise FileNotFoundError(f"no split {split!r} in {folder} (no {split}.jsonl and no {split}/ folder)")


def _hub_rows(hub_id: str, config: str | None, split: str | None) -> tuple[str, Rows]:
    import datasets

    loaded = datasets.load_dataset(hub_id, name=config, split=split)
    if split is None:
        if len(loaded) != 1:  # a DatasetDict
            raise ValueError(f"{hub_id} has splits {', '.join(loaded)}: pass split=")
        split, loaded = next(iter(loaded.items()))
    rows = ((f"{hub_id} [{split}] row {i}", dict(row)) for i, row in enumerate(loaded))
    return split, rows


def open_rows(
    spec: str | Path, split: str | None = None, config: str | None = None
) -> tuple[str, str, Rows, str | None]:
    """(source name, split, rows, format or None) for a built-in name, a local file or folder, or a hub id."""
    path = Path(spec).expanduser()
    if isinstance(spec, str) and spec in BUILTINS and not path.exists():
        split = split or "test"
        return spec, split, _builtin_rows(spec, split, config), BUILTINS[spec].fmt
    if path.is_file():
        source = path.parent.name if path.stem in SPLIT_NAMES else path.stem
        return source, split or (path.stem if path.stem in SPLIT_NAMES else "all"), _file_rows(path), None
    if path.is_dir():
        anchor = _split_dir(path)  # MATH/train/algebra -> source "MATH"
        return (anchor.parent.name if anchor else path.name, *_folder_rows(path, split), None)
    if str(spec).startswith((".", "/", "~")) or str(spec).endswith((".jsonl", ".json", ".parquet")):
        raise FileNotFoundError(f"no such file or folder: {spec}")
    hub_id = str(spec)
    if config is None:
        config = next((b.config for b in BUILTINS.values() if b.hub_id == hub_id), None)
    return (hub_id, *_hub_rows(hub_id, config, split), None)


def load_with_report(
    spec: str | Path,
    split: str | None,
    limit: int | None,
    formats: dict[str, Callable[[dict[str, Any], RowContext], T]],
    detect: Callable[[Iterable[str]], str],
    fmt: str | None = None,
    config: str | None = None,
) -> tuple[list[T], LoadReport]:
    """Open ``spec``, pick the converter (``fmt``, the built-in's, or detected from the first row), convert."""
    if fmt is not None and fmt not in formats:
        raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(formats)}")
    source, split, rows, default_fmt = open_rows(spec, split, config)
    report = LoadReport(f"{source} [{split}]")
    first = next(rows, None)
    if first is None:
        logger.warning("%s: no rows", report.source)
        return [], report
    try:
        convert = formats[fmt or default_fmt or detect(first[1])]
    except ValueError as error:  # name the row the format was guessed from
        raise RecordError(f"{first[0]}: {error}") from error
    return convert_rows(chain([first], rows), convert, source, split, report, limit), report


def convert_rows(
    rows: Iterable[tuple[str, dict[str, Any]]],
    convert: Callable[[dict[str, Any], RowContext], T],
    source: str,
    split: str,
    report: LoadReport,
    limit: int | None = None,
) -> list[T]:
    """Convert each row; SkipRow is counted in ``report``, RecordError propagates; stop at ``limit``."""
    out: list[T] = []
    for index, (where, row) in enumerate(rows):
        if limit is not None and len(out) >= limit:
            break
        try:
            out.append(convert(row, RowContext(source, split, index, where, report)))
        except SkipRow as skip:
            report.skip(skip.reason, where)
    report.loaded = len(out)
    report.log()
    return out


_LEVEL = re.compile(r"\s*Level\s+(\d+)\s*")
_THOUSANDS = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_GSM8K_FINAL = re.compile(r"(?<!#)####(?!#)")


def _level(row: dict[str, Any], ctx: RowContext) -> int | None:
    value = row.get("level")
    if value is None or isinstance(value, int) and not isinstance(value, bool):
        return value
    if not isinstance(value, str):
        raise RecordError(f"{ctx.where}: field 'level' should be str or int, got {type(value).__name__}")
    if match := _LEVEL.fullmatch(value):
        return int(match.group(1))
    ctx.note(f"level {value!r} is not 'Level N': set to None")
    return None


def _optional_str(row: dict[str, Any], name: str, ctx: RowContext) -> str | None:
    return require_field(row, (name,), ctx.where) if row.get(name) is not None else None


def _row_id(row: dict[str, Any], ctx: RowContext) -> str:
    return _optional_str(row, "unique_id", ctx) or ctx.default_id()


def _math(row: dict[str, Any], ctx: RowContext) -> Problem:
    """MATH: the answer is the last ``\\boxed{}`` of the solution; ``type`` becomes the subject."""
    problem = require_field(row, ("problem",), ctx.where)
    solution = require_field(row, ("solution",), ctx.where)
    answer = last_boxed(solution)
    if answer is None:
        raise SkipRow("no \\boxed{} answer in solution")
    if not answer:
        raise SkipRow("empty \\boxed{} answer in solution")
    subject = _optional_str(row, "type", ctx) or _optional_str(row, "subject", ctx)
    return Problem(_row_id(row, ctx), problem, answer, ctx.source, solution, level=_level(row, ctx), subject=subject)


def gsm8k_answer(solution: str) -> str | None:
    """The rest of the line after GSM8K's last ``####``, thousands separators removed ("1,000" -> "1000")."""
    marks = list(_GSM8K_FINAL.finditer(solution))
    if not marks:
        return None
    answer = (solution[marks[-1].end() :].strip().splitlines() or [""])[0].strip()
    return answer.replace(",", "") if _THOUSANDS.fullmatch(answer) else answer


def _gsm8k(row: dict[str, Any], ctx: RowContext) -> Problem:
    """GSM8K: ``question`` and ``answer`` (worked solution ending ``#### 72``); the solution is kept whole."""
    question = require_field(row, ("question",), ctx.where)
    solution = require_field(row, ("answer",), ctx.where)
    answer = gsm8k_answer(solution)
    if answer is None:
        raise SkipRow("no '####' final answer line")
    if not answer:
        raise SkipRow("empty answer after '####'")
    return Problem(_row_id(row, ctx), question, answer, ctx.source, solution)


def _answer_given(row: dict[str, Any], ctx: RowContext) -> Problem:
    """MATH-500, AIME, any problem/answer table: ``answer`` is the answer; AIME's "025" becomes "25"."""
    problem = require_field(row, ("problem",), ctx.where)
    answer = require_field(row, ("answer",), ctx.where).strip()
    if not answer:
        raise SkipRow("empty answer")
    if answer.isdigit() and answer != str(int(answer)):
        ctx.note("zero-padded integer answer unpadded")
        answer = str(int(answer))
    row_id = _row_id(row, ctx)
    if row.get("unique_id") is None and row.get("id") is not None:  # AIME's id is an int, unique per source
        row_id = f"{ctx.source}/{require_field(row, ('id',), ctx.where)}"
    solution, subject = _optional_str(row, "solution", ctx), _optional_str(row, "subject", ctx)
    return Problem(row_id, problem, answer, ctx.source, solution, level=_level(row, ctx), subject=subject)


def _record(row: dict[str, Any], ctx: RowContext) -> Problem:
    """This project's own Problem records (JSONL written by ``data.records.write_records``)."""
    return Problem.from_dict(row, where=ctx.where)


PROBLEM_FORMATS: dict[str, Callable[[dict[str, Any], RowContext], Problem]] = {
    "math": _math, "math500": _answer_given, "gsm8k": _gsm8k, "aime": _answer_given, "problem": _record,
}  # fmt: skip


def detect_problem_format(columns: Iterable[str]) -> str:
    """The ``PROBLEM_FORMATS`` key for a row with these columns; ValueError when none fits."""
    cols = set(columns)
    if {"question", "answer"} <= cols:
        return "gsm8k"
    if {"id", "problem", "answer", "source"} <= cols:
        return "problem"
    if {"problem", "answer", "subject"} <= cols:
        return "math500"
    if {"problem", "answer"} <= cols:
        return "aime"
    if {"problem", "solution"} <= cols:
        return "math"
    raise ValueError(f"cannot tell the problem format from columns {sorted(cols)}; pass fmt= {list(PROBLEM_FORMATS)}")


@dataclass(frozen=True)
class Builtin:
    """A named dataset: its row format, and where to get it when there is no local copy."""

    fmt: str
    hub_id: str
    config: str | None = None
    hub_splits: dict[str, str] = field(default_factory=dict)  # our split name -> the hub's


BUILTINS: dict[str, Builtin] = {
    "math": Builtin("math", "DigitalLearningGmbH/MATH-lighteval"),  # hendrycks/competition_math is gone
    "math500": Builtin("math500", "HuggingFaceH4/MATH-500"),
    "gsm8k": Builtin("gsm8k", "openai/gsm8k", "main"),
    "aime2024": Builtin("aime", "HuggingFaceH4/aime_2024", hub_splits={"test": "train"}),
}


def local_dataset_dirs() -> list[Path]:
    """Folders searched for ``<name>/<split>.jsonl``, in order, without duplicates."""
    dirs = [Path(os.environ["PRM_MATH_DATASETS"])] if os.environ.get("PRM_MATH_DATASETS") else []
    dirs += [Path.cwd().parent / "shared" / "datasets", Path(__file__).resolve().parents[2] / "shared" / "datasets"]
    unique: list[Path] = []
    for d in dirs:
        if d.expanduser().resolve() not in [u.expanduser().resolve() for u in unique]:
            unique.append(d)
    return unique


def _builtin_rows(name: str, split: str, config: str | None) -> Rows:
    for folder in local_dataset_dirs():
        path = folder / name / f"{split}.jsonl"
        if path.is_file():
            logger.info("%s [%s]: reading local copy %s", name, split, path)
            return _file_rows(path)
    builtin = BUILTINS[name]
    logger.info("%s [%s]: no local copy in %s; loading %s", name, split, local_dataset_dirs(), builtin.hub_id)
    return _hub_rows(builtin.hub_id, config or builtin.config, builtin.hub_splits.get(split, split))[1]


def load_problems_with_report(
    spec: str | Path,
    split: str | None = None,
    limit: int | None = None,
    *,
    fmt: str | None = None,
    config: str | None = None,
) -> tuple[list[Problem], LoadReport]:
    """Problems from a built-in name, local path or hub id, and the report of what was skipped."""
    return load_with_report(spec, split, limit, PROBLEM_FORMATS, detect_problem_format, fmt, config)


def load_problems(spec: str | Path, split: str | None = None, limit: int | None = None, **kwargs: Any) -> list[Problem]:
    """Problems from a built-in name, local path or hub id (see the module docstring)."""
    return load_problems_with_report(spec, split, limit, **kwargs)[0]
