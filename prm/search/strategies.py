"""Search strategies as plain functions in one registry dict, all running :func:`prm.search.expand.run_iterations`.

Every strategy is called as ``strategy(ctx) -> list[list[Path]]``: for each problem of ``ctx`` (a batch,
searched together), its finished solutions, best search score first. ``n`` is the number of candidates
drawn per iteration (the budget, as in search-and-learn), ``beam_width`` M the expansions per kept path:

- ``best_of_n``: ``n`` full solutions per problem, each scored once (the baseline at equal ``n``);
- ``beam``: one subtree per problem; each iteration ``n`` candidates, the best ``n / M`` unfinished ones
  kept and each expanded M ways next; finished candidates leave the beam, whatever their rank; the search
  of a problem ends once ``n`` solutions finished (the best ``n`` are returned) or no path is left;
- ``dvts`` (diverse verifier tree search): ``n / M`` independent subtrees per problem, each expanding its
  one kept path M ways and keeping its best candidate; a subtree ends when that candidate is finished, so
  each returns one solution (``n / M`` per problem).

Ties in score go to the candidate drawn first; a candidate the PRM could not score ranks last.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from prm.search.expand import SearchContext, run_iterations
from prm.search.tree import Path, Subtree

__all__ = ["SEARCH_STRATEGIES", "SearchStrategy", "beam", "best_of_n", "dvts"]

SearchStrategy = Callable[[SearchContext], list[list[Path]]]


def _ranked(paths: Sequence[Path], scores: Sequence[float | None]) -> list[int]:
    """Indices of ``paths`` from the best score to the worst (None last; ties: the earlier index first)."""
    return sorted(range(len(paths)), key=lambda i: (scores[i] is None, -(scores[i] or 0.0), i))


def _solutions(ctx: SearchContext, subtrees: Sequence[Subtree], limit: int | None) -> list[list[Path]]:
    """Each problem's finished paths over its subtrees, best score first, at most ``limit``."""
    per_problem: list[list[Path]] = [[] for _ in ctx.problems]
    for tree in subtrees:
        per_problem[tree.problem].extend(tree.finished)
    aggregation = ctx.settings.aggregation
    ordered = [[paths[i] for i in _ranked(paths, [p.score(aggregation) for p in paths])] for paths in per_problem]
    return [paths[:limit] if limit else paths for paths in ordered]


def best_of_n(ctx: SearchContext) -> list[list[Path]]:
    """``n`` independent full solutions per problem, scored once."""
    n = ctx.settings.n
    subtrees = [Subtree(problem=i, width=n, keep=0, frontier=[Path(i)]) for i in range(len(ctx.problems))]

    def select(tree: Subtree, candidates: list[Path], scores: list[float | None]) -> None:
        tree.finished.extend(candidates)
        tree.done = True

    run_iterations(ctx, subtrees, select, iterations=1)
    return _solutions(ctx, subtrees, None)


def beam(ctx: SearchContext) -> list[list[Path]]:
    """Step-level beam search: keep the best ``n / beam_width`` partial solutions, expand each M ways."""
    settings = ctx.settings
    settings.check_beams()
    keep = settings.n // settings.beam_width
    subtrees = [Subtree(problem=i, width=settings.n, keep=keep, frontier=[Path(i)]) for i in range(len(ctx.problems))]

    def select(tree: Subtree, candidates: list[Path], scores: list[float | None]) -> None:
        tree.finished.extend(c for c in candidates if c.finished)
        open_ = [i for i, c in enumerate(candidates) if not c.finished]
        ranked = _ranked([candidates[i] for i in open_], [scores[i] for i in open_])
        tree.frontier = [candidates[open_[i]] for i in ranked[: tree.keep]]
        tree.done = len(tree.finished) >= settings.n or not tree.frontier

    run_iterations(ctx, subtrees, select, iterations=settings.max_iterations)
    return _solutions(ctx, subtrees, settings.n)


def dvts(ctx: SearchContext) -> list[list[Path]]:
    """Diverse verifier tree search: ``n / beam_width`` subtrees per problem, each greedy on the PRM."""
    settings = ctx.settings
    settings.check_beams()
    subtrees = [Subtree(problem=i, width=settings.beam_width, keep=1, frontier=[Path(i)])
                for i in range(len(ctx.problems)) for _ in range(settings.n // settings.beam_width)]

    def select(tree: Subtree, candidates: list[Path], scores: list[float | None]) -> None:
        best = candidates[_ranked(candidates, scores)[0]]
        if best.finished:
            tree.finished, tree.frontier, tree.done = [best], [], True
        else:
            tree.frontier = [best]

    run_iterations(ctx, subtrees, select, iterations=settings.max_iterations)
    return _solutions(ctx, subtrees, None)


SEARCH_STRATEGIES: dict[str, SearchStrategy] = {"best_of_n": best_of_n, "beam": beam, "dvts": dvts}
