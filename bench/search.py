"""Search cost: beam search and DVTS against best-of-N at the same n, vLLM prefix caching on against off, and
the PRM scoring partial solutions in one batched call against one call per partial solution. One run.

    python bench/search.py --model runs/quickstart/policy --prm runs/quickstart/prm \\
        --problems runs/quickstart/data/test.jsonl [--limit 50] [--n 16] [--beam-width 4] [--backend vllm]

1. Strategies (one engine, a warm-up call first): wall seconds, generated tokens per problem, tokens/s,
   partial solutions scored, and each strategy's ratios to best-of-N at the same n (search pays for the PRM
   calls between steps and for shorter generate calls; the tokens come out about equal).
2. Prefix caching (vLLM only): the same beam search on a fresh engine with prefix caching off, and the ratio.
3. Scoring: every step prefix of the beam search's solutions scored by ``score_batch`` over all of them (as
   the search does, one call per iteration for all beams and problems) against one call per prefix; the
   largest score difference must be float noise.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data.loaders import load_problems  # noqa: E402
from prm.commands.search import SearchCommandConfig, build_policy  # noqa: E402
from prm.model.formats import load_scorer  # noqa: E402
from prm.prompts import build_prompt  # noqa: E402
from prm.sampling import SamplingConfig  # noqa: E402
from prm.search import SEARCH_STRATEGIES, SearchContext, SearchProblem, SearchSettings  # noqa: E402


def make_sampler(args: argparse.Namespace, prefix_caching: bool = True):  # noqa: ANN201
    """The policy's sampler, built as ``prm search`` builds it."""
    return build_policy(SearchCommandConfig(model=args.model, backend=args.backend, seed=args.seed,
                                            prefix_caching=prefix_caching))


def run_strategy(name: str, sampler, scorer, problems, settings: SearchSettings, seed: int):  # noqa: ANN001, ANN201
    search_problems = [SearchProblem(p.id, p.problem, build_prompt(p.problem, sampler.tokenizer)) for p in problems]
    ctx = SearchContext(search_problems, sampler, scorer, settings, seed=seed, scorer_batch_size=16)
    start = time.perf_counter()
    solutions = SEARCH_STRATEGIES[name](ctx)
    seconds = time.perf_counter() - start
    tokens = sum(c.generated_tokens for c in ctx.compute)
    return dict(strategy=name, seconds=seconds, tokens=tokens, per_problem=tokens / len(problems),
                tok_s=tokens / seconds, prm_calls=sum(c.prm_calls for c in ctx.compute)), solutions


def strategies_section(args, sampler, scorer, problems, settings) -> tuple[list, float]:  # noqa: ANN001
    """Every strategy on one engine; the beam search's solutions and seconds."""
    sampler.generate([build_prompt(problems[0].problem, sampler.tokenizer)], 2, SamplingConfig(max_tokens=8))
    rows, beam_solutions = [], []
    for name in ("best_of_n", "beam", "dvts"):
        row, solutions = run_strategy(name, sampler, scorer, problems, settings, args.seed)
        rows.append(row)
        beam_solutions = solutions if name == "beam" else beam_solutions
        print(f"  {name}: {row['seconds']:.1f} s, {row['per_problem']:.0f} tokens/problem, {row['tok_s']:.0f} "
              f"tokens/s, {row['prm_calls']} partial solutions scored", flush=True)
    base = rows[0]
    print(f"\n| strategy (n={settings.n}, M={settings.beam_width}) | wall s | tokens/problem | tokens/s | PRM calls | "
          "wall / best-of-N | tokens / best-of-N |\n|---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['strategy']} | {row['seconds']:.1f} | {row['per_problem']:.0f} | {row['tok_s']:.0f} | "
              f"{row['prm_calls']} | {row['seconds'] / base['seconds']:.2f}x | {row['tokens'] / base['tokens']:.2f}x |")
    return beam_solutions, rows[1]["seconds"]


def caching_section(args, scorer, problems, settings, cached_s: float) -> None:  # noqa: ANN001
    sampler = make_sampler(args, prefix_caching=False)
    try:
        sampler.generate([build_prompt(problems[0].problem, sampler.tokenizer)], 2, SamplingConfig(max_tokens=8))
        row, _ = run_strategy("beam", sampler, scorer, problems, settings, args.seed)
    finally:
        sampler.close()
    print(f"\nbeam search, vLLM prefix caching on: {cached_s:.1f} s; off: {row['seconds']:.1f} s; "
          f"off / on = {row['seconds'] / cached_s:.2f}x")


def scoring_section(scorer, problems, solutions) -> None:  # noqa: ANN001
    items = [(problems[i].problem, path.steps[:j]) for i, paths in enumerate(solutions) for path in paths
             for j in range(1, len(path.steps) + 1)]
    start = time.perf_counter()
    batched = scorer.score_batch(items, 16)
    batched_s = time.perf_counter() - start
    start = time.perf_counter()
    single = [scorer.score_batch([item])[0] for item in items]
    single_s = time.perf_counter() - start
    gap = max((abs(a - b) for x, y in zip(batched, single, strict=True) for a, b in zip(x, y, strict=True)
               if a is not None and b is not None), default=0.0)
    print(f"\nPRM scoring of {len(items)} partial solutions: batched {batched_s:.2f} s, one call each {single_s:.2f} s"
          f" ({single_s / batched_s:.1f}x slower); largest score difference {gap:.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--prm", required=True)
    parser.add_argument("--problems", required=True)
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--beam-width", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=320)
    parser.add_argument("--backend", choices=("vllm", "hf"), default="vllm")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    problems = load_problems(args.problems, limit=args.limit)
    settings = SearchSettings(n=args.n, beam_width=args.beam_width, max_new_tokens=args.max_new_tokens)
    scorer = load_scorer(args.prm)
    print(f"{len(problems)} problems from {args.problems}; policy {args.model} ({args.backend}); PRM {args.prm}")
    sampler = make_sampler(args)
    try:
        solutions, beam_s = strategies_section(args, sampler, scorer, problems, settings)
    finally:
        sampler.close()
    if args.backend == "vllm":
        caching_section(args, scorer, problems, settings, beam_s)
    scoring_section(scorer, problems, solutions)


if __name__ == "__main__":
    main()
