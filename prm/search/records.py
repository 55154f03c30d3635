"""One batch of problems searched and turned into output rows: one row per problem, its solutions inside.

A row is ``{"problem_id", "strategy", "n", "beam_width", "aggregation", "lookahead", "solutions": [...],
"compute": {...}}``. Each solution is a Sample record (``sample_idx``, ``text``, ``steps``, ``answer``,
``num_tokens``, ``finish_reason``) plus the PRM's ``step_scores`` of its steps, its search ``score``, the
outcome RM's ``orm_step_scores`` when one is given, and, when the problem has a gold answer, its
``verdict``: so the selection rules of ``prm bon`` (:mod:`eval.selection`: majority, PRM-weighted vote,
highest PRM or ORM score) run over a search's solutions as they run over sampled ones.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from data.records import Problem
from prm.search.expand import SearchContext, SearchProblem
from prm.search.strategies import SEARCH_STRATEGIES
from prm.search.tree import Path, SearchSettings
from verifiers import VerifyConfig, extract_answer, verify_many

__all__ = ["search_rows", "solution_record"]


def solution_record(index: int, path: Path, settings: SearchSettings) -> dict[str, Any]:
    text = path.text(settings.step_separator)
    return {"sample_idx": index, "text": text, "steps": list(path.steps), "answer": extract_answer(text),
            "num_tokens": path.num_tokens, "finish_reason": path.finish_reason, "step_scores": path.step_scores,
            "score": path.score(settings.aggregation)}


def _add_verdicts(rows: Sequence[dict[str, Any]], golds: Sequence[str | None], workers: int,
                  config: VerifyConfig | None) -> None:
    from eval.inputs import VERDICT_NAMES

    pairs, targets = [], []
    for row, gold in zip(rows, golds, strict=True):
        if gold is None:
            continue
        for solution in row["solutions"]:
            pairs.append((gold, solution["text"]))
            targets.append(solution)
    for solution, verdict in zip(targets, verify_many(pairs, workers, config), strict=True):
        solution["verdict"] = VERDICT_NAMES[verdict.status]


def _add_outcome_scores(rows: Sequence[dict[str, Any]], problems: Sequence[Problem], orm: Any,
                        batch_size: int | None) -> None:
    """``orm_step_scores`` of every finished solution, from an outcome RM (for the ``orm`` selection rule)."""
    targets = [(problem.problem, solution) for row, problem in zip(rows, problems, strict=True)
               for solution in row["solutions"] if solution["steps"]]
    scores = orm.score_batch([(text, solution["steps"]) for text, solution in targets], batch_size)
    for (_, solution), step_scores in zip(targets, scores, strict=True):
        solution["orm_step_scores"] = step_scores


def search_rows(problems: Sequence[Problem], prompts: Sequence[str], strategy: str, sampler: Any, scorer: Any,
                settings: SearchSettings, *, seed: int = 0, scorer_batch_size: int | None = None,
                parameters: tuple[int | None, int | None] = (None, None), workers: int = 1,
                verify_config: VerifyConfig | None = None, orm: Any = None) -> list[dict[str, Any]]:
    """Search ``problems`` together (``prompts``: the policy's prompt of each) and return their output rows.

    ``parameters``: the policy's and the PRM's parameter counts, for the FLOPs estimates. ``orm``: an outcome
    RM that also scores the finished solutions (selection only: not counted in the search's compute)."""
    start = time.perf_counter()
    ctx = SearchContext([SearchProblem(p.id, p.problem, prompt) for p, prompt in zip(problems, prompts, strict=True)],
                        sampler, scorer, settings, seed=seed, scorer_batch_size=scorer_batch_size)
    solutions = SEARCH_STRATEGIES[strategy](ctx)
    share = (time.perf_counter() - start) / max(len(problems), 1)
    rows = []
    for problem, paths, spent in zip(problems, solutions, ctx.compute, strict=True):
        spent.wall_s = share
        rows.append({"problem_id": problem.id, "strategy": strategy, "n": settings.n,
                     "beam_width": settings.beam_width, "aggregation": settings.aggregation,
                     "lookahead": settings.lookahead,
                     "solutions": [solution_record(i, path, settings) for i, path in enumerate(paths)],
                     "compute": spent.to_dict(*parameters)})
    if orm is not None:
        _add_outcome_scores(rows, problems, orm, scorer_batch_size)
    _add_verdicts(rows, [p.answer for p in problems], workers, verify_config)
    return rows
