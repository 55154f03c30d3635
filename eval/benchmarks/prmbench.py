"""PRMBench (Song et al. 2025, arXiv:2501.03124): step-level error detection across fine-grained error kinds.

Data: JSONL files in the published schema (``original_question``, ``modified_question``, ``original_process``,
``modified_process``, ``modified_steps``, ``error_steps`` (1-based), ``classification``, ``idx``), a file or a
folder of them, or the hub data set ``hitsmy/PRMBench_Preview`` (every split). Each row gives a modified sample
(its ``modified_process``, errors at ``error_steps``) keyed ``<classification>_<idx>``; as in the benchmark's
evaluation code, each ``idx`` that has a ``redundency`` row also gives one all-correct sample from its
``original_process`` (``correct_<idx>``). Error steps past the last step are ignored (11 of the 394 rows of the
published 400-item subset have one), as the published evaluation does.

Metric, as published: a step is predicted valid when its score is at least the threshold (0.5). Valid steps
are the positive class: TP valid and predicted valid, FN valid and flagged, TN erroneous and flagged, FP
erroneous and predicted valid, summed over a class's samples. ``PRMScore = 0.5 F1 + 0.5 F1_negative``
(F1_negative: F1 of the erroneous class), floored at 0; for ``multi_solutions`` (no erroneous steps) the F1
alone. The overall PRMScore pools every modified sample (not the all-correct ones); the three categories
average their classes' PRMScores: simplicity (non-redundancy ``redundency``, non-circular logic
``circular``), soundness (empirical soundness ``counterfactual``, step consistency ``step_contradiction``,
domain consistency ``domain_inconsistency``, confidence invariance ``confidence``) and sensitivity
(prerequisite sensitivity ``missing_condition``, deception resistance ``deception``, multi-solution
consistency ``multi_solutions``). A ProcessBench-style first-error block is added (erroneous samples: is
the first flagged step the first error; the others: is nothing flagged).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from data.jsonl import RecordError, read_jsonl

__all__ = ["CATEGORIES", "DEFAULT_DATA", "PRMBenchSample", "load_samples", "prmbench_result", "samples_from_rows"]

logger = logging.getLogger(__name__)

DEFAULT_DATA = "hitsmy/PRMBench_Preview"
CATEGORIES = {
    "simplicity": ("redundency", "circular"),
    "soundness": ("counterfactual", "step_contradiction", "domain_inconsistency", "confidence"),
    "sensitivity": ("missing_condition", "deception", "multi_solutions"),
}
F1_ONLY = ("multi_solutions",)  # no erroneous steps: the PRMScore is the F1
CORRECT = "correct"
SOURCE_OF_CORRECT = "redundency"  # the benchmark's evaluation adds the all-correct samples of these rows' idx


@dataclass(frozen=True)
class PRMBenchSample:
    """One scored solution: its steps, the 0-based indices of its erroneous steps, its error class."""

    key: str
    classification: str
    problem: str
    steps: tuple[str, ...]
    errors: frozenset[int]

    @property
    def split(self) -> str:
        return self.classification


def _strings(row: Mapping[str, Any], name: str, where: str) -> list[str]:
    value = row.get(name)
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise RecordError(f"{where}: field '{name}' should be a list of strings")
    return value


def _text(row: Mapping[str, Any], name: str, where: str) -> str:
    if not isinstance(row.get(name), str):
        raise RecordError(f"{where}: field '{name}' should be a string, got {type(row.get(name)).__name__}")
    return row[name]


def _errors(row: Mapping[str, Any], steps: int, where: str) -> frozenset[int]:
    value = row.get("error_steps")
    if not isinstance(value, list) or not all(isinstance(e, int) and not isinstance(e, bool) and e >= 1
                                              for e in value):
        raise RecordError(f"{where}: field 'error_steps' should be a list of 1-based step numbers")
    return frozenset(e - 1 for e in value if e <= steps)


def samples_from_rows(rows: Iterable[tuple[str, Any]]) -> list[PRMBenchSample]:
    """Samples from (where, row) pairs: one per (classification, idx), plus the all-correct ones."""
    samples: dict[str, PRMBenchSample] = {}
    ignored = 0
    for where, row in rows:
        if not isinstance(row, Mapping):
            raise RecordError(f"{where}: expected an object, got {type(row).__name__}")
        kind, idx = _text(row, "classification", where), str(row.get("idx", ""))
        if not idx:
            raise RecordError(f"{where}: missing field 'idx'")
        steps = _strings(row, "modified_process", where)
        errors = _errors(row, len(steps), where)
        ignored += len(row["error_steps"]) - len(errors)
        key = f"{kind}_{idx}"
        samples.setdefault(key, PRMBenchSample(key, kind, _text(row, "modified_question", where), tuple(steps), errors))
        if kind == SOURCE_OF_CORRECT:
            original = _strings(row, "original_process", where)
            samples.setdefault(f"{CORRECT}_{idx}", PRMBenchSample(
                f"{CORRECT}_{idx}", CORRECT, _text(row, "original_question", where), tuple(original), frozenset()))
    if ignored:
        logger.warning("PRMBench: %d error step number(s) past their sample's last step ignored (as published)",
                       ignored)
    return list(samples.values())


def load_samples(data: str | Path) -> list[PRMBenchSample]:
    """Samples from a JSONL file, a folder of them (sorted by name) or a hub id (every split)."""
    path = Path(data)
    if path.is_dir():
        files = sorted(path.glob("*.jsonl"))
        if not files:
            raise RecordError(f"{path}: no .jsonl files of PRMBench items")
        return samples_from_rows((f"{file} line {n}", row) for file in files for n, row in read_jsonl(file))
    if path.is_file():
        return samples_from_rows((f"{path} line {n}", row) for n, row in read_jsonl(path))
    from datasets import load_dataset

    try:
        splits = load_dataset(str(data))
    except Exception as error:  # offline, unknown id: say which and why
        raise RecordError(f"{data}: not a local file or folder, and the hub data set could not be loaded "
                          f"({type(error).__name__}: {str(error)[:200]})") from None
    return samples_from_rows((f"{data} {name} row {i}", json.loads(json.dumps(row)))
                             for name, split in splits.items() for i, row in enumerate(split))


def _f1(tp: int, fp: int, fn: int) -> float:
    """F1 of the class counted by ``tp``: NaN without a step of that class; 0 when none is found (also where
    nothing is predicted in it, as the published evaluation comes out)."""
    if tp + fn == 0:
        return math.nan
    if tp == 0:
        return 0.0
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    return 2 * precision * recall / (precision + recall)


def _confusion(samples: Sequence[PRMBenchSample], scores: Mapping[str, Sequence[float | None]],
               threshold: float) -> dict[str, int]:
    counts = {"TP": 0, "FP": 0, "TN": 0, "FN": 0}
    for sample in samples:
        for k, score in enumerate(scores[sample.key]):
            valid = score is None or score >= threshold
            counts[("FP" if valid else "TN") if k in sample.errors else ("TP" if valid else "FN")] += 1
    return counts


def _scores_of(counts: Mapping[str, int], f1_only: bool) -> dict[str, float]:
    f1 = _f1(counts["TP"], counts["FP"], counts["FN"])
    negative = _f1(counts["TN"], counts["FN"], counts["FP"])
    score = f1 if f1_only else 0.5 * f1 + 0.5 * negative
    return {"f1": f1, "negative_f1": negative, "prm_score": 0.0 if math.isnan(score) else max(score, 0.0),
            **{k: float(v) for k, v in counts.items()}}


def _first_error_block(samples: Sequence[PRMBenchSample], scores: Mapping[str, Sequence[float | None]],
                       threshold: float) -> dict[str, float]:
    """ProcessBench's metric on these samples: first flagged step vs first error (-1: none)."""
    hits: dict[bool, list[bool]] = {True: [], False: []}
    for sample in samples:
        flagged = next((k for k, s in enumerate(scores[sample.key]) if s is not None and s < threshold), -1)
        first = min(sample.errors, default=-1)
        hits[first >= 0].append(flagged == first)
    error_acc = sum(hits[True]) / len(hits[True]) if hits[True] else math.nan
    correct_acc = sum(hits[False]) / len(hits[False]) if hits[False] else math.nan
    f1 = 2 * error_acc * correct_acc / (error_acc + correct_acc) if error_acc + correct_acc > 0 else 0.0
    return {"error_accuracy": error_acc, "correct_accuracy": correct_acc, "f1": f1,
            "erroneous": float(len(hits[True])), "correct": float(len(hits[False]))}


