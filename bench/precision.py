"""Training and scoring tokens/s by precision: the runtime's default against --no-bf16 and --bf16, same run.

For Llama models in the offline policy's layout (6 layers, heads of 32) at its width (hidden 128) and
wider, it times optimizer steps of the policy's training step (:func:`prm.policy.train._train_step`,
AdamW, 16 sequences of 96 tokens, the quickstart's mean length) and no-grad forward passes (what
sampling, scoring and the likelihood PRM's features cost): float32, bf16 autocast, and what
:func:`prm.runtime.use_bf16` picks by default, in interleaved rounds (the best of each kept). It prints
tokens/s and the ratio default / float32, which must never be below ~1 (on a CPU without native bf16 the
default *is* float32), and bf16 / float32: what native bf16 buys at each width.

    .venv/bin/python bench/precision.py                 # hidden 128 and 512, 2 threads
    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 .venv/bin/python bench/precision.py
"""

from __future__ import annotations

import argparse
import contextlib
import time

import torch
from transformers import LlamaForCausalLM

from prm.policy.config import PolicyTrainConfig
from prm.policy.model import ModelSize, new_model
from prm.policy.train import _optimizer, _train_step
from prm.runtime import machine_info, precision_name, torch_threads, use_bf16

BATCH, LENGTH, VOCAB = 16, 96, 512


def build(hidden: int) -> LlamaForCausalLM:
    """The offline policy's layout (6 layers, heads of 32, MLP 4x) at width ``hidden``."""
    return new_model(ModelSize(hidden, 6, hidden // 32, 4 * hidden), VOCAB, eos_token_id=0, pad_token_id=1)


def batch() -> dict[str, torch.Tensor]:
    ids = torch.randint(0, VOCAB, (BATCH, LENGTH), generator=torch.Generator().manual_seed(0))
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids}


def train_tokens_per_s(hidden: int, bf16: bool, steps: int) -> float:
    model = build(hidden)
    optimizer = _optimizer(model, PolicyTrainConfig())
    data, config, device = batch(), PolicyTrainConfig(), torch.device("cpu")
    for _ in range(2):  # warm-up: allocator and oneDNN kernel selection
        _train_step(model, optimizer, data, config, device, bf16)
    start = time.perf_counter()
    for _ in range(steps):
        _train_step(model, optimizer, data, config, device, bf16)
    return BATCH * LENGTH * steps / (time.perf_counter() - start)


@torch.no_grad()
def forward_tokens_per_s(hidden: int, bf16: bool, steps: int) -> float:
    model = build(hidden).eval()
    data = batch()
    data.pop("labels")
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    with autocast:
        model(**data)
        start = time.perf_counter()
        for _ in range(steps):
            model(**data)
    return BATCH * LENGTH * steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", default="128,512", help="model widths to time (comma-separated)")
    parser.add_argument("--steps", type=int, default=8, help="timed steps per configuration and round")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds; the best of each is kept")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    machine = machine_info()
    print(f"CPU {machine['cpu']}, capability {machine['cpu_capability']}, native bf16 {machine['cpu_native_bf16']}, "
          f"torch {machine['torch']}, {args.threads} threads")
    print("| hidden | pass | default | float32 tok/s | bf16 tok/s | default tok/s | default / fp32 | bf16 / fp32 |")
    print("|---:|---|---|---:|---:|---:|---:|---:|")
    with torch_threads(args.threads):
        for hidden in (int(h) for h in args.hidden.split(",")):
            default = use_bf16(None, "cpu", hidden)
            for name, measure in (("train step", train_tokens_per_s), ("forward", forward_tokens_per_s)):
                best: dict[str, float] = {}
                for _ in range(args.rounds):  # interleaved rounds, best of each: less exposed to drift and noise
                    for key, bf16 in (("fp32", False), ("bf16", True), ("default", default)):
                        best[key] = max(best.get(key, 0.0), measure(hidden, bf16, args.steps))
                fp32, bf16, chosen = best["fp32"], best["bf16"], best["default"]
                print(f"| {hidden} | {name} | {precision_name(default)} | {fp32:,.0f} | {bf16:,.0f} | {chosen:,.0f} | "
                      f"{chosen / fp32:.2f} | {bf16 / fp32:.2f} |", flush=True)


if __name__ == "__main__":
    main()
