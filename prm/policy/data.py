"""Training data for the policy: problems in, (prompt + solution + eos) token ids with a loss mask out.

Problems come from the synthetic task (generated in-process, deterministic for a seed) or from a
JSONL file of Problem records with reference solutions. Each example is the shared prompt
(:func:`prm.prompts.build_prompt`) followed by the solution and the end-of-sequence token; labels are
-100 on the prompt and on padding, so the loss covers the solution tokens only.

Batches are length-bucketed: each epoch shuffles the examples (seeded by epoch), sorts windows of
``bucket_batches`` batches by length, cuts them into batches and shuffles the batches. The order is
a pure function of (seed, epoch), so a resumed run picks up at the same batch.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from data.records import Problem, read_records
from data.synth import generate_problems
from prm.prompts import build_prompt, has_chat_template

__all__ = ["Example", "IGNORE_INDEX", "synthetic_problems", "load_problems", "encode_examples", "epoch_batches",
           "collate"]

logger = logging.getLogger(__name__)

IGNORE_INDEX = -100
_CHUNK = 5000  # problems per generate_problems call: small families run out of distinct problems at low levels


@dataclass(frozen=True)
class Example:
    """One training sequence: ``prompt_len`` prompt tokens, then the solution tokens and eos."""

    input_ids: tuple[int, ...]
    prompt_len: int

    def __len__(self) -> int:
        return len(self.input_ids)


def synthetic_problems(n: int, seed: int, split: str = "train", levels: Sequence[int] | None = None,
                       families: Sequence[str] | None = None) -> list[Problem]:
    """``n`` synthetic problems, drawn in chunks with seeds ``seed, seed + 1, ...``.

    Within a chunk problems are distinct; across chunks a family whose space is small at these
    levels repeats problems instead of failing.
    """
    problems: list[Problem] = []
    chunk, index = min(_CHUNK, n), 0
    while len(problems) < n:
        want = min(chunk, n - len(problems))
        try:
            problems.extend(generate_problems(want, seed=seed * 1000 + index, split=split, families=families,
                                              levels=levels))
            index += 1
        except ValueError:
            if chunk <= len(families or [0] * 10):
                raise
            chunk //= 2
            logger.debug("synthetic families ran short of distinct problems: chunks of %d", chunk)
    return problems


def load_problems(path: str) -> list[Problem]:
    """Problem records with reference solutions from a JSONL file (records without one are skipped)."""
    problems = [p for p in read_records(path, Problem) if p.solution]
    if not problems:
        raise ValueError(f"{path}: no problem has a reference solution to train on")
    return problems


def encode_examples(problems: Sequence[Problem], tokenizer: object, max_length: int) -> list[Example]:
    """Token ids of prompt + solution + eos per problem; sequences longer than ``max_length`` are dropped."""
    eos = tokenizer.eos_token_id  # type: ignore[attr-defined]
    add_special = not has_chat_template(tokenizer)  # chat templates already carry their special tokens
    prompts = [build_prompt(p.problem, tokenizer) for p in problems]
    prompt_ids = tokenizer(prompts, add_special_tokens=add_special)["input_ids"]  # type: ignore[operator]
    solution_ids = tokenizer([p.solution or "" for p in problems], add_special_tokens=False)["input_ids"]  # type: ignore[operator]
    examples = [Example(tuple(a) + tuple(b) + (eos,), len(a)) for a, b in zip(prompt_ids, solution_ids, strict=True)]
    kept = [e for e in examples if len(e) <= max_length]
    if len(kept) < len(examples):
        logger.warning("dropped %d of %d examples longer than %d tokens", len(examples) - len(kept), len(examples),
                       max_length)
    if not kept:
        raise ValueError(f"no example fits in max_length={max_length} tokens")
    return kept


def epoch_batches(lengths: Sequence[int], batch_size: int, seed: int, epoch: int,
                  bucket_batches: int = 50) -> list[list[int]]:
    """Length-bucketed batches of example indices for one epoch; deterministic for (seed, epoch)."""
    rng = random.Random(f"policy batches {seed} {epoch}")
    order = list(range(len(lengths)))
    rng.shuffle(order)
    window = batch_size * bucket_batches
    batches: list[list[int]] = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start:start + window], key=lambda i: lengths[i])
        batches.extend(chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def collate(examples: Sequence[Example], pad_token_id: int, pad_to_multiple: int = 16) -> dict[str, torch.Tensor]:
    """Right-padded ``input_ids``, ``attention_mask`` and ``labels`` (-100 on prompt and padding).

    Widths are rounded up to ``pad_to_multiple``: on CPU every new shape costs oneDNN a new kernel
    (and memory, about 1.5 GB more over 150 distinct widths); a few distinct shapes keep both flat.
    """
    width = -(-max(len(e) for e in examples) // pad_to_multiple) * pad_to_multiple
    input_ids = torch.full((len(examples), width), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(examples), width), dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    for row, example in enumerate(examples):
        ids = torch.tensor(example.input_ids, dtype=torch.long)
        input_ids[row, :len(ids)] = ids
        attention_mask[row, :len(ids)] = 1
        labels[row, example.prompt_len:len(ids)] = ids[example.prompt_len:]
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}
