"""Run the regime map: for each cell and seed, draw the data, label it each verifier's way, train, evaluate.

Per (cell, seed): training solutions (the first ``train_solutions`` of one stream, so budgets are nested)
and a test pool of ``pool`` solutions for each of ``problems`` problems, both drawn from seeds derived from
the knobs and the seed alone. Each verifier labels the training solutions (its own rollouts and flips from
its own stream), is trained (:mod:`prm.regime.verifier`, same initial weights for all), and scores the
pool; best-of-N is computed exactly for every N (:mod:`eval.regime.protocol`). One row per (cell, seed,
verifier) is appended to a journal as soon as it exists, so a killed sweep resumes where it stopped; a
``_pool`` row per (cell, seed) holds majority vote and pass@N, a ``_label_cost`` row the cost and accuracy
of Monte-Carlo and binary-search labels at several m (labelling only, no training). At the profile's search
points each verifier also guides beam search, against best-of-N at the same n (:mod:`prm.regime.search`).
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import random
import signal
import sys
import time
import zlib
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from data.journal import RowJournal
from data.regime.labels import LABELLERS
from data.regime.task import (
    Knobs,
    Line,
    Problem,
    answer_correct,
    answer_of,
    draw_problem,
    exact_labels,
    process_correct,
    solve,
)
from eval.regime.protocol import aggregate_all, best_of_n, first_error_f1, majority_vote
from prm.regime.cells import VERIFIERS, Cell, Profile, profile_cells
from prm.regime.search import search_accuracy
from prm.regime.verifier import TrainRecipe, score_lines, train_implicit, train_value

__all__ = ["LABEL_COST_ROW", "POOL_ROW", "CellData", "cell_data", "label_cost_row", "label_solutions", "label_with",
           "pool_row", "run_profile", "run_verifier"]

logger = logging.getLogger(__name__)

AGGREGATIONS = ("min", "product", "last")
POOL_ROW = "_pool"
_PR_SET_PDEATHSIG = 1  # linux/prctl.h
LABEL_COST_ROW = "_label_cost"
LABEL_COST_MS = (1, 2, 4, 8, 16)
F1_SOLUTIONS = 8  # pool solutions per problem the first-error F1 is measured on


def _stream(*parts: Any) -> random.Random:
    return random.Random(zlib.crc32("|".join(str(p) for p in parts).encode()))


@dataclass
class CellData:
    """The training solutions and the test pool of one (cell, seed), with the pool's exact outcomes."""

    train: list[tuple[Problem, list[Line]]]
    problems: list[Problem]
    pool: list[list[list[Line]]]
    answer: np.ndarray  # [problems, pool] answer right
    process: np.ndarray  # [problems, pool] no wrong line


def cell_data(cell: Cell, seed: int, problems: int, pool: int) -> CellData:
    """Data drawn from (knobs, seed) only: every verifier and every label budget of a cell sees the same."""
    knobs = cell.knobs
    train_rng = _stream("train", knobs, seed)
    train = []
    for _ in range(cell.train_solutions):
        problem = draw_problem(knobs, train_rng)
        train.append((problem, solve(problem, knobs, train_rng)))
    test_rng = _stream("test", knobs, seed)
    test_problems = [draw_problem(knobs, test_rng) for _ in range(problems)]
    solutions = [[solve(problem, knobs, test_rng) for _ in range(pool)] for problem in test_problems]
    answer = np.array([[answer_correct(problem, s, knobs) for s in row]
                       for problem, row in zip(test_problems, solutions, strict=True)])
    process = np.array([[process_correct(s, knobs.modulus) for s in row] for row in solutions])
    return CellData(train, test_problems, solutions, answer, process)


def label_with(labeller: str, param: float, knobs: Knobs, rng: random.Random,
               train: Sequence[tuple[Problem, list[Line]]]) -> tuple[list[list[float]], dict[str, float]]:
    """Labels of the training solutions by one labeller, with their cost in rollouts per solution and their
    agreement with the exact labels (per line, and on the first error)."""
    labels, rollouts, line_hits, lines, first_hits = [], 0, 0, 0, 0
    for problem, solution in train:
        row, spent = LABELLERS[labeller](problem, solution, knobs, rng, param)
        exact = exact_labels(solution, knobs.modulus)
        labels.append(row)
        rollouts += spent
        line_hits += sum(a == b for a, b in zip(row, exact, strict=True))
        lines += len(row)
        first_hits += _first_zero(row) == _first_zero(exact)
    count = max(1, len(train))
    return labels, {"rollouts_per_solution": rollouts / count, "label_line_agreement": line_hits / max(1, lines),
                    "label_first_error_agreement": first_hits / count}


