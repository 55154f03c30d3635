"""PRM scoring cost, one run: (a) one forward per solution reading every step tag, (b) one forward per step
prefix, (c) a bare backbone forward over the same tokens; plus training tokens/s and peak memory.

    .venv/bin/python bench/prm_score.py [--prm runs/prm-exact | --backbone runs/policy-default] [--threads 1]

Prints (a)/(c) (target <= 1.15: the head and the tag reads cost next to nothing) and (b)/(a) (grows with
the step count: k steps cost k forwards of growing prefixes) for solutions of 1, 2, 4, 8 and 12 steps. Timings
are medians of ``--repeats`` runs, from token ids (tokenisation is timed separately), one solution per
forward (``--batch-size`` to batch). Without a trained policy the backbone is a fresh Llama of the default
policy's shape (hidden 128, 6 layers, 4 heads of 32), which costs the same to run as a trained one.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

import torch

from data.build import build_dataset
from data.records import StepwiseRow, read_records
from data.synth import generate_problems
from prm.model.modeling import PRMConfig, load_backbone, save_prm
from prm.model.scorer import pad_right
from prm.model.scoring import PRMScorer
from prm.model.tags import TaggedSequence
from prm.model.tiny import save_tiny_backbone
from prm.train import TrainConfig, train_prm

DEFAULT_POLICY = Path(__file__).resolve().parents[1] / "runs" / "policy-default"


def _interleaved_medians(repeats: int, *calls: tuple) -> list[float]:
    """Median seconds of each ``(fn, *args)`` call, the calls interleaved so load changes hit all alike."""
    times: list[list[float]] = [[] for _ in calls]
    for _ in range(repeats):
        for slot, (fn, *fn_args) in zip(times, calls, strict=True):
            start = time.perf_counter()
            fn(*fn_args)
            slot.append(time.perf_counter() - start)
    return [statistics.median(slot) for slot in times]


def solutions(k: int, n: int, seed: int = 0) -> list[tuple[str, list[str]]]:
    """``n`` (problem, steps) pairs of exactly ``k`` synthetic steps (reference steps, cycled)."""
    problems = generate_problems(max(n, 8) * 2, seed=seed, split="test")
    pool = sorted({step for p in problems for step in (p.solution or "").split("\n\n") if step.strip()}, key=len)
    pool = pool[: max(len(pool) // 3, 1)]  # the shortest steps, so 12 of them fit in 512 positions
    return [(problems[i % len(problems)].problem, [pool[(i * k + j) % len(pool)] for j in range(k)])
            for i in range(n)]


def bare_backbone(scorer: PRMScorer, sequences: list[TaggedSequence], batch_size: int) -> None:
    """(c): the backbone alone (no head, no tag reads) over the same padded batches as (a)."""
    backbone = getattr(scorer.model, scorer.model.base_model_prefix)
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i].input_ids), reverse=True)
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            ids, mask = pad_right([sequences[i].input_ids for i in order[start: start + batch_size]], scorer.pad_id)
            backbone(input_ids=ids, attention_mask=mask)


def per_prefix(scorer: PRMScorer, prefixes: list[list[TaggedSequence]]) -> None:
    """(b): one forward per step prefix of every solution (token ids made beforehand, as for (a))."""
    for solution in prefixes:
        for seq in solution:
            scorer.forward_tags([seq])


def scoring_table(scorer: PRMScorer, args: argparse.Namespace) -> None:
    print("| steps | tokens/solution | encode ms | (a) single pass ms | (b) per prefix ms | (c) backbone ms "
          "| (a)/(c) | (b)/(a) | max abs diff (a) vs (b) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for k in args.steps:
        items = solutions(k, args.solutions)
        start = time.perf_counter()
        encoded = [scorer.encode(problem, steps) for problem, steps in items]
        encode_ms = (time.perf_counter() - start) / len(items) * 1e3
        if any(seq.truncated for seq in encoded):
            print(f"| {k} | (solutions exceed {scorer.max_length} positions: skipped) |")
            continue
        single = scorer.score_encoded(encoded, args.batch_size)
        prefix = [scorer.score_per_prefix(problem, steps) for problem, steps in items]
        diff = max(abs(a - b) for s, p in zip(single, prefix, strict=True) for a, b in zip(s, p, strict=True))
        for _ in range(2):  # warm up both paths
            scorer.score_encoded(encoded, args.batch_size)
            bare_backbone(scorer, encoded, args.batch_size)
        t_a, t_c = _interleaved_medians(args.repeats, (scorer.score_encoded, encoded, args.batch_size),
                                        (bare_backbone, scorer, encoded, args.batch_size))
        prefixes = [scorer.encode_prefixes(problem, steps) for problem, steps in items]
        t_b, t_a2 = _interleaved_medians(max(1, args.repeats // 2), (per_prefix, scorer, prefixes),
                                         (scorer.score_encoded, encoded, args.batch_size))
        per = 1e3 / len(items)
        tokens = statistics.fmean(len(s.input_ids) for s in encoded)
        print(f"| {k} | {tokens:.0f} | {encode_ms:.2f} | {t_a * per:.2f} | {t_b * per:.2f} | {t_c * per:.2f} "
              f"| {t_a / t_c:.3f} | {t_b / t_a2:.2f} | {diff:.1e} |", flush=True)


def training_throughput(backbone: str, work: Path, args: argparse.Namespace) -> None:
    data = work / "rows.jsonl"
    build_dataset(data, n_synthetic=400, gsm8k=0, math=0, seed=0)
    rows = sum(1 for _ in read_records(data, StepwiseRow))
    print(f"\ntraining ({rows} synthetic stepwise rows, batch {args.train_batch}, {args.train_steps} steps):")
    print("| setting | tokens/s (non-pad) | s/step | process peak RSS so far, MiB (ru_maxrss) |")
    print("|---|---:|---:|---:|")
    for name, overrides in (("full fine-tune fp32", {}), ("full fine-tune bf16 autocast", {"bf16": True}),
                            ("LoRA r=16 fp32", {"lora": True}), ("full + gradient checkpointing",
                                                                 {"gradient_checkpointing": True})):
        config = TrainConfig(data=str(data), model=backbone, out_dir=str(work / name.replace(" ", "-")),
                             max_steps=args.train_steps, batch_size=args.train_batch, lr=1e-4, eval_fraction=0.0,
                             save_steps=10_000, logging_steps=10_000, threads=args.threads, **overrides)
        result = train_prm(config)
        print(f"| {name} | {result.tokens_per_second:.0f} | {result.train_seconds / args.train_steps:.3f} "
              f"| {result.peak_memory_mb:.0f} |", flush=True)
    print(f"\nprocess peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


def _prm_folder(args: argparse.Namespace, work: Path) -> tuple[str, str]:
    """(PRM folder to score with, backbone folder to train from)."""
    if args.backbone:
        backbone = args.backbone
    elif DEFAULT_POLICY.exists():
        backbone = str(DEFAULT_POLICY)
    else:
        texts = [p.problem + "\n" + (p.solution or "") for p in generate_problems(400, seed=0)]
        backbone = str(save_tiny_backbone(work / "backbone", texts, vocab_size=512, hidden=128, layers=6, heads=4))
    if args.prm:
        return args.prm, backbone
    model, tokenizer, tag_id, _ = load_backbone(backbone)
    save_prm(model, tokenizer, PRMConfig(tag_token_id=tag_id), work / "prm")
    return str(work / "prm"), backbone


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prm", help="a trained PRM folder (default: an untrained head on the backbone)")
    parser.add_argument("--backbone", help=f"causal LM folder (default: {DEFAULT_POLICY} or a fresh one)")
    parser.add_argument("--steps", type=int, nargs="+", default=[1, 2, 4, 8, 12])
    parser.add_argument("--solutions", type=int, default=32, help="solutions per step count")
    parser.add_argument("--batch-size", type=int, default=1, help="solutions per forward in (a) and (c)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--train-steps", type=int, default=30)
    parser.add_argument("--train-batch", type=int, default=16)
    parser.add_argument("--no-train", action="store_true", help="skip the training throughput part")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        prm, backbone = _prm_folder(args, work)
        scorer = PRMScorer(prm, device="cpu")
        params = sum(p.numel() for p in scorer.model.parameters())
        print(f"PRM {prm} ({params / 1e6:.2f}M parameters, backbone {backbone}), {args.threads} thread(s), "
              f"batch {args.batch_size}, {args.solutions} solutions per row\n")
        scoring_table(scorer, args)
        if not args.no_train:
            training_throughput(backbone, work, args)


if __name__ == "__main__":
    main()
