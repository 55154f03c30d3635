"""Training data for ``prm train``: stepwise rows -> tagged token sequences -> padded batches.

Rows are split into train and eval by problem (a problem's correct and corrupted solutions stay on
the same side), encoded with :func:`prm.model.tags.encode_solution` (labels on step tags only) and
batched by :class:`PRMCollator` (right padding, float labels with -100 off the tags).

No sequence packing: packing rows into one sequence needs a block-diagonal attention mask (or
flash-attention's varlen kernels via ``position_ids``) so that a row never attends to the previous
one, which CPU and SDPA attention do not give; without it packed rows would see each other and the
labels would be wrong. Length-grouped batches (``--group-by-length``) remove most of the padding
instead, but are off by default: when negatives are cut at their first error, length tracks the label
and length-sorted batches swing between mostly-positive and mostly-negative, which made a small PRM
oscillate on its bias instead of learning (seen on the synthetic task).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from data.decontaminate import check_overlaps, stepwise_problems
from data.prm800k import load_stepwise_phased
from data.records import StepwiseRow
from data.stepwise import load_stepwise
from prm.model.tags import IGNORE_INDEX, TaggedSequence, encode_solution, row_labels
from prm.train.config import TrainConfig

__all__ = ["EncodeStats", "PRMCollator", "TaggedDataset", "encode_rows", "load_training_rows", "row_labels",
           "split_rows"]

logger = logging.getLogger(__name__)


def _group_key(row: StepwiseRow) -> str:
    return str(row.extra.get("problem_id") or row.prompt)


def split_rows(rows: Sequence[StepwiseRow], fraction: float, seed: int = 0) -> tuple[list[StepwiseRow],
                                                                                      list[StepwiseRow]]:
    """(train, eval): about ``fraction`` of the problems go to eval, chosen by a seeded hash of the problem."""
    train, held_out = [], []
    for row in rows:
        digest = hashlib.sha1(f"{seed}:{_group_key(row)}".encode()).digest()
        (held_out if int.from_bytes(digest[:8], "big") / 2**64 < fraction else train).append(row)
    return train, held_out


@dataclass
class EncodeStats:
    """What encoding did to the rows: kept, truncated (lost late steps), dropped (no label fit)."""

    rows: int = 0
    kept: int = 0
    truncated: int = 0
    dropped: int = 0
    labels: int = 0
    positive: float = 0.0
    tokens: int = 0

    def summary(self) -> str:
        return (f"{self.kept}/{self.rows} rows kept ({self.truncated} truncated, {self.dropped} dropped: no label "
                f"fit), {self.labels} labelled tags, positive share {self.positive / max(self.labels, 1):.2f}, "
                f"{self.tokens / max(self.kept, 1):.0f} tokens per row")


def encode_rows(rows: Sequence[StepwiseRow], tokenizer: Any, tag_id: int, *, max_length: int, separator: str,
                tag_token: str | None, outcome: bool = False, keep_unlabelled: bool = False
                ) -> tuple[list[TaggedSequence], EncodeStats]:
    """Tagged sequences with labels placed; rows whose every label was cut by truncation are dropped (counted
    in the stats either way), or kept with ``keep_unlabelled`` so the list stays aligned with ``rows``."""
    stats, encoded = EncodeStats(rows=len(rows)), []
    for row in rows:
        seq = encode_solution(tokenizer, row.prompt, row.completions, tag_id, row_labels(row, outcome),
                              max_length=max_length, separator=separator, tag_token=tag_token)
        if seq.num_labels == 0:
            stats.dropped += 1
            if keep_unlabelled:
                encoded.append(seq)
            continue
        stats.kept += 1
        stats.truncated += seq.truncated
        placed = [label for label in seq.labels if label != IGNORE_INDEX]
        stats.labels += len(placed)
        stats.positive += sum(placed)
        stats.tokens += len(seq.input_ids)
        encoded.append(seq)
    return encoded, stats


class TaggedDataset(torch.utils.data.Dataset):
    """Tagged sequences as Trainer features: ``input_ids`` and float ``labels`` lists."""

    def __init__(self, sequences: Sequence[TaggedSequence]) -> None:
        self.sequences = list(sequences)

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, index: int) -> dict[str, list]:
        seq = self.sequences[index]
        return {"input_ids": seq.input_ids, "labels": seq.labels}


@dataclass
class PRMCollator:
    """Right-pads ``input_ids`` (pad id) and ``labels`` (-100) and builds the attention mask."""

    pad_id: int
    pad_to_multiple_of: int | None = None

    def __call__(self, features: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        width = max(len(f["input_ids"]) for f in features)
        if self.pad_to_multiple_of:
            width = -(-width // self.pad_to_multiple_of) * self.pad_to_multiple_of
        ids = torch.full((len(features), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(features), width), dtype=torch.long)
        labels = torch.full((len(features), width), float(IGNORE_INDEX), dtype=torch.float32)
        for row, feature in enumerate(features):
            n = len(feature["input_ids"])
            ids[row, :n] = torch.tensor(feature["input_ids"], dtype=torch.long)
            mask[row, :n] = 1
            labels[row, :n] = torch.tensor(feature["labels"], dtype=torch.float32)
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def _rows(spec: str, config: TrainConfig, phased: bool = True) -> list[StepwiseRow]:
    """Stepwise rows of ``spec``; TRL preference rows (chosen/rejected) become outcome pairs (prm.train.pairs)."""
    from prm.train.pairs import is_preference_file, preference_rows

    if is_preference_file(spec):
        if not config.outcome:
            raise ValueError(f"{spec}: preference rows (chosen/rejected) train an outcome RM: add --outcome")
        return preference_rows(spec, config.segmentation)
    return load_stepwise_phased(spec, config.phase) if phased else load_stepwise(spec)


def load_training_rows(config: TrainConfig) -> tuple[list[StepwiseRow], list[StepwiseRow]]:
    """(train, eval) rows: ``--data`` (PRM800K by ``--phase``), checked against ``--eval-problems``, then split."""
    if not config.data:
        raise ValueError("--data is required: the stepwise rows to train on")
    rows = _rows(config.data, config)
    check_overlaps(stepwise_problems(rows, f"{config.data} row"), config.eval_problems)
    if config.eval_data:
        train, held_out = rows, _rows(config.eval_data, config, phased=False)
    elif config.eval_fraction > 0:
        train, held_out = split_rows(rows, config.eval_fraction, config.seed)
    else:
        train, held_out = rows, []
    if config.limit > 0:
        train = train[: config.limit]
    if config.eval_limit > 0:
        held_out = held_out[: config.eval_limit]
    logger.info("%d training rows, %d evaluation rows", len(train), len(held_out))
    return train, held_out
