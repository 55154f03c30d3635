"""A quick evaluation of a policy: sample N solutions per held-out problem and summarise them.

Sampling goes through the project's Hugging Face backend (:class:`prm.sampling.hf.HFSampler`, the
semantics of ``prm.sampling.base``) built around the already loaded model and tokenizer, on the
model's device and in its dtype (``prm.runtime`` decides precision when the model is loaded). The
model's train/eval mode is restored afterwards, so a trainer can evaluate mid-run. Answers are
checked with :func:`verifiers.verify_many`. Reported: pass@k for k = 1, 2, 4, ..., N (the unbiased
estimator ``1 - C(n-c, k) / C(n, k)``; pass@1 is the mean accuracy over samples), maj@N (the
best-of-N harness's majority vote, ``eval.selection``: verifier-equivalent answers are one vote,
ties go to the earliest sample, unparsable answers do not vote) and new tokens per completion
(``Completion.num_tokens``: the end-of-sequence token counts). This is the quick check ``prm policy
train`` and GRPO print; sampling to files, vLLM and resumable runs live in ``prm.sampling``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from data.records import Problem
from eval.bon import pass_at_k
from eval.inputs import VERDICT_NAMES
from eval.selection import SELECTION_RULES, Group
from prm.prompts import build_prompt
from prm.sampling.base import Completion, SamplingConfig
from prm.sampling.hf import HFSampler
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
    """Whether the harness's majority vote (``SELECTION_RULES["majority"]``, no rng) over ``verdicts`` is correct."""
    if not verdicts:
        return False
    group = Group([{"verdict": VERDICT_NAMES[v.status], "answer": v.pred} for v in verdicts])
    return group.correct[SELECTION_RULES["majority"](group)]


def sample_solutions(model: Any, tokenizer: Any, problems: Sequence[str], n: int, temperature: float = 0.8,
                     max_new_tokens: int = 320, seed: int = 0, batch_size: int = 64,
                     system_prompt: str | None = None) -> list[list[Completion]]:
    """``n`` completions per problem (prompted with :func:`build_prompt`), sampled with :class:`HFSampler`."""
    training = model.training
    device = next(model.parameters()).device
    params = SamplingConfig(temperature=temperature, top_p=1.0, max_tokens=max_new_tokens, seed=seed)
    try:
        sampler = HFSampler(model, tokenizer=tokenizer, device=str(device), batch_size=batch_size, seed=seed)
        return sampler.generate([build_prompt(text, tokenizer, system_prompt) for text in problems], n, params)
    finally:
        model.train(training)  # the sampler switched it to eval mode


def evaluate_policy(model: Any, tokenizer: Any, problems: Sequence[Problem], n: int = 16, temperature: float = 0.8,
                    max_new_tokens: int = 320, seed: int = 0, workers: int = 2,
                    system_prompt: str | None = None) -> EvalResult:
    """Sample ``n`` solutions per problem, verify them against the gold answers, and summarise."""
    start = time.perf_counter()
    completions = sample_solutions(model, tokenizer, [p.problem for p in problems], n, temperature,
                                   max_new_tokens, seed, system_prompt=system_prompt)
    sampled_s = time.perf_counter() - start
    new_tokens = sum(c.num_tokens for group in completions for c in group)
    pairs = [(p.answer, c.text) for p, group in zip(problems, completions, strict=True) for c in group]
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