def prmbench_result(samples: Sequence[PRMBenchSample], scores: Mapping[str, Sequence[float | None]],
                    threshold: float = 0.5) -> dict[str, Any]:
    """Overall PRMScore, per class and per category, the all-correct samples' F1, and the first-error block."""
    for sample in samples:
        if len(scores[sample.key]) != len(sample.steps):
            raise ValueError(f"{sample.key}: {len(scores[sample.key])} step scores for {len(sample.steps)} steps")
    modified = [s for s in samples if s.classification != CORRECT]
    classes = sorted({s.classification for s in samples})
    per_class = {kind: {**_scores_of(_confusion([s for s in samples if s.classification == kind], scores, threshold),
                                     kind in (*F1_ONLY, CORRECT)),
                        "samples": float(sum(s.classification == kind for s in samples))} for kind in classes}
    categories = {name: sum(per_class[k]["prm_score"] for k in kinds if k in per_class) /
                  max(sum(k in per_class for k in kinds), 1)
                  for name, kinds in CATEGORIES.items() if any(k in per_class for k in kinds)}
    return {"threshold": threshold, "overall": _scores_of(_confusion(modified, scores, threshold), False),
            "classes": per_class, "categories": categories,
            "first_error": _first_error_block(samples, scores, threshold), "samples": len(samples)}