def label_solutions(name: str, cell: Cell, seed: int, train: Sequence[tuple[Problem, list[Line]]]
                    ) -> tuple[list[list[float]], dict[str, float]]:
    """Verifier ``name``'s labels of the training solutions (its own random stream), with :func:`label_with`'s
    statistics."""
    spec = VERIFIERS[name]
    param = cell.eta if spec.param == "eta" else float(spec.param)
    return label_with(spec.labeller, param, cell.knobs, _stream("labels", cell.knobs, seed, name), train)


def label_cost_row(cell: Cell, seed: int, data: CellData) -> dict[str, Any]:
    """Monte-Carlo and binary-search labels at every m of ``LABEL_COST_MS``: cost and agreement (no training)."""
    out: dict[str, Any] = {}
    for method in ("mc", "bisect"):
        for m in LABEL_COST_MS:
            rng = _stream("label-cost", cell.knobs, seed, method, m)
            out[f"{method}{m}"] = label_with(method, float(m), cell.knobs, rng, data.train)[1]
    return {"label_cost": out}


def _first_zero(labels: Sequence[float]) -> int | None:
    return next((i for i, label in enumerate(labels) if label < 0.5), None)


def _train(name: str, solutions: list[list[Line]], labels: list[list[float]], knobs: Knobs, recipe: TrainRecipe,
           seed: int) -> Any:
    if VERIFIERS[name].head == "implicit":
        return train_implicit(solutions, [row[-1] for row in labels], knobs.modulus, recipe, seed)
    return train_value(solutions, labels, knobs.modulus, recipe, seed)


def run_verifier(name: str, cell: Cell, seed: int, data: CellData, ns: Sequence[int], recipe: TrainRecipe,
                 search: tuple[int, Sequence[int]] | None = None) -> dict[str, Any]:
    """Label, train and evaluate one verifier: its row of the journal (without the cell's identity). With
    ``search`` = (problems, ns), it also guides beam search against best-of-N on the first test problems."""
    start = time.perf_counter()
    labels, label_stats = label_solutions(name, cell, seed, data.train)
    model = _train(name, [s for _, s in data.train], labels, cell.knobs, recipe, seed)
    flat = [solution for row in data.pool for solution in row]
    scores = score_lines(model, flat)
    shape = data.answer.shape
    metrics = {}
    for how in AGGREGATIONS:
        picked = best_of_n(aggregate_all(scores, how).reshape(shape), data.answer, data.process, ns,
                           np.random.default_rng(seed))
        metrics[how] = {str(n): values for n, values in picked.items()}
    few = [i * shape[1] + j for i in range(shape[0]) for j in range(min(F1_SOLUTIONS, shape[1]))]
    f1 = first_error_f1([scores[i] for i in few], [exact_labels(flat[i], cell.knobs.modulus) for i in few])
    row = {"metrics": metrics, "first_error_f1": f1, **label_stats}
    if search is not None:
        how = "last" if name.startswith("orm") else "min"
        row["search"] = search_accuracy(model, data.problems[: search[0]], cell.knobs, search[1], how, seed)
        row["search_aggregation"] = how
    return {**row, "seconds": time.perf_counter() - start}


def pool_row(cell: Cell, seed: int, data: CellData, ns: Sequence[int]) -> dict[str, Any]:
    """Majority vote and pass@N of the pool (no verifier)."""
    knobs = cell.knobs
    answers = np.array([[answer_of(s, knobs) for s in row] for row in data.pool])
    gold = np.array([p.values[-1] % knobs.answer_space for p in data.problems])
    vote = majority_vote(answers, gold, ns, knobs.answer_space, np.random.default_rng(seed))
    pool = data.answer.shape[1]
    pass_at = {}
    for n in ns:  # P(some of a uniform N-subset is right) = 1 - C(wrong, N) / C(pool, N)
        wrong = pool - data.answer.sum(axis=1)
        pass_at[str(n)] = float(np.mean([1.0 - _ratio(int(w), pool, n) for w in wrong]))
    return {"majority": {str(n): v for n, v in vote.items()}, "pass_at": pass_at,
            "pass1": float(data.answer.mean()), "process1": float((data.answer & data.process).mean())}


