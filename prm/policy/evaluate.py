"""A minimal evaluation of a policy: sample N solutions per held-out problem with HF ``generate``.

Answers are checked with :func:`verifiers.verify_many`. Reported: pass@k for k = 1, 2, 4, ..., N
(the unbiased estimator ``1 - C(n-c, k) / C(n, k)``; pass@1 is the mean accuracy over samples) and
majority vote (the most frequent extracted answer, whitespace ignored, ties to the first seen;
unparsable answers do not vote). This is the quick check ``prm policy train`` prints at the end; the
real sampling backends (vLLM, HF, resumable files) live in ``prm.sampling``.

On 2 CPU cores with the 1.6M-parameter policy, float32 decoding at 64 sequences per ``generate`` call
was the fastest measured (about 1.9k new tokens/s on one busy thread; bf16 autocast 1.1-1.4k, 256
sequences per call 1.5k), so bf16 is off by default here, unlike in training.
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from data.records import Problem
from eval.bon import pass_at_k
from prm.prompts import build_prompt, has_chat_template
from verifiers import Verdict, verify_many

__all__ = ["EvalResult", "pass_at_k", "majority_correct", "sample_solutions", "evaluate_policy", "format_result"]

logger = logging.getLogger(__name__)


@dataclass
class EvalResult:
    """Accuracy of a policy on ``problems`` problems with ``samples`` samples each."""

    problems: int
    samples: int
    pass_at: dict[int, float]
    majority: float
    unparsable: float  # share of samples with no extractable answer
    mean_new_tokens: float
    tokens_per_s: float
    seconds: float
    per_problem_correct: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["pass_at"] = {str(k): v for k, v in self.pass_at.items()}
        return data



def majority_correct(verdicts: Sequence[Verdict]) -> bool:
    """Whether the most frequent extracted answer among ``verdicts`` is a correct one."""
    votes: collections.Counter[str] = collections.Counter()
    correct: dict[str, bool] = {}
    for verdict in verdicts:
        if verdict.pred is None:
            continue
        key = "".join(verdict.pred.split())
        votes[key] += 1
        correct.setdefault(key, verdict.is_equal)
    if not votes:
        return False
    return correct[votes.most_common(1)[0][0]]  # most_common keeps first-seen order among ties


def _generate_batch(model: Any, tokenizer: Any, prompts: list[str], n: int, temperature: float,
                    max_new_tokens: int) -> tuple[list[str], int]:
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    try:
        encoded = tokenizer(prompts, return_tensors="pt", padding=True,
                            add_special_tokens=not has_chat_template(tokenizer))
    finally:
        tokenizer.padding_side = side
    encoded = {key: value.to(model.device) for key, value in encoded.items()}
    output = model.generate(**encoded, do_sample=True, temperature=temperature, top_p=1.0, top_k=0,
                            num_return_sequences=n, max_new_tokens=max_new_tokens,
                            pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
    new = output[:, encoded["input_ids"].shape[1]:]
    generated = (new != tokenizer.pad_token_id) & (new != tokenizer.eos_token_id)
    texts = tokenizer.batch_decode(new, skip_special_tokens=True)
    return texts, int(generated.sum())


@torch.no_grad()
def sample_solutions(model: Any, tokenizer: Any, problems: Sequence[str], n: int, temperature: float = 0.8,
                     max_new_tokens: int = 320, seed: int = 0, batch_sequences: int = 64,
                     bf16: bool = False) -> tuple[list[list[str]], int]:
    """``n`` sampled completions per problem (prompted with :func:`build_prompt`) and the new-token count."""
    model.eval()
    torch.manual_seed(seed)
    prompts = [build_prompt(text, tokenizer) for text in problems]
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))  # similar lengths pad less
    per_batch = max(1, batch_sequences // n)
    completions: list[list[str]] = [[] for _ in prompts]
    new_tokens = 0
    autocast = torch.autocast(device_type=model.device.type, dtype=torch.bfloat16, enabled=bf16)
    for start in range(0, len(order), per_batch):
        chunk = order[start:start + per_batch]
        with autocast:
            texts, count = _generate_batch(model, tokenizer, [prompts[i] for i in chunk], n, temperature,
                                           max_new_tokens)
        new_tokens += count
        for j, index in enumerate(chunk):
            completions[index] = texts[j * n:(j + 1) * n]
    return completions, new_tokens


def evaluate_policy(model: Any, tokenizer: Any, problems: Sequence[Problem], n: int = 16, temperature: float = 0.8,
                    max_new_tokens: int = 320, seed: int = 0, workers: int = 2, bf16: bool = False) -> EvalResult:
    """Sample ``n`` solutions per problem, verify them against the gold answers, and summarise."""
    start = time.perf_counter()
    completions, new_tokens = sample_solutions(model, tokenizer, [p.problem for p in problems], n, temperature,
                                               max_new_tokens, seed, bf16=bf16)
    sampled_s = time.perf_counter() - start
    pairs = [(p.answer, text) for p, texts in zip(problems, completions, strict=True) for text in texts]
    verdicts = verify_many(pairs, workers=workers)
    grouped = [verdicts[i * n:(i + 1) * n] for i in range(len(problems))]
    correct = [sum(v.is_equal for v in group) for group in grouped]
    ks = [k for k in (2 ** i for i in range(n.bit_length())) if k <= n]
    if n not in ks:
        ks.append(n)
    total = max(1, len(problems))
    return EvalResult(
        problems=len(problems), samples=n,
        pass_at={k: sum(pass_at_k(n, c, k) for c in correct) / total for k in ks},
        majority=sum(majority_correct(group) for group in grouped) / total,
        unparsable=sum(v.pred is None for v in verdicts) / max(1, len(verdicts)),
        mean_new_tokens=new_tokens / max(1, len(verdicts)), tokens_per_s=new_tokens / max(sampled_s, 1e-9),
        seconds=time.perf_counter() - start, per_problem_correct=correct,
    )


def format_result(result: EvalResult) -> str:
    """A one-table markdown summary."""
    heads = [f"pass@{k}" for k in result.pass_at] + [f"maj@{result.samples}", "unparsable", "tokens/s"]
    values = [f"{v:.3f}" for v in result.pass_at.values()] + [f"{result.majority:.3f}", f"{result.unparsable:.3f}",
                                                               f"{result.tokens_per_s:.0f}"]
    return (f"{result.problems} held-out problems x {result.samples} samples\n"
            f"| {' | '.join(heads)} |\n|{'---:|' * len(heads)}\n| {' | '.join(values)} |")
