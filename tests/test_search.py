"""PRM-guided search (``prm.search``) with a scripted policy and a rule-based PRM: exact semantics, no model.

The policy double (:class:`ScriptedSampler`) answers every prompt by the steps written so far (and by how
many times the same prompt already came up in that call), so each test knows every candidate the search can
draw; the PRM double (:class:`RuleScorer`) scores a step by the number after its ``@`` and records every
item it was given. Covered: beam search (kept frontier, finished candidates leaving the beam, stopping at
``n`` solutions, ordering), DVTS (one solution per subtree), best-of-N (one call to the end, one score per
solution), lookahead (scored, greedy, dropped from the kept path), aggregation, batching across problems
(one PRM call per iteration), exact compute accounting, token budgets and finish reasons, settings
validation. The end-to-end CLI runs on the tiny trained policy are in ``tests/test_search_cli.py``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

import pytest

from data.records import Problem
from prm.sampling.base import Completion, Sampler, SamplingConfig
from prm.search import SEARCH_STRATEGIES, Compute, Path, SearchContext, SearchProblem, SearchSettings
from prm.search.expand import _generate
from prm.search.records import search_rows

PROMPT_END = ">>"
Entry = str | Completion
Script = Callable[[tuple[str, ...], int, SamplingConfig], Entry]


class CharTokenizer:
    """One token per character: prompt and PRM token counts are string lengths."""

    bos_token = None

    def __call__(self, text: str, add_special_tokens: bool = True) -> dict[str, list[int]]:
        return {"input_ids": [ord(c) for c in text]}


def _completion(entry: Entry, params: SamplingConfig) -> Completion:
    """A string is one step ended by the blank line (its 2 tokens counted), or, written to the end, the rest of
    the solution ended by EOS (1 token counted)."""
    if isinstance(entry, Completion):
        return entry
    if params.stop_at_step_end:
        return Completion(entry, len(entry) + 2, "stop", "\n\n")
    return Completion(entry, len(entry) + 1, "stop", None)


class ScriptedSampler(Sampler):
    """Answers each prompt ``"<problem>>><step>\\n\\n<step>\\n\\n..."`` with ``script(steps, k, params)``, ``k``
    the number of earlier copies of the same prompt in that call; records every call and what it returned."""

    backend = "scripted"

    def __init__(self, script: Script) -> None:
        self.script = script
        self.tokenizer = CharTokenizer()
        self.calls: list[tuple[list[str], SamplingConfig, list[Completion]]] = []

    def generate(self, prompts: list[str], n: int, params: SamplingConfig) -> list[list[Completion]]:
        seen: Counter[str] = Counter()
        outputs = []
        for prompt in prompts:
            steps = tuple(prompt.partition(PROMPT_END)[2].split("\n\n")[:-1])
            outputs.append([_completion(self.script(steps, seen[prompt], params), params) for _ in range(n)])
            seen[prompt] += 1
        self.calls.append((list(prompts), params, [group[0] for group in outputs]))
        return outputs


def table(sampled: dict[tuple[str, ...], list[Entry]], greedy: dict[tuple[str, ...], list[Entry]] | None = None
          ) -> Script:
    """A script from tables: steps so far -> the k-th sampled entry (greedy calls read ``greedy``)."""

    def script(steps: tuple[str, ...], k: int, params: SamplingConfig) -> Entry:
        source = greedy if params.temperature == 0 else sampled
        assert source is not None and steps in source, f"unscripted prefix {steps} ({params})"
        return source[steps][k]

    return script


def step_score(step: str) -> float:
    """The number after the last ``@`` of a step; else 0.1 for a step saying "bad", 0.9 for any other."""
    if "@" in step:
        return float(step.rsplit("@", 1)[1])
    return 0.1 if "bad" in step else 0.9


class RuleScorer:
    """A PRM double: :func:`step_score` per step; records each ``score_batch`` call's items."""

    format = "rule"
    device = "cpu"
    config = SimpleNamespace(segmentation="blank_line")

    def __init__(self, tokenizer: Any = None) -> None:
        self.tokenizer = tokenizer
        self.calls: list[list[tuple[str, list[str]]]] = []

    def score_batch(self, items: Sequence[tuple[str, Sequence[str]]], batch_size: int | None = None
                    ) -> list[list[float | None]]:
        self.calls.append([(problem, list(steps)) for problem, steps in items])
        return [[step_score(step) for step in steps] for _, steps in items]


