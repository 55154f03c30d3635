"""The step checker as a PRM: :func:`verifiers.check_steps` read as step scores, no model.

A step scores 0.0 when one of its arithmetic claims fails ("13 * 2 = 24") and 1.0 otherwise (every claim
holds, or it makes none), so at any threshold in (0, 1] the first flagged step is the first with a false
claim. It catches only arithmetic slips, exactly (no sympy, no model); benchmarks report it as the LLM-free
baseline row. ``prm score --prm step_checker`` (any command that takes ``--prm``) loads it: a built-in
scorer, not a checkpoint (:data:`prm.model.formats.BUILTIN_SCORERS`). Torch-free.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from prm.model.scorer import ScorerBase, StepsOrText, check_item
from verifiers.steps import check_steps

__all__ = ["FORMAT", "StepCheckerConfig", "StepCheckerScorer", "load"]

FORMAT = "step_checker"


@dataclass(frozen=True)
class StepCheckerConfig:
    """How raw text splits into steps (a data.segment mode)."""

    segmentation: str = "blank_line"
    step_separator: str = "\n\n"


class StepCheckerScorer(ScorerBase):
    """1.0 for a step whose arithmetic claims all hold (or that makes none), 0.0 for one with a false claim."""

    format = FORMAT
    device = "cpu"

    def __init__(self, config: StepCheckerConfig | None = None) -> None:
        self.config = config or StepCheckerConfig()
        self.model = None  # no model: nothing to load, no dtype

    def score_batch(self, items: Sequence[tuple[str, StepsOrText]], batch_size: int | None = None
                    ) -> list[list[float | None]]:
        pairs = [check_item(index, item) for index, item in enumerate(items)]
        return [[0.0 if check_steps(step).ok is False else 1.0 for step in self.steps_of(steps)]
                for _, steps in pairs]


def load(_: Any = None, *, device: Any = "cpu", dtype: Any = None, batch_size: int = 16,
         max_length: int | None = None, segmentation: str = "blank_line") -> StepCheckerScorer:
    """The step checker (the model, device and batch options are accepted and unused); option: segmentation."""
    from prm.model.published.causal import check_segmentation

    check_segmentation(segmentation)
    return StepCheckerScorer(StepCheckerConfig(segmentation))
