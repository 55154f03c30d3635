"""The ``Scorer`` protocol every PRM implements, and what implementations share.

A scorer turns (problem, steps) pairs into one P(step correct) per step::

    scorer.score_batch([(problem, ["step 1", "step 2"]), (problem, "raw text\\n\\nsplit on blank lines")])
    # [[0.93, 0.41], [0.88, 0.80]]; None for a step past the model's length limit

It also says which checkpoint format it reads (``format``, a key of :data:`prm.model.formats.SCORER_FORMATS`),
which device it runs on, and how it splits raw text into steps (``steps_of``, ``config.segmentation``).
:class:`ScorerBase` gives implementations ``steps_of`` and ``score`` from ``score_batch``; ``check_item`` and
``pad_right`` are the input checks and batching every implementation uses. No torch at import.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from data.segment import split_steps

if TYPE_CHECKING:
    import torch

__all__ = ["Scorer", "ScorerBase", "StepsOrText", "check_item", "length_batches", "pad_right"]

StepsOrText = Sequence[str] | str
StepScores = list[float | None]


@runtime_checkable
class Scorer(Protocol):
    """Per-step scores of (problem, steps or text) pairs, with the format and device it runs on."""

    format: str
    device: Any
    config: Any  # has ``segmentation`` (the data.segment mode for raw text) and ``step_separator``

    def steps_of(self, steps_or_text: StepsOrText) -> list[str]: ...

    def score_batch(self, items: Sequence[tuple[str, StepsOrText]], batch_size: int | None = None
                    ) -> list[StepScores]: ...

    def score(self, problem: str, steps_or_text: StepsOrText) -> StepScores: ...


class ScorerBase:
    """``steps_of`` and ``score`` for a scorer that implements ``score_batch`` and has ``config.segmentation``."""

    format: str = ""
    config: Any

    def steps_of(self, steps_or_text: StepsOrText) -> list[str]:
        """A step list as given, or raw text split with the model's segmentation."""
        if isinstance(steps_or_text, str):
            return split_steps(steps_or_text, self.config.segmentation)
        return list(steps_or_text)

    def score_batch(self, items: Sequence[tuple[str, StepsOrText]], batch_size: int | None = None
                    ) -> list[StepScores]:
        raise NotImplementedError

    def score(self, problem: str, steps_or_text: StepsOrText) -> StepScores:
        """P(correct) of every step of one solution."""
        return self.score_batch([(problem, steps_or_text)])[0]


def length_batches(lengths: Sequence[int], size: int, keep: Sequence[bool] | None = None) -> list[list[int]]:
    """Indices of the sequences to run (``keep``: all by default), longest first, ``size`` per batch: each
    right-padded batch then pads little. Every scorer batches this way."""
    order = sorted((i for i in range(len(lengths)) if keep is None or keep[i]), key=lambda i: -lengths[i])
    size = max(1, size)
    return [order[start: start + size] for start in range(0, len(order), size)]


def pad_right(id_lists: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``input_ids`` and ``attention_mask`` [B, longest] with the token id lists padded on the right."""
    import torch

    width = max(len(ids) for ids in id_lists)
    ids = torch.full((len(id_lists), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(id_lists), width), dtype=torch.long)
    for row, seq in enumerate(id_lists):
        ids[row, : len(seq)] = torch.tensor(seq)
        mask[row, : len(seq)] = 1
    return ids, mask


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{where} should be a string, got {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError(f"{where} holds an unpaired surrogate at character {error.start} (not valid Unicode)"
                         ) from None
    return value


def check_item(index: int, item: Any) -> tuple[str, StepsOrText]:
    """``item`` as a (problem, steps or text) pair; ValueError naming item ``index`` and the bad part."""
    where = f"item {index}"
    if isinstance(item, str | bytes) or not isinstance(item, Sequence) or len(item) != 2:
        raise ValueError(f"{where} should be a (problem, steps or text) pair, got {type(item).__name__} "
                         f"{str(item)[:60]!r}")
    problem, steps = item
    _text(problem, f"{where}: the problem")
    if isinstance(steps, str):
        return problem, _text(steps, f"{where}: the solution text")
    if not isinstance(steps, Sequence):
        raise ValueError(f"{where}: the steps should be a list of strings or a text, got {type(steps).__name__}")
    return problem, [_text(step, f"{where}: step {i}") for i, step in enumerate(steps)]
