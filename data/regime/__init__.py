"""The regime task: a synthetic chain-arithmetic task with exact knobs, for mapping where a PRM beats an ORM.

:mod:`data.regime.task` draws problems and solutions and labels them exactly; :mod:`data.regime.labels`
turns solutions into the step labels each kind of supervision would give, with their cost in rollouts.
The verifiers, the sweep and the report are in :mod:`prm.regime` and :mod:`eval.regime`.
"""

from data.regime.labels import LABELLERS, reaches_answer
from data.regime.task import (
    FIX,
    OP,
    Knobs,
    Line,
    Problem,
    answer_correct,
    answer_of,
    continue_solution,
    draw_problem,
    exact_labels,
    is_wrong,
    parse_step,
    process_correct,
    render,
    solve,
)

__all__ = [
    "FIX", "LABELLERS", "OP", "Knobs", "Line", "Problem", "answer_correct", "answer_of", "continue_solution",
    "draw_problem", "exact_labels", "is_wrong", "parse_step", "process_correct", "reaches_answer", "render", "solve",
]  # fmt: skip
