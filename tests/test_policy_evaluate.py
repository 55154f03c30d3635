"""``prm.policy.evaluate``: sampling through ``HFSampler``, the harness's majority vote, mode restored."""

from __future__ import annotations

from pathlib import Path

import pytest
from transformers import AutoModelForCausalLM, AutoTokenizer

from data.records import Problem
from prm.policy.evaluate import evaluate_policy, majority_correct, sample_solutions
from verifiers import Status, Verdict


def _verdict(pred: str | None, ok: bool) -> Verdict:
    return Verdict(Status.EQUAL if ok else Status.NOT_EQUAL if pred else Status.UNPARSABLE, "5", pred)


def test_majority_is_the_harness_vote_over_equivalent_answers() -> None:
    # "5" and "5.0" are one (correct) answer: two votes against one, where a string vote would tie
    assert majority_correct([_verdict("6", False), _verdict("5", True), _verdict("5.0", True)])
    assert not majority_correct([_verdict("0.5", False), _verdict("\\frac12", False), _verdict("5", True)])
    assert not majority_correct([_verdict("6", False), _verdict("5", True)])  # ties: the earliest sample
    assert majority_correct([_verdict("5", True), _verdict("6", False)])
    assert not majority_correct([])


@pytest.mark.parametrize("training", [True, False])
def test_evaluate_counts_every_generated_token_and_restores_the_mode(tiny_policy: Path, training: bool) -> None:
    model, tokenizer = AutoModelForCausalLM.from_pretrained(tiny_policy), AutoTokenizer.from_pretrained(tiny_policy)
    problems = [Problem(id=f"p{i}", problem=f"{a}+{b}", answer=str(a + b)) for i, (a, b) in enumerate([(3, 4), (1, 2)])]
    model.train(training)
    result = evaluate_policy(model, tokenizer, problems, n=2, max_new_tokens=40, seed=1)
    assert model.training is training
    assert set(result.pass_at) == {1, 2} and 0.0 <= result.pass_at[1] <= result.pass_at[2] <= 1.0
    completions = sample_solutions(model, tokenizer, [p.problem for p in problems], 2, max_new_tokens=40, seed=1)
    assert model.training is training
    counts = [c.num_tokens for group in completions for c in group]
    assert counts == [len(c.token_ids) for group in completions for c in group]  # the EOS token counts
    assert result.mean_new_tokens == pytest.approx(sum(counts) / len(counts))  # same seed: same samples
