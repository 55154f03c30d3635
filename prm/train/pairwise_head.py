"""Pairwise (Bradley-Terry) training of the fine-tuned heads: ``prm train --head two_class|scalar --objective
pairwise``, and the held-out pair accuracy of any fine-tuned head.

The pairs are those of :mod:`prm.train.pairs` (outcome RMs: a correct and a wrong solution of one problem, or a
TRL chosen/rejected row, compared at their last step tag; PRMs: a right and a wrong step after the same
prefix). The head's reward logit at a step tag is ``r = log p(correct) - log p(incorrect)`` for ``two_class``
(so the scorer's ``softmax[1]`` is ``sigmoid(r)``) and the logit itself for ``scalar``; the loss is
``mean(-log sigmoid(r(chosen) - r(rejected)))``, computed in :class:`PairwiseTrainer`'s ``compute_loss``
(a stock ``Trainer`` otherwise: checkpoints, resume, accumulation and DDP work as for the pointwise loss).
A batch holds ``--batch-size`` pairs: the chosen sequences, then the rejected ones.

A Bradley-Terry head ranks but is not calibrated: the loss sees only differences, so the scores' level
(the 0.5 threshold of the step metrics) is whatever the head started from. The held-out pair accuracy
(:func:`pair_metrics`, also reported for pointwise runs) is the figure the objective should move: for
outcome pairs it is the within-problem ranking AUC of correct against wrong solutions.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from transformers import Trainer

from data.records import StepwiseRow
from prm.model.tags import TaggedSequence, row_labels
from prm.train.config import TrainConfig
from prm.train.metrics import step_metrics
from prm.train.pairs import Pair, pair_accuracy, training_pairs

__all__ = ["PairCollator", "PairDataset", "PairwiseTrainer", "pair_metrics", "reward_logits", "sequence_pairs"]

logger = logging.getLogger(__name__)


def _reward(picked: torch.Tensor, head: str) -> torch.Tensor:
    picked = picked.float()
    return picked[:, 1] - picked[:, 0] if head == "two_class" else picked[:, 0]


def reward_logits(logits: torch.Tensor, positions: torch.Tensor, head: str) -> torch.Tensor:
    """Each row's reward logit at its position: ``logits`` ``(rows, length, classes)``, ``positions`` ``(rows,)``."""
    return _reward(logits[torch.arange(len(positions), device=logits.device), positions], head)


def sequence_pairs(rows: Sequence[StepwiseRow], sequences: Sequence[TaggedSequence], outcome: bool) -> list[Pair]:
    """The (chosen, rejected) pairs of ``rows`` as (row, step) indices, limited to steps whose tag fits;
    ``sequences`` aligned with ``rows`` (``encode_rows(..., keep_unlabelled=True)``)."""
    return training_pairs(rows, lambda index: len(sequences[index].tag_positions), outcome)


class PairDataset(torch.utils.data.Dataset):
    """Pairs as Trainer features: both sides' ``input_ids`` and the position of the compared step's tag."""

    def __init__(self, sequences: Sequence[TaggedSequence], pairs: Sequence[Pair]) -> None:
        self.sequences, self.pairs = list(sequences), list(pairs)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, Any]:
        (good, good_step), (bad, bad_step) = self.pairs[index]
        return {"chosen_ids": self.sequences[good].input_ids,
                "chosen_position": self.sequences[good].tag_positions[good_step],
                "rejected_ids": self.sequences[bad].input_ids,
                "rejected_position": self.sequences[bad].tag_positions[bad_step]}


def _pad(ids: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(row) for row in ids)
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for i, row in enumerate(ids):
        input_ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        mask[i, : len(row)] = 1
    return input_ids, mask


@dataclass
class PairCollator:
    """A batch of B pairs as 2B right-padded rows (chosen first) and each row's tag ``positions``."""

    pad_id: int

    def __call__(self, features: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        ids = [f["chosen_ids"] for f in features] + [f["rejected_ids"] for f in features]
        positions = [f["chosen_position"] for f in features] + [f["rejected_position"] for f in features]
        input_ids, mask = _pad(ids, self.pad_id)
        return {"input_ids": input_ids, "attention_mask": mask, "positions": torch.tensor(positions)}


class PairwiseTrainer(Trainer):
    """The stock Trainer with the Bradley-Terry loss on a :class:`PairCollator` batch."""

    def __init__(self, *args: Any, head: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.head = head

    def compute_loss(self, model: Any, inputs: dict[str, torch.Tensor], return_outputs: bool = False,
                     num_items_in_batch: Any = None) -> Any:
        positions = inputs.pop("positions")
        outputs = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
        rewards = reward_logits(outputs.logits, positions, self.head)
        half = len(rewards) // 2
        loss = F.softplus(rewards[half:] - rewards[:half]).mean()  # -log sigmoid(chosen - rejected)
        return (loss, outputs) if return_outputs else loss


@torch.no_grad()
def _row_rewards(model: Any, sequences: Sequence[TaggedSequence], rows: Sequence[int], head: str, pad_id: int,
                 batch_size: int) -> dict[int, list[float]]:
    """Reward logits at every tag position of the given rows (one forward pass per row)."""
    device = next(model.parameters()).device
    out: dict[int, list[float]] = {}
    for start in range(0, len(rows), batch_size):
        chunk = [rows[i] for i in range(start, min(start + batch_size, len(rows)))]
        input_ids, mask = _pad([sequences[r].input_ids for r in chunk], pad_id)
        logits = model(input_ids=input_ids.to(device), attention_mask=mask.to(device)).logits
        for i, row in enumerate(chunk):
            out[row] = _reward(logits[i, sequences[row].tag_positions], head).tolist()
    return out


def pair_metrics(model: Any, rows: Sequence[StepwiseRow], sequences: Sequence[TaggedSequence], config: TrainConfig,
                 pad_id: int, with_steps: bool) -> dict[str, float]:
    """Held-out ``eval_pair_accuracy`` and ``eval_pairs``; ``with_steps`` adds the step metrics of ``prm train``
    (for pairwise runs, whose Trainer does not evaluate labels)."""
    was_training = model.training
    model.eval()
    pairs = sequence_pairs(rows, sequences, config.outcome)
    needed = sorted({side[0] for pair in pairs for side in pair} | (set(range(len(rows))) if with_steps else set()))
    needed = [r for r in needed if sequences[r].tag_positions]
    rewards = _row_rewards(model, sequences, needed, config.head, pad_id, config.batch_size * 2)
    model.train(was_training)
    metrics = {"eval_pair_accuracy": pair_accuracy(lambda side: rewards[side[0]][side[1]], pairs),
               "eval_pairs": float(len(pairs))}
    if with_steps:
        probs, labels = [], []
        for r in needed:
            kept = [(torch.sigmoid(torch.tensor(v)).item(), y) for v, y in
                    zip(rewards[r], row_labels(rows[r], config.outcome), strict=False) if y is not None]
            if kept:
                probs.append([p for p, _ in kept])
                labels.append([float(y) for _, y in kept])
        metrics.update({f"eval_{k}": v for k, v in step_metrics(probs, labels).items()})
    return metrics
