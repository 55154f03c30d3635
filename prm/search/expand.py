"""The one expansion loop every search strategy runs: write a step, look ahead, score, let the strategy choose.

Each iteration, for every subtree still searching (across all problems of the batch at once):

1. every path the subtree expands gets one more step from the policy: one ``Sampler.generate`` call for
   all of them, stopping at the step separator (``stop_at_step_end``), so vLLM's prefix cache serves the
   shared prompt and prefix; the last iteration writes to the end of the solution instead;
2. with ``lookahead`` L > 0, each unfinished candidate is rolled out L more steps greedily (temperature 0,
   one batched call per step), and those steps are scored with it: the PRM sees the candidate *and* its
   lookahead (the rollout text is then dropped, as in Snell et al.; search-and-learn's version scored only
   the first step);
3. every candidate (prefix + new step [+ lookahead]) is scored by the PRM in one ``score_batch`` call,
   batched across beams, subtrees and problems; a candidate's search score is its step scores aggregated
   with ``aggregation`` (``last`` = the PRM read as an outcome model of the partial solution);
4. the strategy's ``select`` keeps some candidates for the next iteration and moves finished ones out.

A candidate is finished when the policy ended the solution (end of sequence, or a step holding a boxed
answer, as search-and-learn stops), when its tokens reach ``max_new_tokens`` or a step reaches
``max_step_tokens`` (``length``), or at the last iteration. What each problem spent is counted in its
:class:`prm.search.tree.Compute`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from data.segment import STEP_SEPARATOR, split_steps
from prm.sampling.base import Completion, Sampler, SamplingConfig, encode_prompt
from prm.search.tree import Compute, Path, SearchSettings, Subtree

__all__ = ["SearchContext", "SearchProblem", "Select", "run_iterations", "scored_tokens"]

logger = logging.getLogger(__name__)

_ANSWER_MARK = "\\boxed"
# (subtree, its candidates, their search scores) -> None; updates the subtree in place
Select = Callable[[Subtree, list[Path], list[float | None]], None]


@dataclass(frozen=True)
class SearchProblem:
    """A problem as the search sees it: the text the PRM reads, and the prompt the policy continues."""

    id: str
    text: str
    prompt: str


@dataclass
class SearchContext:
    """The models, settings and per-problem counters of one batch of problems."""

    problems: Sequence[SearchProblem]
    sampler: Sampler
    scorer: Any  # a prm.model.scorer.Scorer
    settings: SearchSettings
    seed: int = 0
    scorer_batch_size: int | None = None
    compute: list[Compute] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.compute:
            self.compute = [Compute() for _ in self.problems]


def scored_tokens(scorer: Any, problem: str, steps: Sequence[str]) -> int:
    """Tokens the PRM reads for (problem, steps): problem and steps in its tokenizer, plus one tag per step.
    An estimate (the scoring template's few tokens are left out); 0 for a scorer without a tokenizer."""
    tokenizer = getattr(scorer, "tokenizer", None)
    if tokenizer is None:
        return 0
    text = "\n\n".join([problem, *steps])
    return len(tokenizer(text, add_special_tokens=False)["input_ids"]) + len(steps)


def _sampling(ctx: SearchContext, max_tokens: int, to_end: bool, greedy: bool, call_seed: int) -> SamplingConfig:
    settings = ctx.settings
    seed = ctx.seed + call_seed if ctx.sampler.backend == "hf" else None  # vLLM's engine is seeded once
    return SamplingConfig(temperature=0.0 if greedy else settings.temperature, top_p=settings.top_p,
                          max_tokens=max_tokens, seed=seed, stop_at_step_end=not to_end,
                          step_separator=settings.step_separator)


def _cut(completion: Completion, cap: int, tokenizer: Any) -> Completion:
    """``completion`` cut to its path's own ``cap`` tokens (finish ``length``), as a call capped there would end."""
    if completion.num_tokens <= cap:
        return completion
    ids = completion.token_ids[:cap]
    text = tokenizer.decode(ids, skip_special_tokens=True) if ids else completion.text
    return Completion(text, cap, "length", None, ids)


def _generate(ctx: SearchContext, paths: Sequence[Path], to_end: bool, greedy: bool, call_seed: int
              ) -> list[Completion | None]:
    """One step (or, ``to_end``, the rest of the solution) for each path, all in one generate call.

    Each path may write at most its own budget left (and ``max_step_tokens`` per step): the call runs to the
    largest of those caps and a longer completion is cut to its path's cap (the tokens past it are counted as
    spent). Paths with no budget left get None. Tokens generated and prompt tokens re-read are counted."""
    settings = ctx.settings
    caps = [min(settings.max_new_tokens - path.num_tokens, settings.max_new_tokens if to_end else
                settings.max_step_tokens) for path in paths]
    sent = [i for i, cap in enumerate(caps) if cap > 0]
    results: list[Completion | None] = [None] * len(paths)
    if not sent:
        return results
    prompts = [ctx.problems[paths[i].problem].prompt + paths[i].prefix_text(settings.step_separator) for i in sent]
    params = _sampling(ctx, max(caps[i] for i in sent), to_end, greedy, call_seed)
    outputs = ctx.sampler.generate(prompts, 1, params)
    for i, prompt, output in zip(sent, prompts, outputs, strict=True):
        results[i] = _cut(output[0], caps[i], ctx.sampler.tokenizer)
        spent = ctx.compute[paths[i].problem]
        spent.generated_tokens += output[0].num_tokens
        spent.prefix_tokens += len(encode_prompt(ctx.sampler.tokenizer, prompt))
        spent.generate_requests += 1
    return results


def _split(text: str, separator: str) -> list[str]:
    """Steps of a text written to the end: blank-line segmentation (as ``prm sample``) for the default separator."""
    return split_steps(text) if separator == STEP_SEPARATOR else text.split(separator)


def _candidate(path: Path, completion: Completion | None, iteration: int, settings: SearchSettings,
               to_end: bool) -> Path:
    """``path`` extended by ``completion``, marked finished when the solution ended or ran out of tokens."""
    if completion is None:
        return replace(path, finished=True, finish_reason="length", iteration=iteration)
    # written to the end, a completion holds several steps: split as prm sample splits a solution
    steps = _split(completion.text, settings.step_separator) if to_end else [completion.text]
    candidate = path.extend([step.strip() for step in steps], completion.num_tokens, iteration)
    out_of_tokens = candidate.num_tokens >= settings.max_new_tokens
    if completion.finish_reason == "length":
        candidate.finished, candidate.finish_reason = True, "length"
    elif to_end or completion.stop_reason is None or _ANSWER_MARK in completion.text:
        candidate.finished, candidate.finish_reason = True, "stop"
    elif out_of_tokens:
        candidate.finished, candidate.finish_reason = True, "length"
    return candidate


def _lookahead(ctx: SearchContext, candidates: Sequence[Path], iteration: int) -> list[tuple[str, ...]]:
    """The greedy lookahead steps of each unfinished candidate (none for finished ones); tokens counted."""
    extra: list[tuple[str, ...]] = [() for _ in candidates]
    spent = [c.num_tokens for c in candidates]  # the lookahead's tokens count against the budget too
    rolling = [i for i, c in enumerate(candidates) if not c.finished]
    for depth in range(ctx.settings.lookahead):
        if not rolling:
            break
        probes = [Path(candidates[i].problem, candidates[i].steps + extra[i], spent[i]) for i in rolling]
        outputs = _generate(ctx, probes, to_end=False, greedy=True, call_seed=1000 * iteration + 1 + depth)
        still = []
        for i, output in zip(rolling, outputs, strict=True):
            if output is None:
                continue
            spent[i] += output.num_tokens
            if output.text.strip():
                extra[i] = (*extra[i], output.text.strip())
            if output.finish_reason == "stop" and output.stop_reason is not None and _ANSWER_MARK not in output.text:
                still.append(i)
        rolling = still
    return extra


def _score(ctx: SearchContext, candidates: Sequence[Path], extra: Sequence[tuple[str, ...]]) -> list[float | None]:
    """Score every candidate (its steps and its lookahead) in one scorer call; returns the search scores and
    stores each candidate's own step scores on it."""
    items, owners = [], []
    for index, (candidate, more) in enumerate(zip(candidates, extra, strict=True)):
        steps = list(candidate.steps + more)
        if steps:
            problem = ctx.problems[candidate.problem].text
            items.append((problem, steps))
            owners.append(index)
            spent = ctx.compute[candidate.problem]
            spent.prm_calls += 1
            spent.prm_tokens += scored_tokens(ctx.scorer, problem, steps)
    scores: list[float | None] = [None] * len(candidates)
    results = ctx.scorer.score_batch(items, ctx.scorer_batch_size) if items else []
    for index, step_scores in zip(owners, results, strict=True):
        candidate = candidates[index]
        candidate.step_scores = list(step_scores[: len(candidate.steps)])
        scores[index] = Path(candidate.problem, step_scores=list(step_scores)).score(ctx.settings.aggregation)
    return scores


def run_iterations(ctx: SearchContext, subtrees: Sequence[Subtree], select: Select, iterations: int) -> None:
    """Expand, score and ``select`` until every subtree is done or ``iterations`` have run (the last one
    writes every expanded path to its end)."""
    for iteration in range(iterations):
        active = [tree for tree in subtrees if not tree.done]
        if not active:
            return
        to_end = iteration == iterations - 1
        spans, parents = [], []
        for tree in active:
            expanded = tree.expansions()
            spans.append((len(parents), len(parents) + len(expanded)))
            parents += expanded
        completions = _generate(ctx, parents, to_end, greedy=False, call_seed=1000 * iteration)
        candidates = [_candidate(path, completion, iteration, ctx.settings, to_end)
                      for path, completion in zip(parents, completions, strict=True)]
        extra = _lookahead(ctx, candidates, iteration) if ctx.settings.lookahead and not to_end else \
            [() for _ in candidates]
        scores = _score(ctx, candidates, extra)
        for problem in {tree.problem for tree in active}:
            ctx.compute[problem].iterations += 1
        for tree, (start, stop) in zip(active, spans, strict=True):
            select(tree, candidates[start:stop], scores[start:stop])
    for tree in subtrees:  # out of iterations: whatever is still open ends here
        tree.done = True
