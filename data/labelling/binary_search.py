"""Binary search for the first error of a wrong solution (OmegaPRM, Luo et al. 2024, arXiv 2406.06592).

Monte-Carlo labelling (Math-Shepherd) rolls out every step prefix; OmegaPRM instead bisects. A solution
whose final answer is wrong has a bad full prefix; the empty prefix is taken as good. Probe the middle
prefix: if some rollout from it reaches the gold answer, the first error is after it, otherwise at or
before it. ``ceil(log2(n))`` probes instead of ``n - 1`` locate the first error under the same rule as
hard Monte-Carlo labels (a prefix is good when some rollout reaches the answer), provided goodness is
monotone along the solution; where it is not (a later prefix reachable again), bisection and plain
Monte-Carlo can disagree, which is what :mod:`data.regime.labels` measures.

A solution whose final answer is right needs no rollout at all: under the hard rule every prefix of it
is good (the solution itself is a rollout that reaches the answer).

:func:`first_error_by_bisection` is the search alone (the caller supplies ``prefix_good(k)``, which rolls
out from the first ``k`` steps; the regime task uses it with its exact policy). :func:`bisect_label` runs it
with a real policy (``prm label --method bisect``): the same items as Monte-Carlo labelling
(:func:`data.labelling.monte_carlo.mc_items`), every solution of a chunk bisected in lockstep, one
``generate`` call per round. Torch-free.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from data.journal import RowJournal
from data.labelling.monte_carlo import MCItem, RolloutParams, RolloutSampler
from data.records import StepwiseRow
from data.segment import STEP_SEPARATOR
from verifiers import Status, VerifyConfig, verify_many

__all__ = ["BisectResult", "bisect_label", "bisect_label_journalled", "bisect_rows", "first_error_by_bisection",
           "labels_from_first_error"]

logger = logging.getLogger(__name__)


def first_error_by_bisection(num_steps: int, prefix_good: Callable[[int], bool]) -> tuple[int, int]:
    """(index of the first wrong step, probes made) for a solution of ``num_steps`` steps whose answer is
    wrong. ``prefix_good(k)`` says whether the prefix of ``k`` steps (1 <= k < num_steps) can still reach
    the gold answer."""
    if num_steps < 1:
        raise ValueError("a wrong solution has at least one step")
    good, bad = 0, num_steps  # prefix lengths: known good, known bad
    probes = 0
    while bad - good > 1:
        middle = (good + bad) // 2
        probes += 1
        if prefix_good(middle):
            good = middle
        else:
            bad = middle
    return bad - 1, probes


def labels_from_first_error(num_steps: int, first_error: int | None) -> list[float]:
    """1.0 before the first error, 0.0 at and after it (all 1.0 when there is none)."""
    if first_error is None:
        return [1.0] * num_steps
    return [1.0 if index < first_error else 0.0 for index in range(num_steps)]


@dataclass
class BisectResult:
    """Binary-search labels of one solution: its first error (-1: none found) and the rollouts spent."""

    item: MCItem
    first_error: int
    rollouts: int

    @property
    def labels(self) -> list[float]:
        return labels_from_first_error(len(self.item.steps), None if self.first_error < 0 else self.first_error)


def _reaches(gold: str, prefix: str, completions: Sequence[Any], workers: int, config: VerifyConfig | None) -> bool:
    verdicts = verify_many([(gold, prefix + STEP_SEPARATOR + c.text) for c in completions], workers=workers,
                           config=config)
    return any(v.status is Status.EQUAL for v in verdicts)


def bisect_label(sampler: RolloutSampler, items: Sequence[MCItem], k: int, params: RolloutParams, *,
                 chunk: int = 256, workers: int = 1, config: VerifyConfig | None = None,
                 skip: Callable[[int], bool] | None = None,
                 on_chunk: Callable[[list[tuple[int, BisectResult]]], None] | None = None) -> list[BisectResult]:
    """OmegaPRM labels of ``items`` from ``k`` policy rollouts per probe, bisecting every wrong solution of a
    chunk in lockstep: each round probes one prefix of each solution still searching, all in one ``generate``
    call (seeded ``params.seed + chunk start + round``, so a resumed chunk repeats itself). Resuming and
    ``on_chunk`` work as in :func:`data.labelling.monte_carlo.mc_label`."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    results: list[BisectResult] = []
    for start in range(0, len(items), chunk):
        todo = [i for i in range(start, min(start + chunk, len(items))) if skip is None or not skip(i)]
        if not todo:
            continue
        wholes = verify_many([(items[i].gold, STEP_SEPARATOR.join(items[i].steps)) for i in todo], workers=workers,
                             config=config)
        bounds = {i: [0, len(items[i].steps)] for i, verdict in zip(todo, wholes, strict=True)
                  if verdict.status is not Status.EQUAL}
        spent = dict.fromkeys(todo, 0)
        round_ = 0
        while searching := [i for i, (good, bad) in bounds.items() if bad - good > 1]:
            middles = {i: (bounds[i][0] + bounds[i][1]) // 2 for i in searching}
            prefixes = {i: STEP_SEPARATOR.join(items[i].steps[: middles[i]]) for i in searching}
            round_params = params if params.seed is None else replace(params, seed=params.seed + start + round_)
            groups = sampler.generate([items[i].prompt + prefixes[i] + STEP_SEPARATOR for i in searching], k,
                                      round_params)
            for i, group in zip(searching, groups, strict=True):
                group = (list(group) * k)[:k] if params.greedy else list(group)
                spent[i] += k
                bounds[i][0 if _reaches(items[i].gold, prefixes[i], group, workers, config) else 1] = middles[i]
            round_ += 1
        new = [(i, BisectResult(items[i], bounds[i][1] - 1 if i in bounds else -1, spent[i])) for i in todo]
        if on_chunk is not None:
            on_chunk(new)
        results.extend(result for _, result in new)
        logger.info("binary-search labels: %d/%d solutions (%d rounds)", start + len(todo), len(items), round_)
    return results


def bisect_label_journalled(sampler: RolloutSampler, items: Sequence[MCItem], k: int, params: RolloutParams,
                            journal_path: str | Path, *, settings: dict[str, Any] | None = None, chunk: int = 256
                            ) -> list[BisectResult]:
    """:func:`bisect_label`, resumable: each chunk's results go to ``journal_path`` (fsync'd) as they exist
    and a rerun skips the solutions already there (other ``settings`` are refused)."""
    keys = [f"{i}:{item.meta.get('problem_id')}:{item.meta.get('sample_idx')}" for i, item in enumerate(items)]
    with RowJournal(journal_path, key=lambda row: row["key"], meta=settings) as journal:

        def save(new: list[tuple[int, BisectResult]]) -> None:
            journal.append([{"key": keys[i], "first_error": r.first_error, "rollouts": r.rollouts} for i, r in new])

        bisect_label(sampler, items, k, params, chunk=chunk, skip=lambda i: journal.done(keys[i]), on_chunk=save)
        return [BisectResult(item, journal.rows[key]["first_error"], journal.rows[key]["rollouts"])
                for item, key in zip(items, keys, strict=True)]


def bisect_rows(results: Sequence[BisectResult]) -> list[StepwiseRow]:
    """Stepwise rows: 1.0 before the first error, 0.0 from it; the rollouts spent kept per row."""
    rows = []
    for result in results:
        item = result.item
        extra = {**item.meta, "label_method": "bisect", "first_error": result.first_error,
                 "rollouts": result.rollouts}
        rows.append(StepwiseRow(prompt=item.problem or item.prompt, completions=list(item.steps),
                                labels=result.labels, extra=extra))
    return rows