def search(strategy: str, script: Script, problems: int = 1, scorer: RuleScorer | None = None, **settings: Any
           ) -> tuple[list[list[Path]], SearchContext, ScriptedSampler, RuleScorer]:
    sampler, scorer = ScriptedSampler(script), scorer or RuleScorer()
    ctx = SearchContext([SearchProblem(f"q{i}", f"problem {i}", f"P{i}{PROMPT_END}") for i in range(problems)],
                        sampler, scorer, SearchSettings(**settings))
    return SEARCH_STRATEGIES[strategy](ctx), ctx, sampler, scorer


def prefixes(prompts: Sequence[str]) -> list[tuple[str, ...]]:
    return [tuple(p.partition(PROMPT_END)[2].split("\n\n")[:-1]) for p in prompts]


# ---- beam search -----------------------------------------------------------------------------------------------

BEAM = {
    (): ["a@0.5", "b@0.9", "c@0.7", "d \\boxed{1}@0.99"],
    ("b@0.9",): ["b1 \\boxed{1}@0.2", "b2@0.6"],
    ("c@0.7",): ["c1 \\boxed{1}@0.8", "c2@0.3"],
    ("b@0.9", "b2@0.6"): ["b2x \\boxed{1}@0.1", "b2y@0.5"],
    ("c@0.7", "c2@0.3"): ["c2x \\boxed{1}@0.4", "c2y@0.45"],
}


def test_beam_keeps_the_best_open_candidates_and_stops_at_n_solutions() -> None:
    [solutions], ctx, sampler, _ = search("beam", table(BEAM), n=4, beam_width=2)
    first, second, third = (prefixes(prompts) for prompts, _, _ in sampler.calls)  # exactly 3 iterations
    assert first == [()] * 4
    # the 2 best unfinished candidates (b 0.9, c 0.7; not a 0.5), each expanded beam_width=2 times; the finished
    # d (0.99, the best score) left the beam instead of taking a place in it
    assert sorted(second) == [("b@0.9",), ("b@0.9",), ("c@0.7",), ("c@0.7",)]
    assert sorted(third) == [("b@0.9", "b2@0.6")] * 2 + [("c@0.7", "c2@0.3")] * 2
    # 5 finished after 3 iterations >= n: stopped (b2y, c2y still open); the best n, best first
    assert [p.steps for p in solutions] == [
        ("d \\boxed{1}@0.99",), ("c@0.7", "c1 \\boxed{1}@0.8"), ("c@0.7", "c2@0.3", "c2x \\boxed{1}@0.4"),
        ("b@0.9", "b1 \\boxed{1}@0.2"),  # the worst of its iteration, finished: still a solution
    ]
    assert [p.score("last") for p in solutions] == [0.99, 0.8, 0.4, 0.2]
    assert solutions[2].step_scores == [0.7, 0.3, 0.4]
    assert all(p.finished and p.finish_reason == "stop" for p in solutions)
    assert ctx.compute[0].iterations == 3 and ctx.compute[0].generate_requests == 12


def test_beam_tie_goes_to_the_first_drawn_and_unscored_ranks_last() -> None:
    # the empty step adds nothing (nothing to score: no score), x and y score 0.0: x, the first of them, is kept
    script = table({(): ["", "x@0.0", "y@0.0"], ("x@0.0",): ["x \\boxed{1}@0.5"] * 3})
    [solutions], _, sampler, scorer = search("beam", script, n=3, beam_width=3)
    assert len(scorer.calls[0]) == 2
    assert prefixes(sampler.calls[1][0]) == [("x@0.0",)] * 3
    assert len(solutions) == 3


# ---- DVTS ------------------------------------------------------------------------------------------------------

DVTS = {
    (): ["a@0.3", "b@0.8", "c@0.9", "d@0.2"],
    ("b@0.8",): ["b1@0.4", "b2 \\boxed{1}@0.7"],
    ("c@0.9",): ["c1@0.95", "c2 \\boxed{1}@0.5"],
    ("c@0.9", "c1@0.95"): ["c1x \\boxed{1}@0.6", "c1y \\boxed{1}@0.85"],
}


