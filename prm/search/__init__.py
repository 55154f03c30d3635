"""PRM-guided search over partial solutions: best-of-N, step-level beam search and DVTS, at counted compute.

::

    from prm.search import SEARCH_STRATEGIES, SearchContext, SearchProblem, SearchSettings
    ctx = SearchContext(problems, sampler, scorer, SearchSettings(n=16, beam_width=4, aggregation="last"))
    solutions = SEARCH_STRATEGIES["beam"](ctx)      # per problem: finished Paths, best first
    ctx.compute[0].generated_tokens                  # what problem 0's search spent

The strategies (:mod:`prm.search.strategies`) are plain functions over one shared expansion loop
(:mod:`prm.search.expand`); ``prm search`` (:mod:`prm.commands.search`) runs them over a problem file,
resumably, and ``prm search compare`` (:mod:`eval.search_compare`) puts them against best-of-N at equal tokens.
"""

from prm.search.expand import SearchContext, SearchProblem, run_iterations
from prm.search.strategies import SEARCH_STRATEGIES, SearchStrategy
from prm.search.tree import Compute, Path, SearchSettings, Subtree

__all__ = [
    "SEARCH_STRATEGIES", "Compute", "Path", "SearchContext", "SearchProblem", "SearchSettings", "SearchStrategy",
    "Subtree", "run_iterations",
]  # fmt: skip
