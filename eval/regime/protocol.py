"""Best-of-N in the PRM800K protocol, computed exactly: what a verifier's pick is worth at every N.

Lightman et al. draw many subsets of N solutions from a large pool per problem and average the accuracy of
the verifier's pick. Here that average is computed in closed form instead of sampled: sort a problem's pool
by score (ties broken at random, once); the solution of rank r (1 = lowest of P) is the pick of a uniform
N-subset with probability C(r-1, N-1) / C(P, N). So every N from 1 to P costs one weighted sum per metric,
with no subset noise.

Metrics of the pick, averaged over problems:

- ``answer``: its final answer is right;
- ``process``: its answer is right and no line is wrong (process-correct);
- ``trace_error``: of the picks with a right answer, the share with a wrong line (Uesato et al.);
- ``majority``: majority vote over the N answers (sampled subsets: voting has no closed form);
- first-error F1 (:func:`first_error_f1`): ProcessBench's harmonic mean of the accuracy on solutions with an
  error (first line scored below 0.5 = the first 0 label) and on those without.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from eval.aggregate import aggregate

__all__ = ["aggregate_all", "best_of_n", "first_error_f1", "majority_vote", "pick_weights"]


def aggregate_all(step_scores: Sequence[Sequence[float]], how: str) -> np.ndarray:
    """One score per solution from its line scores (an :data:`eval.aggregate.AGGREGATIONS` name)."""
    return np.array([aggregate(scores, how) for scores in step_scores], dtype=np.float64)


def pick_weights(pool: int, n: int) -> np.ndarray:
    """[pool] probabilities that the solution of ascending rank r (index r-1) is the best of a uniform N-subset."""
    if not 1 <= n <= pool:
        raise ValueError(f"N must be in 1..{pool}, got {n}")
    ranks = np.arange(1, pool + 1, dtype=np.float64)
    weights = np.zeros(pool)
    usable = ranks >= n
    r = ranks[usable]
    log_w = (_lgamma(r) - _lgamma(np.float64(n)) - _lgamma(r - n + 1)
             - (_lgamma(np.float64(pool + 1)) - _lgamma(np.float64(n + 1)) - _lgamma(np.float64(pool - n + 1))))
    weights[usable] = np.exp(log_w)
    return weights / weights.sum()


def _lgamma(values: np.ndarray | np.float64) -> np.ndarray:
    return np.vectorize(math.lgamma, otypes=[np.float64])(values)


def best_of_n(scores: np.ndarray, answer: np.ndarray, process: np.ndarray, ns: Sequence[int],
              rng: np.random.Generator) -> dict[int, dict[str, float]]:
    """Expected metrics of the highest-scored of N solutions, for each N, given [problems, pool] arrays of
    scores and of the answer-right and process-correct flags (booleans)."""
    problems, pool = scores.shape
    tiebreak = rng.random(scores.shape)
    order = np.lexsort((tiebreak, scores), axis=-1)
    right = np.take_along_axis(answer.astype(np.float64), order, axis=-1)
    clean = np.take_along_axis((answer & process).astype(np.float64), order, axis=-1)
    out: dict[int, dict[str, float]] = {}
    for n in ns:
        weights = pick_weights(pool, n)
        answer_rate = float((right @ weights).mean())
        process_rate = float((clean @ weights).mean())
        out[n] = {"answer": answer_rate, "process": process_rate,
                  "trace_error": 1.0 - process_rate / answer_rate if answer_rate > 0 else 0.0}
    return out


def majority_vote(answers: np.ndarray, gold: np.ndarray, ns: Sequence[int], answer_space: int,
                  rng: np.random.Generator, draws: int = 64) -> dict[int, float]:
    """Accuracy of the most common answer among N drawn without replacement ([problems, pool] answers; ties
    broken at random), averaged over ``draws`` subsets per problem."""
    problems, pool = answers.shape
    out: dict[int, float] = {}
    for n in ns:
        keys = rng.random((problems, draws, pool))
        chosen = np.argsort(keys, axis=-1)[..., :n]
        votes = np.take_along_axis(np.broadcast_to(answers[:, None, :], keys.shape), chosen, axis=-1)
        counts = np.stack([(votes == value).sum(-1) for value in range(answer_space)], axis=-1).astype(np.float64)
        counts += rng.random(counts.shape) * 0.5  # ties at random
        out[n] = float((counts.argmax(-1) == gold[:, None]).mean())
    return out


def first_error_f1(step_scores: Sequence[Sequence[float]], labels: Sequence[Sequence[float]],
                   threshold: float = 0.5) -> float:
    """ProcessBench's F1: harmonic mean of the exact-first-error accuracy on solutions with an error and the
    no-error accuracy on solutions without one."""
    hits = {True: [0, 0], False: [0, 0]}
    for scores, gold in zip(step_scores, labels, strict=True):
        predicted = next((i for i, score in enumerate(scores) if score < threshold), None)
        truth = next((i for i, label in enumerate(gold) if label < 0.5), None)
        group = hits[truth is not None]
        group[0] += predicted == truth
        group[1] += 1
    erroneous = hits[True][0] / hits[True][1] if hits[True][1] else 0.0
    correct = hits[False][0] / hits[False][1] if hits[False][1] else 0.0
    return 2 * erroneous * correct / (erroneous + correct) if erroneous + correct else 0.0
