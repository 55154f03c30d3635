"""Named option sets of ``prm quickstart --profile``: defaults that the YAML file and the command line override.

- ``smollm``: a real pretrained instruct LM through every stage on 2 CPU cores in under 30 minutes.
  SmolLM2-135M-Instruct (by hub id; offline, give its GGUF file: ``--model SmolLM2-135M-Instruct.Q4_1.gguf``,
  converted once, :mod:`prm.gguf`) samples easy synthetic problems (level 1 arithmetic, gcd/lcm and remainders,
  where it gets a few right) through vLLM and GSM8K test problems through transformers; its answers are verified,
  its training samples labelled exactly and by Monte-Carlo rollouts, a likelihood-head PRM and ORM are fitted on
  it as the verifier LM, then scores, best-of-N, a short PRM-guided beam search and a short GRPO run (LoRA). The
  sizes are small so that every stage runs; the numbers measure the path, not the model.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PROFILES"]

SMOLLM: dict[str, Any] = {
    "model": "HuggingFaceTB/SmolLM2-135M-Instruct",
    "out_dir": "runs/smollm",
    # the level-1 families it solves most: 4, 3 and 2 of 24 samples (gcd_lcm, remainder, arithmetic), against
    # 0-1 of 24 for the other seven, and 0.6% of GSM8K
    "synthetic_families": "arithmetic,gcd_lcm,remainder",
    "synthetic_levels": "1",
    "segmentation": "auto",  # numbered lists with single newlines, as this model writes them
    "test_problems": 12,
    "n": 8,
    "train_problem_count": 48,
    "train_samples": 2,
    "mc_samples": 12,
    "mc_k": 2,
    "temperature": 0.7,
    "max_new_tokens": 192,
    "backend": "vllm",
    "vllm_eager": True,  # three engine starts of 21 s instead of 98 s each
    "search_n": 4,
    "search_beam_width": 2,
    "search_problems": 4,
    "search_backend": "hf",
    "hf_sample_problems": 8,
    "hf_samples": 2,
    "grpo_steps": 2,
    "threads": 1,
    "train_threads": 2,
}

PROFILES: dict[str, dict[str, Any]] = {"smollm": SMOLLM}