def test_dvts_one_solution_per_subtree_each_subtree_greedy_on_the_prm() -> None:
    results, ctx, sampler, scorer = search("dvts", table(DVTS), problems=2, n=4, beam_width=2)
    assert len(sampler.calls) == 3 and len(scorer.calls) == 3
    # n / beam_width = 2 subtrees per problem, each drawing beam_width = 2 candidates per iteration
    assert [len(prompts) for prompts, _, _ in sampler.calls] == [8, 8, 4]
    # subtree 0 (a, b) kept b, subtree 1 (c, d) kept c; subtree 0 then ends on b2 (finished, its best); subtree 1
    # keeps the open c1 (0.95) over the finished c2 (0.5) and goes on alone
    assert sorted(prefixes(sampler.calls[1][0])) == [("b@0.8",)] * 4 + [("c@0.9",)] * 4
    assert prefixes(sampler.calls[2][0]) == [("c@0.9", "c1@0.95")] * 4
    for solutions in results:
        assert [p.steps for p in solutions] == [("c@0.9", "c1@0.95", "c1y \\boxed{1}@0.85"),
                                                 ("b@0.8", "b2 \\boxed{1}@0.7")]
    assert [c.iterations for c in ctx.compute] == [3, 3]


# ---- best-of-N -------------------------------------------------------------------------------------------------


def test_best_of_n_writes_n_solutions_in_one_call_and_scores_each_once() -> None:
    solutions = {(): ["t@0.9", Completion("cut@0.3", 7, "length"), "s1\n\ns2 \\boxed{1}@0.4"]}
    results, ctx, sampler, scorer = search("best_of_n", table(solutions), problems=2, n=3, beam_width=1,
                                           max_new_tokens=100, temperature=0.7, top_p=0.95)
    [(prompts, params, _)] = sampler.calls
    assert prompts == ["P0>>"] * 3 + ["P1>>"] * 3
    assert not params.stop_at_step_end and params.max_tokens == 100
    assert (params.temperature, params.top_p) == (0.7, 0.95)
    [items] = scorer.calls
    # a solution written to the end is split into its steps, as prm sample splits it
    assert sorted(steps for _, steps in items) == sorted([["t@0.9"], ["cut@0.3"], ["s1", "s2 \\boxed{1}@0.4"]] * 2)
    for solutions_of in results:
        assert [p.text() for p in solutions_of] == ["t@0.9", "s1\n\ns2 \\boxed{1}@0.4", "cut@0.3"]
        assert [p.finish_reason for p in solutions_of] == ["stop", "stop", "length"]
    spent = ctx.compute[0]
    tokens = 6 + 7 + len("s1\n\ns2 \\boxed{1}@0.4") + 1  # EOS counted, the length-cut one as reported
    assert (spent.generated_tokens, spent.prefix_tokens, spent.generate_requests) == (tokens, 3 * 4, 3)
    assert (spent.prm_calls, spent.iterations) == (3, 1)


@pytest.mark.parametrize("strategy", ["best_of_n", "beam"])
def test_a_solution_written_to_the_end_is_split_into_its_steps(strategy: str) -> None:
    script = table({(): ["s1@0.2\n\ns2 \\boxed{1}@0.4"] * 2})
    [solutions], _, _, scorer = search(strategy, script, n=2, beam_width=2, max_iterations=1, aggregation="min")
    assert scorer.calls[0][0][1] == ["s1@0.2", "s2 \\boxed{1}@0.4"]
    assert solutions[0].steps == ("s1@0.2", "s2 \\boxed{1}@0.4") and solutions[0].score("min") == 0.2


# ---- lookahead -------------------------------------------------------------------------------------------------


