"""ProcessBench (Zheng et al. 2024, arXiv:2412.06559): does a PRM find the earliest wrong step?

Data: the hub data set ``Qwen/ProcessBench`` (one split per source: ``gsm8k``, ``math``, ``olympiadbench``,
``omnimath``) or a local folder with one ``<split>.json`` (a JSON array) or ``<split>.jsonl`` file per split.
Each item has ``id``, ``generator``, ``problem``, ``steps`` (a list of strings), ``final_answer_correct`` and
``label``: the 0-based index of the earliest wrong step, -1 when every step is right.

Metric, as published: a PRM predicts the first step whose score is below the threshold (0.5, fixed by the
protocol; -1 when none is), and per split

- ``error_accuracy``: share of erroneous items (label >= 0) whose prediction equals the label;
- ``correct_accuracy``: share of correct items (label -1) predicted -1;
- ``f1``: their harmonic mean; the benchmark's number is the mean F1 over the splits.

A step scored None (past the model's length limit) is never flagged. The F1 at every threshold of a grid
(``sweep``) is reported beside the result, never as it: choosing the threshold on the test items flatters.
Torch-free: scores come in as lists.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from data.jsonl import RecordError, read_jsonl
from eval.steps_eval import StepCase, step_metrics

__all__ = ["DEFAULT_DATA", "SPLITS", "THRESHOLD", "Item", "load_split", "processbench_result", "to_cases"]

DEFAULT_DATA = "Qwen/ProcessBench"
SPLITS = ("gsm8k", "math", "olympiadbench", "omnimath")
THRESHOLD = 0.5  # the protocol's: a step is wrong when its score is below it
SWEEP = np.round(np.linspace(0.05, 0.95, 19), 2)


@dataclass(frozen=True)
class Item:
    """One ProcessBench solution: its steps and the index of its earliest wrong step (-1: none)."""

    id: str
    split: str
    problem: str
    steps: tuple[str, ...]
    label: int
    generator: str = ""
    final_answer_correct: bool | None = None

    @property
    def key(self) -> str:
        """Unique across splits: ``split/id``."""
        return f"{self.split}/{self.id}"


def _field(row: Mapping[str, Any], name: str, kinds: type | tuple[type, ...], where: str) -> Any:
    if name not in row:
        raise RecordError(f"{where}: missing field '{name}'")
    value = row[name]
    if isinstance(value, bool) or not isinstance(value, kinds):
        wanted = " or ".join(k.__name__ for k in (kinds if isinstance(kinds, tuple) else (kinds,)))
        raise RecordError(f"{where}: field '{name}' should be {wanted}, got {type(value).__name__}")
    return value


def item_from_row(row: Any, split: str, where: str) -> Item:
    """An :class:`Item` from one published row; RecordError naming ``where`` and the bad field."""
    if not isinstance(row, Mapping):
        raise RecordError(f"{where}: expected an object, got {type(row).__name__}")
    steps = _field(row, "steps", list, where)
    for k, step in enumerate(steps):
        if not isinstance(step, str):
            raise RecordError(f"{where}: field 'steps[{k}]' should be str, got {type(step).__name__}")
    label = _field(row, "label", int, where)
    if not -1 <= label < len(steps):
        raise RecordError(f"{where}: field 'label' is {label}; it should be -1 or a step index below {len(steps)}")
    correct = row.get("final_answer_correct")
    return Item(id=str(_field(row, "id", (str, int), where)), split=split,
                problem=_field(row, "problem", str, where), steps=tuple(steps), label=label,
                generator=str(row.get("generator") or ""),
                final_answer_correct=correct if isinstance(correct, bool) else None)


def _local_rows(folder: Path, split: str) -> tuple[list[Any], str]:
    for name in (f"{split}.json", f"{split}.jsonl"):
        path = folder / name
        if not path.is_file():
            continue
        if name.endswith(".jsonl"):  # the project's reader: a bad line is named
            return [row for _, row in read_jsonl(path)], str(path)
        try:
            rows = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise RecordError(f"{path}: not valid JSON ({error})") from None
        if not isinstance(rows, list):
            raise RecordError(f"{path}: expected a JSON array of items, got {type(rows).__name__}")
        return rows, str(path)
    raise RecordError(f"{folder}: no {split}.json or {split}.jsonl (ProcessBench splits: {', '.join(SPLITS)})")


def load_split(data: str | Path, split: str) -> list[Item]:
    """One split's items from a local folder or the hub (``datasets``); RecordError naming the file/row/field."""
    folder = Path(data)
    if folder.is_dir():
        rows, source = _local_rows(folder, split)
    else:
        from datasets import load_dataset

        try:
            rows, source = list(load_dataset(str(data), split=split)), f"{data} ({split})"
        except Exception as error:  # offline, unknown id or split: say which and why
            raise RecordError(f"{data}: could not load ProcessBench split {split!r} from the hub "
                              f"({type(error).__name__}: {str(error)[:200]}); give a local folder") from None
    items = [item_from_row(row, split, f"{source} item {i}") for i, row in enumerate(rows)]
    seen: set[str] = set()
    for item in items:
        if item.id in seen:
            raise RecordError(f"{source}: item id {item.id!r} appears twice")
        seen.add(item.id)
    return items


