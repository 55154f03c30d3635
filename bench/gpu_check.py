"""GPU check of the published PRM formats: score 100 MATH-500 solutions with each format's checkpoint through
every backend it has (transformers, and vLLM's pooling runner where the format has one), and print tokens/s of
each backend with the vLLM / HF ratio and how far their step scores are apart.

    python bench/gpu_check.py                                   # the default published checkpoints (hub ids)
    python bench/gpu_check.py --prm math_shepherd=/models/ms --prm qwen2_5_math_prm=/models/qwen-prm --limit 20

The solutions are MATH-500's reference solutions (``data.loaders.load_problems("math500")``: the local copy
under ../shared/datasets, else the hub), split into steps on blank lines, so the check needs no policy. Each
row of the table is one (format, backend): load seconds, scoring seconds (after a warm-up batch), input tokens
per second (the scorer's own encoding of every solution), and for vLLM the largest |score_vllm - score_hf|.
Writes ``--out`` (JSON) and prints a Markdown table. Without a GPU it runs too (slowly, on the CPU), e.g. on
tiny same-layout checkpoints to check the script itself.

``--pipeline`` then runs the real-model pipeline at GPU scale under a time and memory budget
(:mod:`bench.gpu_pipeline`: a real policy by hub id through sampling, labels, PRM, best-of-N, search and GRPO), so
a lent GPU answers both in one call::

    python bench/gpu_check.py --limit 50 --pipeline --pipeline-minutes 6      # formats, then the pipeline
    python bench/gpu_check.py --formats none --pipeline                        # the pipeline alone
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from data.loaders import load_problems
from prm.model.formats import SCORER_FORMATS, VLLM_SCORING, load_scorer, parse_options

# small published checkpoints of each format (hub ids); --prm FORMAT=PATH replaces one
DEFAULTS = {
    "qwen2_5_math_prm": "Qwen/Qwen2.5-Math-PRM-7B",
    "skywork_prm": "Skywork/Skywork-o1-Open-PRM-Qwen-2.5-1.5B",
    "math_shepherd": "peiyi9979/math-shepherd-mistral-7b-prm",
    "rlhflow_prm": "RLHFlow/Llama3.1-8B-PRM-Deepseek-Data",
    "implicit_prm": "PRIME-RL/EurusPRM-Stage2",
}


def _items(limit: int) -> list[tuple[str, str]]:
    return [(p.problem, p.solution or "") for p in load_problems("math500", limit=limit) if p.solution]


def _tokens(scorer: Any, items: list[tuple[str, str]]) -> int:
    """Input tokens the scorer runs: its own encoding of each solution (the published formats have one)."""
    encode = getattr(scorer, "encode", None)
    if encode is None:
        return sum(len(scorer.tokenizer(problem + text)["input_ids"]) for problem, text in items)
    return sum(len(encode(problem, scorer.steps_of(text))[0]) for problem, text in items)


def run_one(format: str, path: str, backend: str, items: list[tuple[str, str]], args: argparse.Namespace,
            options: dict[str, str]) -> tuple[dict[str, Any], list[list[float | None]]]:
    """Load, warm up, score ``items``; the row of the table and the scores."""
    start = time.perf_counter()
    scorer = load_scorer(path, format, device=args.device, dtype=args.dtype, batch_size=args.batch_size,
                         backend=backend, **options)
    loaded = time.perf_counter() - start
    try:
        scorer.score_batch(items[: args.batch_size])  # warm-up: compilation, CUDA graphs, allocator
        start = time.perf_counter()
        scores = scorer.score_batch(items)
        seconds = time.perf_counter() - start
        tokens = _tokens(scorer, items)
    finally:
        if hasattr(scorer, "close"):
            scorer.close()
    row = {"format": format, "backend": backend, "checkpoint": path, "load_s": round(loaded, 1),
           "score_s": round(seconds, 2), "tokens": tokens, "tokens_per_s": round(tokens / max(seconds, 1e-9), 1)}
    return row, scores


def _max_gap(a: list[list[float | None]], b: list[list[float | None]]) -> float:
    gaps = [abs(x - y) for sa, sb in zip(a, b, strict=True) for x, y in zip(sa, sb, strict=True)
            if x is not None and y is not None]
    return max(gaps, default=0.0)


def _table(rows: list[dict[str, Any]]) -> str:
    lines = ["| format | backend | load s | score s | tokens/s | vLLM/HF | max abs gap |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['format']} | {row['backend']} | {row['load_s']} | {row['score_s']} | "
                     f"{row['tokens_per_s']} | {row.get('speedup', '')} | {row.get('max_gap', '')} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prm", action="append", default=[], help="FORMAT=PATH (folder or hub id); repeatable")
    parser.add_argument("--only-given", action="store_true", help="only the --prm checkpoints, not the defaults")
    parser.add_argument("--prm-options", action="append", default=[], help="FORMAT:KEY=VALUE,... for a loader")
    parser.add_argument("--limit", type=int, default=100, help="MATH-500 solutions")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--backends", default="hf,vllm", help="comma-separated: hf, vllm")
    parser.add_argument("--out", default="gpu_check.json")
    parser.add_argument("--formats", default="all", help="all, or none (skip the format check)")
    parser.add_argument("--pipeline", action="store_true", help="then run bench/gpu_pipeline.py")
    parser.add_argument("--pipeline-model", default="Qwen/Qwen2.5-Math-1.5B-Instruct")
    parser.add_argument("--pipeline-minutes", type=float, default=9.0)
    parser.add_argument("--pipeline-max-gib", type=float, default=70.0)
    args = parser.parse_args()
    ok = True
    if args.formats != "none":
        ok = check_formats(args, parser)
    if args.pipeline:
        from gpu_pipeline import main as pipeline

        ok = pipeline(["--model", args.pipeline_model, "--minutes", str(args.pipeline_minutes), "--max-gib",
                       str(args.pipeline_max_gib)]) == 0 and ok
    return 0 if ok else 1


def check_formats(args: argparse.Namespace, parser: argparse.ArgumentParser) -> bool:
    """Score MATH-500 solutions with every format's checkpoint and backend; whether all of them ran."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    given = dict(spec.split("=", 1) for spec in args.prm)
    checkpoints = given if args.only_given else {**DEFAULTS, **given}
    options = {spec.split(":", 1)[0]: parse_options(spec.split(":", 1)[1]) for spec in args.prm_options}
    unknown = sorted(set(checkpoints) - set(SCORER_FORMATS))
    if unknown:
        parser.error(f"unknown format(s) {unknown}; known: {', '.join(SCORER_FORMATS)}")
    items = _items(args.limit)
    rows: list[dict[str, Any]] = []
    for format, path in checkpoints.items():
        scores: dict[str, list] = {}
        for backend in args.backends.split(","):
            if backend == "vllm" and format not in VLLM_SCORING:
                continue
            try:
                row, scores[backend] = run_one(format, path, backend, items, args, options.get(format, {}))
            except Exception as error:  # a checkpoint out of reach or too big: say so, go on with the others
                logging.error("%s (%s, %s): %s: %s", format, path, backend, type(error).__name__, error)
                rows.append({"format": format, "backend": backend, "checkpoint": path, "error": str(error)[:300],
                             "load_s": "-", "score_s": "-", "tokens_per_s": "-"})
                continue
            if backend == "vllm" and "hf" in scores:
                hf = next(r for r in rows if r["format"] == format and r["backend"] == "hf")
                row["speedup"] = round(row["tokens_per_s"] / max(hf["tokens_per_s"], 1e-9), 2)
                row["max_gap"] = f"{_max_gap(scores['vllm'], scores['hf']):.1e}"
            rows.append(row)
    Path(args.out).write_text(json.dumps({"solutions": len(items), "rows": rows}, indent=1) + "\n")
    sys.stdout.write(f"{len(items)} MATH-500 solutions\n{_table(rows)}\n")
    return bool(rows) and all("error" not in r for r in rows)


if __name__ == "__main__":
    sys.exit(main())