def test_lookahead_is_scored_greedy_and_dropped_from_the_kept_path() -> None:
    script = table(
        {(): ["x@0.5", "y@0.5", "z \\boxed{1}@0.3"],
         ("y@0.5",): ["y1 \\boxed{1}@0.7", "y2 \\boxed{1}@0.6", "y3 \\boxed{1}@0.8"]},
        greedy={("x@0.5",): ["xl bad"], ("y@0.5",): ["yl good"]},
    )
    [solutions], ctx, sampler, scorer = search("beam", script, n=3, beam_width=3, lookahead=1, temperature=0.8)
    (_, sampled, _), (look_prompts, look, _), (kept_prompts, _, _) = sampler.calls
    assert sampled.temperature == 0.8 and look.temperature == 0.0 and look.stop_at_step_end
    assert prefixes(look_prompts) == [("x@0.5",), ("y@0.5",)]  # the finished z is not rolled out
    # the PRM reads each open candidate with its lookahead step, the finished one as it is
    assert scorer.calls[0] == [("problem 0", ["x@0.5", "xl bad"]), ("problem 0", ["y@0.5", "yl good"]),
                               ("problem 0", ["z \\boxed{1}@0.3"])]
    # x and y score the same on their own step (a tie keeps x, drawn first): y wins by its lookahead, and the
    # kept path is y without its lookahead step
    assert prefixes(kept_prompts) == [("y@0.5",)] * 3
    assert [p.steps for p in solutions] == [("y@0.5", f"y{i} \\boxed{{1}}@0.{s}") for i, s in ((3, 8), (1, 7), (2, 6))]
    assert all(p.step_scores[0] == 0.5 and len(p.step_scores) == 2 for p in solutions)
    assert len(sampler.calls) == 3  # every candidate of the 2nd iteration finished: nothing to roll out


def test_lookahead_of_two_steps_stops_at_an_answer() -> None:
    script = table(
        {(): ["x@0.5", "y@0.5"], ("y@0.5",): ["y1 \\boxed{1}@0.9", "y2 \\boxed{1}@0.8"]},
        greedy={("x@0.5",): ["xa \\boxed{2}@0.2"], ("y@0.5",): ["ya@0.6"], ("y@0.5", "ya@0.6"): ["yb@0.7"]},
    )
    _, ctx, sampler, scorer = search("beam", script, n=2, beam_width=2, lookahead=2)
    assert [prefixes(prompts) for prompts, _, _ in sampler.calls[1:3]] == [[("x@0.5",), ("y@0.5",)],
                                                                           [("y@0.5", "ya@0.6")]]
    assert scorer.calls[0] == [("problem 0", ["x@0.5", "xa \\boxed{2}@0.2"]),
                               ("problem 0", ["y@0.5", "ya@0.6", "yb@0.7"])]
    assert ctx.compute[0].generated_tokens == sum(c.num_tokens for _, _, outs in sampler.calls for c in outs)


# ---- aggregation -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("aggregation", "kept"), [
    ("last", [("a@0.2", "a1@0.95"), ("b@0.6", "b1@0.7")]),  # the last step: a1 0.95, b1 0.7 (b2 0.65, a2 0.3)
    ("min", [("b@0.6", "b1@0.7"), ("b@0.6", "b2@0.65")]),  # the weakest step: b1, b2 0.6 (a1, a2 0.2)
])
def test_aggregation_decides_which_paths_are_kept(aggregation: str, kept: list[tuple[str, ...]]) -> None:
    end = ["e1 \\boxed{1}@0.5", "e2 \\boxed{1}@0.4"]
    script = table({(): ["a@0.2", "b@0.6", "c@0.1", "d@0.05"], ("a@0.2",): ["a1@0.95", "a2@0.3"],
                    ("b@0.6",): ["b1@0.7", "b2@0.65"], **{path: end for path in kept}})
    _, _, sampler, _ = search("beam", script, n=4, beam_width=2, max_iterations=3, aggregation=aggregation)
    last = sampler.calls[2:]  # written to the end: one call per budget left (the paths' token counts differ)
    assert sorted({steps for prompts, _, _ in last for steps in prefixes(prompts)}) == kept
    assert not any(params.stop_at_step_end for _, params, _ in last)


# ---- batching and compute --------------------------------------------------------------------------------------


def chain(steps: tuple[str, ...], k: int, params: SamplingConfig) -> Entry:
    """Open steps at depths 0 and 1 (scores falling with k), an answer at depth 2; greedy: a lookahead step."""
    depth = len(steps)
    if params.temperature == 0:
        return f"look{depth}@0.{depth + 1}"
    if depth == 2:
        return f"s{depth}.{k} \\boxed{{{k}}}@0.{k + 1}"
    return f"s{depth}.{k}" + "x" * k + f"@0.{9 - k}"