def _ratio(wrong: int, pool: int, n: int) -> float:
    """C(wrong, n) / C(pool, n)."""
    out = 1.0
    for i in range(n):
        out *= max(0, wrong - i) / (pool - i)
    return out


def _row(name: str, cell: Cell, seed: int, data: CellData, profile: Profile, recipe: TrainRecipe, search: bool
         ) -> dict[str, Any]:
    if name == POOL_ROW:
        return pool_row(cell, seed, data, profile.ns)
    if name == LABEL_COST_ROW:
        return label_cost_row(cell, seed, data)
    plan = (profile.search_problems, profile.search_ns) if search else None
    return run_verifier(name, cell, seed, data, profile.ns, recipe, plan)


@dataclass(frozen=True)
class _Unit:
    """One (cell, seed) and the rows of it still missing: what one worker computes."""

    cell: Cell
    seed: int
    names: tuple[str, ...]
    searched: bool


def _run_unit(unit: _Unit, profile: Profile, recipe: TrainRecipe) -> list[dict[str, Any]]:
    data = cell_data(unit.cell, unit.seed, profile.problems, profile.pool)
    rows = []
    for name in unit.names:
        body = _row(name, unit.cell, unit.seed, data, profile, recipe, unit.searched)
        rows.append({"cell": unit.cell.key, "seed": unit.seed, "verifier": name, **unit.cell.to_dict(), **body})
    return rows


def _worker_init(parent: int) -> None:
    """One torch thread, and die with the parent: a killed sweep must not leave its workers computing."""
    import torch

    torch.set_num_threads(1)
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the signal was asked for
        os._exit(0)


def _units(profile: Profile, done: Any, seeds: Sequence[int]) -> list[_Unit]:
    """The missing work, biggest units first (so two workers finish together)."""
    todo: dict[str, tuple[Cell, set[str]]] = {}
    searched = set()
    for sweep, value, cell in profile_cells(profile):
        entry = todo.setdefault(cell.key, (cell, set()))
        entry[1].update(cell.verifiers)
        if (sweep, value) in profile.search:
            searched.add(cell.key)
    units = []
    for seed in seeds:
        for key, (cell, names) in todo.items():
            missing = tuple(n for n in [POOL_ROW, LABEL_COST_ROW, *sorted(names)] if (key, seed, n) not in done)
            if missing:
                units.append(_Unit(cell, seed, missing, key in searched))
    weight = {name: 4 if VERIFIERS.get(name, VERIFIERS["prm_exact"]).head == "implicit" else 1 for name in VERIFIERS}
    return sorted(units, key=lambda u: -sum(weight.get(n, 0) for n in u.names) * u.cell.knobs.depth)


def run_profile(profile: Profile, journal_path: str | Path, recipe: TrainRecipe,
                seeds: Sequence[int] | None = None, workers: int = 2) -> RowJournal:
    """Every (cell, seed, verifier) of ``profile`` not yet in the journal. A (cell, seed) is one unit of work
    for one of ``workers`` processes (one torch thread each: these models are too small for two); the parent
    appends each unit's rows to the journal as the unit finishes, so a kill loses only the units in flight."""
    meta = {"recipe": recipe.__dict__, "problems": profile.problems, "pool": profile.pool}
    journal = RowJournal(journal_path, key=lambda row: (row["cell"], row["seed"], row["verifier"]), meta=meta)
    units = _units(profile, journal.rows, list(seeds) if seeds is not None else list(range(profile.seeds)))
    logger.info("%d units of (cell, seed) to run on %d worker(s)", len(units), workers)
    if workers <= 1:
        from prm.runtime import torch_threads

        with torch_threads(1):
            for unit in units:
                journal.append(_run_unit(unit, profile, recipe))
        return journal
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_init, initargs=(os.getpid(),)) as pool:
        futures = [pool.submit(_run_unit, unit, profile, recipe) for unit in units]
        for count, future in enumerate(as_completed(futures), start=1):
            rows = future.result()
            journal.append(rows)
            logger.info("unit %d/%d done: seed %d, %s", count, len(units), rows[0]["seed"], rows[0]["cell"])
    return journal
