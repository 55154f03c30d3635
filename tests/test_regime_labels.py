"""Each labeller of the regime task gives the labels and costs its definition says.

Flipped labels flip at eta; Monte-Carlo labels of a prefix that is right with one line to go are 1 with
probability 1 - e^m (only an error in that line misses the answer, and an error never lands on the right
value), and each such label costs 1 + e + ... + e^(m-1) rollouts on average (the hard rule stops at the first
success); binary search finds the exact first error with an exact oracle in ceil(log2 n) probes, and on
the task it agrees with the exact first error about as well as Monte-Carlo labels for far fewer rollouts.
"""

from __future__ import annotations

import math
import random

import pytest
from test_regime_task import draws, within

from data.labelling.binary_search import first_error_by_bisection, labels_from_first_error
from data.regime import LABELLERS, OP, Knobs, Line, draw_problem, exact_labels


@pytest.mark.parametrize("eta", [0.1, 0.3])
def test_flipped_labels_flip_at_eta(eta: float) -> None:
    knobs = Knobs()
    rng = random.Random(0)
    flipped = total = 0
    for problem, lines in draws(knobs, 2000):
        labels, cost = LABELLERS["flip"](problem, lines, knobs, rng, eta)
        exact = exact_labels(lines, knobs.modulus)
        flipped += sum(a != b for a, b in zip(labels, exact, strict=True))
        total += len(labels)
        assert cost == 0
    assert within(flipped / total, eta, total), flipped / total


@pytest.mark.parametrize("m", [1, 2, 3])
def test_monte_carlo_counts_of_a_step_before_the_last(m: int) -> None:
    """Depth 2, first line right: the first line's hard label is 1 w.p. 1 - e^m at a cost of sum e^i."""
    error = 0.5
    knobs = Knobs(depth=2, error_rate=error)
    rng = random.Random(m)
    ones = spent = 0
    trials = 3000
    for _ in range(trials):
        problem = draw_problem(knobs, rng)
        right = problem.values[1]
        wrong = (problem.values[2] + 1) % 6
        lines = [Line(OP, problem.x0, *problem.ops[0], right), Line(OP, right, *problem.ops[1], wrong)]
        labels, cost = LABELLERS["mc"](problem, lines, knobs, rng, m)
        assert labels[1] == 0.0  # the last line is judged by the solution's own (wrong) answer
        ones += labels[0]
        spent += cost
    assert within(ones / trials, 1 - error**m, trials), ones / trials
    expected_cost = sum(error**i for i in range(m))
    assert abs(spent / trials - expected_cost) < 0.1, spent / trials


def test_outcome_labels_copy_the_answer_and_process_labels_need_every_line_right() -> None:
    knobs = Knobs(error_rate=0.3, spurious_rate=0.8)
    rng = random.Random(0)
    seen_spurious = False
    for problem, lines in draws(knobs, 500):
        final = LABELLERS["final"](problem, lines, knobs, rng, 0)[0]
        process = LABELLERS["process"](problem, lines, knobs, rng, 0)[0]
        assert len(set(final)) == 1 and len(set(process)) == 1
        if final[0] == 1.0 and process[0] == 0.0:
            seen_spurious = True
        assert process[0] <= final[0]
    assert seen_spurious


@pytest.mark.parametrize("steps", range(1, 10))
def test_bisection_finds_every_first_error(steps: int) -> None:
    for first in range(steps):
        asked: list[int] = []

        def good(k: int, first: int = first, asked: list[int] = asked) -> bool:
            asked.append(k)
            return k <= first

        found, probes = first_error_by_bisection(steps, good)
        assert found == first
        assert probes == len(asked) <= math.ceil(math.log2(steps))
        assert all(1 <= k < steps for k in asked)


def test_labels_from_first_error() -> None:
    assert labels_from_first_error(4, 2) == [1.0, 1.0, 0.0, 0.0]
    assert labels_from_first_error(3, None) == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError):
        first_error_by_bisection(0, lambda k: True)


def test_bisection_matches_monte_carlo_for_fewer_rollouts() -> None:
    """No spurious answers, no fixes, depth 6: first-error agreement of both labellers with exact labels at
    m=4 (a right prefix far from the end can miss the answer in all 4 rollouts), and what each spends."""
    knobs = Knobs(depth=6, error_rate=0.15)
    rng = random.Random(0)
    results = {}
    for method in ("mc", "bisect"):
        hits = cost = 0
        solutions = draws(knobs, 1500, seed=3)
        for problem, lines in solutions:
            labels, spent = LABELLERS[method](problem, lines, knobs, rng, 4)
            exact = exact_labels(lines, knobs.modulus)
            hits += labels.index(0.0) == exact.index(0.0) if 0.0 in exact and 0.0 in labels else labels == exact
            cost += spent
        results[method] = (hits / len(solutions), cost / len(solutions))
    (mc_agree, mc_cost), (bisect_agree, bisect_cost) = results["mc"], results["bisect"]
    # measured: 0.74 and 0.75 agreement, 11.7 and 4.1 rollouts per solution
    assert mc_agree > 0.6 and abs(mc_agree - bisect_agree) < 0.05, results
    assert bisect_cost < 0.6 * mc_cost, results