def test_one_prm_call_and_one_generate_call_per_iteration_for_all_problems() -> None:
    results, ctx, sampler, scorer = search("beam", chain, problems=3, n=4, beam_width=2, lookahead=1)
    # 3 iterations (the third writes answers only): a sampled call and a lookahead call in the first two
    assert [params.temperature == 0 for _, params, _ in sampler.calls] == [False, True, False, True, False]
    for prompts, _, _ in sampler.calls:
        assert sorted({p.partition(PROMPT_END)[0] for p in prompts}) == ["P0", "P1", "P2"]
    assert [len(items) for items in scorer.calls] == [12, 12, 12]
    assert all({problem for problem, _ in items} == {"problem 0", "problem 1", "problem 2"} for items in scorer.calls)
    assert [len(solutions) for solutions in results] == [4, 4, 4]
    assert [c.iterations for c in ctx.compute] == [3, 3, 3]


def test_compute_counts_every_token_request_and_scored_sequence() -> None:
    scorer = RuleScorer(CharTokenizer())
    results, ctx, sampler, _ = search("beam", chain, problems=2, scorer=scorer, n=4, beam_width=2, lookahead=1)
    for index, spent in enumerate(ctx.compute):
        head = f"P{index}{PROMPT_END}"
        sent = [(prompt, out) for prompts, _, outs in sampler.calls for prompt, out in zip(prompts, outs, strict=True)
                if prompt.startswith(head)]
        scored = [steps for items in scorer.calls for problem, steps in items if problem == f"problem {index}"]
        # pruned candidates and lookahead steps included
        assert spent.generated_tokens == sum(out.num_tokens for _, out in sent)
        assert spent.prefix_tokens == sum(len(prompt) for prompt, _ in sent)
        assert spent.generate_requests == len(sent) == 4 + 4 + 4 + 4 + 4
        assert spent.prm_calls == len(scored) == 12
        assert spent.prm_tokens == sum(len("\n\n".join([f"problem {index}", *steps])) + len(steps) for steps in scored)
        assert spent.iterations == 3
    assert ctx.compute[0].to_dict() == ctx.compute[1].to_dict()  # the same script for both problems


def test_compute_to_dict_flops_and_add() -> None:
    spent = Compute(generated_tokens=10, prefix_tokens=3, generate_requests=2, prm_tokens=7, prm_calls=1,
                    iterations=1, wall_s=1.234567)
    record = spent.to_dict(100, None)
    assert record["policy_flops"] == 2 * 100 * 10 and record["prm_flops"] is None and record["wall_s"] == 1.2346
    assert spent.to_dict(None, 5)["policy_flops"] is None and spent.to_dict(None, 5)["prm_flops"] == 2 * 5 * 7
    spent.add(Compute(generated_tokens=5, prm_calls=2, iterations=1))
    assert (spent.generated_tokens, spent.prm_calls, spent.iterations, spent.prefix_tokens) == (15, 3, 2, 3)


# ---- token budget and finish reasons ---------------------------------------------------------------------------


def test_finish_reasons_length_answer_and_end_of_sequence() -> None:
    script = table({
        (): [Completion("cut@0.1", 30, "length"), "a \\boxed{1}@0.2", Completion("e@0.3", 6, "stop", None),
             Completion("big@0.4", 30, "stop", "\n\n"), "ok@0.9"],
        ("ok@0.9",): ["fin \\boxed{2}@0.05"] * 5,  # scored below the rest: one makes the best 5
    })
    [solutions], _, sampler, _ = search("beam", script, n=5, beam_width=5, max_iterations=2, max_new_tokens=30,
                                        max_step_tokens=40)
    assert sampler.calls[0][1].max_tokens == 30  # min(max_new_tokens, max_step_tokens) for a step
    assert sampler.calls[1][1].max_tokens == 30 - len("ok@0.9\n\n")  # the rest of the budget, to the end
    reasons = {p.steps[0]: (p.finish_reason, p.num_tokens) for p in solutions}
    assert reasons == {"cut@0.1": ("length", 30), "a \\boxed{1}@0.2": ("stop", 17), "e@0.3": ("stop", 6),
                       "big@0.4": ("length", 30), "ok@0.9": ("stop", 8 + len("fin \\boxed{2}@0.05") + 1)}


class IdTokenizer(CharTokenizer):
    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        return "".join(chr(i) for i in ids)


