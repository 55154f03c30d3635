"""The exact best-of-N protocol equals drawing subsets, and its metrics mean what they say.

``pick_weights`` is checked against the combinatorics and against brute-force enumeration of all subsets;
``best_of_n`` with an oracle scorer gives pass@N, with a constant scorer pass@1, and its process and trace
error metrics follow their definitions on a hand-made pool; first-error F1 on a table of cases.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from eval.regime.protocol import best_of_n, first_error_f1, majority_vote, pick_weights


@pytest.mark.parametrize(("pool", "n"), [(5, 1), (5, 2), (6, 3), (7, 7)])
def test_pick_weights_equal_subset_enumeration(pool: int, n: int) -> None:
    counts = np.zeros(pool)
    for subset in itertools.combinations(range(pool), n):
        counts[max(subset)] += 1  # index = ascending rank - 1: the max index is the pick
    np.testing.assert_allclose(pick_weights(pool, n), counts / math.comb(pool, n), atol=1e-12)


def test_oracle_scorer_gives_pass_at_n_and_constant_scorer_pass_at_1() -> None:
    rng = np.random.default_rng(0)
    answer = rng.random((50, 16)) < 0.3
    process = np.ones_like(answer)
    oracle = best_of_n(answer.astype(float), answer, process, [1, 4, 16], rng)
    for n in (1, 4, 16):
        expected = np.mean([1 - math.comb(16 - int(row.sum()), n) / math.comb(16, n) for row in answer])
        assert oracle[n]["answer"] == pytest.approx(expected, abs=1e-9)
    constant = [best_of_n(np.zeros((50, 16)), answer, process, [4], np.random.default_rng(s))[4]["answer"]
                for s in range(20)]
    assert np.mean(constant) == pytest.approx(answer.mean(), abs=0.02)


def test_process_and_trace_error() -> None:
    """One problem; the best-scored solution has the right answer through a wrong step (spurious)."""
    scores = np.array([[0.9, 0.5, 0.1]])
    answer = np.array([[True, True, False]])
    process = np.array([[False, True, True]])
    picked = best_of_n(scores, answer, process, [3], np.random.default_rng(0))[3]
    assert picked == {"answer": 1.0, "process": 0.0, "trace_error": 1.0}


def test_majority_vote() -> None:
    rng = np.random.default_rng(0)
    answers = np.array([[1, 1, 1, 2], [0, 3, 3, 3]])
    gold = np.array([1, 0])
    votes = majority_vote(answers, gold, [4], answer_space=4, rng=rng)
    assert votes[4] == 1.0 / 2  # the first problem's majority is right, the second's is 3


F1_CASES = [
    # (scores, exact labels, F1): one erroneous and one correct solution each
    ([[0.9, 0.2, 0.1], [0.9, 0.9]], [[1.0, 0.0, 0.0], [1.0, 1.0]], 1.0),
    ([[0.2, 0.2, 0.1], [0.9, 0.9]], [[1.0, 0.0, 0.0], [1.0, 1.0]], 0.0),  # first error found too early
    ([[0.9, 0.2, 0.1], [0.9, 0.3]], [[1.0, 0.0, 0.0], [1.0, 1.0]], 0.0),  # a correct solution flagged
]


@pytest.mark.parametrize(("scores", "labels", "f1"), F1_CASES)
def test_first_error_f1(scores: list, labels: list, f1: float) -> None:
    assert first_error_f1(scores, labels) == f1


def test_crossover_and_who_is_ahead() -> None:
    from eval.regime.report import crossover

    at, _ = crossover([100, 1000], [0.5, 0.9], [100, 1000], [0.7, 0.7])  # a rises through b
    assert at == pytest.approx(math.exp((math.log(100) + math.log(1000)) / 2), rel=0.03)
    at, why = crossover([100, 1000], [0.5, 0.6], [200, 2000], [0.7, 0.8])
    assert at is None and why.startswith("the ORM ahead") and "200-1,000" in why
    assert crossover([1, 2], [0.5, 0.5], [1, 2], [0.5, 0.5])[1].startswith("equal")


def test_mean_ci_is_the_student_t_interval() -> None:
    from eval.regime.report import mean_ci

    mean, low, high = mean_ci([0.1, 0.2, 0.3])  # sd 0.1, n 3: half-width 4.303 * 0.1 / sqrt(3)
    assert mean == pytest.approx(0.2) and high - mean == pytest.approx(4.303 * 0.1 / math.sqrt(3), rel=1e-3)
    assert math.isnan(mean_ci([0.4])[1])
