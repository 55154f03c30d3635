"""The regime verifiers learn what their labels teach, and score prefixes causally.

One recipe, 1,000 solutions, 300 steps: the PRM on exact step labels finds the first error (F1 0.95-0.97
over four seeds), the ORM on final-answer labels much less often (0.65-0.74), and the implicit PRM, which
never sees a step label, about as well as the PRM (0.95-0.98). A score after line k depends on lines 1..k
only (search scores partial solutions with the same model).
"""

from __future__ import annotations

import random

import pytest
import torch

from data.regime import LABELLERS, Knobs, draw_problem, exact_labels, solve
from eval.regime.protocol import first_error_f1
from prm.regime.verifier import TrainRecipe, encode_lines, score_lines, train_implicit, train_value

KNOBS = Knobs()


@pytest.fixture(scope="module")
def data() -> tuple[list, list]:
    rng = random.Random(0)
    train = []
    for _ in range(1000):
        problem = draw_problem(KNOBS, rng)
        train.append((problem, solve(problem, KNOBS, rng)))
    test = [solve(problem, KNOBS, rng) for problem in (draw_problem(KNOBS, rng) for _ in range(600))]
    return train, test


def f1_of(model: torch.nn.Module, test: list) -> float:
    return first_error_f1(score_lines(model, test), [exact_labels(s, KNOBS.modulus) for s in test])


def labels(train: list, name: str) -> list[list[float]]:
    rng = random.Random(1)
    return [LABELLERS[name](problem, lines, KNOBS, rng, 0.0)[0] for problem, lines in train]


def test_step_labels_teach_the_first_error_better_than_outcome_labels(data: tuple[list, list]) -> None:
    train, test = data
    solutions = [lines for _, lines in train]
    recipe = TrainRecipe(steps=300)
    prm = f1_of(train_value(solutions, labels(train, "exact"), KNOBS.modulus, recipe, 0), test)
    orm = f1_of(train_value(solutions, labels(train, "final"), KNOBS.modulus, recipe, 0), test)
    outcomes = [row[-1] for row in labels(train, "final")]
    implicit = f1_of(train_implicit(solutions, outcomes, KNOBS.modulus, recipe, 0), test)
    assert prm > 0.85 and implicit > 0.85, (prm, implicit)
    assert prm > orm + 0.1, (prm, orm)


def test_scores_are_causal_and_padding_is_ignored(data: tuple[list, list]) -> None:
    train, test = data
    model = train_value([s for _, s in train[:200]], labels(train[:200], "exact"), KNOBS.modulus,
                        TrainRecipe(steps=5), 0)
    whole = score_lines(model, [test[0]])[0]
    prefix = score_lines(model, [test[0][:2]])[0]
    assert prefix == pytest.approx(whole[:2], abs=1e-6)
    ids, mask = encode_lines([test[0], test[0][:1]])
    assert mask.sum(dim=1).tolist() == [len(test[0]), 1.0]
    batched = score_lines(model, [test[0], test[0][:1]])
    assert len(batched[1]) == 1 and batched[1][0] == pytest.approx(whole[0], abs=1e-6)