def test_each_path_is_capped_by_its_own_budget_left() -> None:
    """One generate call runs to the largest cap; each completion is then cut to its own path's budget left
    (finish ``length``), while every token the call wrote is counted as spent."""
    text = "sssssss"  # 7 characters + the blank line: 9 tokens, more than b, c and d may write

    def script(steps: tuple[str, ...], k: int, params: SamplingConfig) -> Completion:
        ids = [ord(c) for c in text + "\n\n"][: params.max_tokens]
        return Completion("".join(map(chr, ids)).rstrip("\n"), len(ids), "length", None, ids)

    sampler = ScriptedSampler(script)
    sampler.tokenizer = IdTokenizer()
    ctx = SearchContext([SearchProblem("q", "problem", f"P{PROMPT_END}")], sampler, RuleScorer(),
                        SearchSettings(max_new_tokens=20, max_step_tokens=8))
    paths = [Path(0, ("a",), 0), Path(0, ("b",), 15), Path(0, ("c",), 18), Path(0, ("d",), 15), Path(0, ("e",), 20)]
    outputs = _generate(ctx, paths, to_end=False, greedy=False, call_seed=0)
    assert [(params.max_tokens, prefixes(prompts)) for prompts, params, _ in sampler.calls] == [
        (8, [("a",), ("b",), ("c",), ("d",)])]  # the path with no budget left is not sent
    assert [(o.text, o.num_tokens, o.finish_reason) if o else None for o in outputs] == [
        ("sssssss", 8, "length"), ("sssss", 5, "length"), ("ss", 2, "length"), ("sssss", 5, "length"), None]
    assert ctx.compute[0].generate_requests == 4 and ctx.compute[0].generated_tokens == 4 * 8


# ---- output rows ------------------------------------------------------------------------------------------------


def test_search_rows_hold_solutions_scores_verdicts_and_compute() -> None:
    script = table({(): ["a@0.9", "b@0.4"], ("a@0.9",): ["\\boxed{2}@0.5"], ("b@0.4",): ["\\boxed{3}@0.8"]})
    problems = [Problem("q0", "1+1", "2"), Problem("q1", "2+2", "4")]
    rows = search_rows(problems, [f"P0{PROMPT_END}", f"P1{PROMPT_END}"], "beam", ScriptedSampler(script),
                       RuleScorer(), SearchSettings(n=2, beam_width=1, aggregation="min"), parameters=(1000, None))
    assert [row["problem_id"] for row in rows] == ["q0", "q1"]
    first = rows[0]
    assert {k: first[k] for k in ("strategy", "n", "beam_width", "aggregation", "lookahead")} == {
        "strategy": "beam", "n": 2, "beam_width": 1, "aggregation": "min", "lookahead": 0}
    # by the weakest step: a (0.9, 0.5) before b (0.4, 0.8), which "last" would have put first
    assert first["solutions"] == [
        {"sample_idx": 0, "text": "a@0.9\n\n\\boxed{2}@0.5", "steps": ["a@0.9", "\\boxed{2}@0.5"], "answer": "2",
         "num_tokens": 7 + 15, "finish_reason": "stop", "step_scores": [0.9, 0.5], "score": 0.5, "verdict": "correct"},
        {"sample_idx": 1, "text": "b@0.4\n\n\\boxed{3}@0.8", "steps": ["b@0.4", "\\boxed{3}@0.8"], "answer": "3",
         "num_tokens": 7 + 15, "finish_reason": "stop", "step_scores": [0.4, 0.8], "score": 0.4,
         "verdict": "incorrect"},
    ]
    assert [s["verdict"] for s in rows[1]["solutions"]] == ["incorrect", "incorrect"]  # gold 4
    spent = first["compute"]
    assert spent["generated_tokens"] == 44 and spent["prm_calls"] == 4 and spent["iterations"] == 2
    assert spent["policy_flops"] == 2 * 1000 * 44 and spent["prm_flops"] is None and spent["wall_s"] > 0


# ---- settings --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("settings", "message"), [
    (dict(aggregation="median"), "unknown aggregation 'median'; known: min, product, last, mean"),
    (dict(n=0), "must be >= 1"),
    (dict(lookahead=-1), "lookahead must be >= 0"),
    (dict(max_new_tokens=0), "max_new_tokens"),
])
def test_settings_validation(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SearchSettings(**settings)


def test_beam_width_must_divide_n_for_beam_and_dvts_only() -> None:
    settings = SearchSettings(n=6, beam_width=4)  # best-of-N ignores the beam width
    with pytest.raises(ValueError, match=r"n \(6\) must be a multiple of beam_width \(4\)"):
        settings.check_beams()
    SearchSettings(n=8, beam_width=4).check_beams()
