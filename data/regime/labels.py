"""Step labels of regime-task solutions, one labeller per kind of supervision, with what each one costs.

Every labeller returns, per solution, one float label per line and the policy rollouts it spent:

- ``final``: the final-answer label on every line (outcome supervision; pays spurious and lucky answers);
- ``process``: 1 on every line iff the solution is process-correct (an outcome label a human grader gives);
- ``exact``: the exact step labels (:func:`data.regime.task.exact_labels`);
- ``flip``: the exact labels, each flipped independently with probability ``eta`` (annotator noise);
- ``mc``: Math-Shepherd's hard Monte-Carlo labels from ``m`` policy rollouts per line: a line is 1 when some
  rollout from the prefix ending at it reaches the right answer; the last line is judged by the solution's
  own answer (no rollout). Cost: up to ``m`` rollouts per line but the last (the hard rule stops at the
  first rollout that reaches the answer; the rollouts actually run are counted);
- ``bisect``: OmegaPRM's binary search for the first error with ``m`` rollouts per probe; a solution with a
  right answer costs nothing (:mod:`data.labelling.binary_search`).

``LABELLERS`` maps each name to its function ``f(problem, lines, knobs, rng, param) -> (labels, rollouts)``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from data.labelling.binary_search import first_error_by_bisection, labels_from_first_error
from data.regime.task import Knobs, Line, Problem, answer_correct, continue_solution, exact_labels, process_correct

__all__ = ["LABELLERS", "Labeller", "reaches_answer"]

Labeller = Callable[[Problem, Sequence[Line], Knobs, random.Random, float], tuple[list[float], int]]


def reaches_answer(problem: Problem, prefix: Sequence[Line], knobs: Knobs, rng: random.Random, m: int
                   ) -> tuple[bool, int]:
    """(some of ``m`` policy rollouts from ``prefix`` ends with the right answer, rollouts run): the hard rule
    stops at the first rollout that does, so that is all a labeller has to pay for."""
    for used in range(1, m + 1):
        if answer_correct(problem, continue_solution(problem, knobs, prefix, rng), knobs):
            return True, used
    return False, m


def final_labels(problem: Problem, lines: Sequence[Line], knobs: Knobs, rng: random.Random, param: float
                 ) -> tuple[list[float], int]:
    label = 1.0 if answer_correct(problem, lines, knobs) else 0.0
    return [label] * len(lines), 0


def process_labels(problem: Problem, lines: Sequence[Line], knobs: Knobs, rng: random.Random, param: float
                   ) -> tuple[list[float], int]:
    label = 1.0 if answer_correct(problem, lines, knobs) and process_correct(lines, knobs.modulus) else 0.0
    return [label] * len(lines), 0


def exact_step_labels(problem: Problem, lines: Sequence[Line], knobs: Knobs, rng: random.Random, param: float
                      ) -> tuple[list[float], int]:
    return exact_labels(lines, knobs.modulus), 0


def flipped_labels(problem: Problem, lines: Sequence[Line], knobs: Knobs, rng: random.Random, eta: float
                   ) -> tuple[list[float], int]:
    return [1.0 - label if rng.random() < eta else label for label in exact_labels(lines, knobs.modulus)], 0


def mc_labels(problem: Problem, lines: Sequence[Line], knobs: Knobs, rng: random.Random, m: float
              ) -> tuple[list[float], int]:
    labels, spent = [], 0
    for index in range(len(lines) - 1):
        reached, used = reaches_answer(problem, lines[: index + 1], knobs, rng, int(m))
        labels.append(1.0 if reached else 0.0)
        spent += used
    labels.append(1.0 if answer_correct(problem, lines, knobs) else 0.0)
    return labels, spent


def bisect_labels(problem: Problem, lines: Sequence[Line], knobs: Knobs, rng: random.Random, m: float
                  ) -> tuple[list[float], int]:
    if answer_correct(problem, lines, knobs):
        return [1.0] * len(lines), 0
    spent = 0

    def prefix_good(k: int) -> bool:
        nonlocal spent
        reached, used = reaches_answer(problem, lines[:k], knobs, rng, int(m))
        spent += used
        return reached

    first, _ = first_error_by_bisection(len(lines), prefix_good)
    return labels_from_first_error(len(lines), first), spent


LABELLERS: dict[str, Labeller] = {
    "final": final_labels,
    "process": process_labels,
    "exact": exact_step_labels,
    "flip": flipped_labels,
    "mc": mc_labels,
    "bisect": bisect_labels,
}