def to_cases(items: Iterable[Item], scores: Mapping[str, Sequence[float | None]]) -> list[StepCase]:
    """Cases for :func:`eval.steps_eval.step_metrics`: None scores read as never flagged (+inf)."""
    cases = []
    for item in items:
        values = scores[item.key]
        if len(values) != len(item.steps):
            raise ValueError(f"item {item.id}: {len(values)} step scores for {len(item.steps)} steps")
        cases.append(StepCase([math.inf if s is None else float(s) for s in values], item.label,
                              {"split": item.split, "generator": item.generator}))
    return cases


def _row(metrics: Mapping[str, np.ndarray], index: int, cases: Sequence[StepCase]) -> dict[str, float]:
    erroneous = sum(c.first_error >= 0 for c in cases)
    return {"error_accuracy": float(metrics["error_accuracy"][index]),
            "correct_accuracy": float(metrics["correct_accuracy"][index]), "f1": float(metrics["f1"][index]),
            "erroneous": erroneous, "correct": len(cases) - erroneous}


def processbench_result(cases_by_split: Mapping[str, Sequence[StepCase]], threshold: float = THRESHOLD
                        ) -> dict[str, Any]:
    """Per-split metrics at ``threshold``, their mean F1, and the F1 sweep over thresholds (reported apart)."""
    grid = np.unique(np.append(SWEEP, threshold))
    at = int(np.flatnonzero(grid == threshold)[0])
    splits, sweep = {}, {}
    for split, cases in cases_by_split.items():
        metrics = step_metrics(cases, grid)
        splits[split] = _row(metrics, at, cases)
        sweep[split] = [None if math.isnan(v) else round(float(v), 4) for v in metrics["f1"]]
    f1s = [row["f1"] for row in splits.values()]
    mean = float(np.mean(f1s)) if f1s and not any(math.isnan(f) for f in f1s) else math.nan
    sweep_mean = [None if any(s[i] is None for s in sweep.values()) else round(float(np.mean([s[i] for s in
                  sweep.values()])), 4) for i in range(len(grid))]
    best = max(range(len(grid)), key=lambda i: -1.0 if sweep_mean[i] is None else sweep_mean[i])
    return {"threshold": threshold, "splits": splits, "mean_f1": mean,
            "sweep": {"thresholds": grid.tolist(), "f1": sweep, "mean_f1": sweep_mean,
                      "best_threshold_on_test": float(grid[best]), "best_mean_f1_on_test": sweep_mean[best]}}
