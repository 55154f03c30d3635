"""``prm.policy.evaluate``: sampling through ``HFSampler``, the harness's majority vote, mode restored."""

from __future__ import annotations

from pathlib import Path

import pytest
from transformers import AutoModelForCausalLM, AutoTokenizer

import prm.policy.evaluate as evaluate_module
from data.records import Problem
from prm.policy.evaluate import evaluate_policy, majority_correct, sample_solutions
from prm.sampling.base import Completion
from verifiers import Status, Verdict, verify


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
    completions = sample_solutions(model, tokenizer, [p.problem for p in problems], 2, max_new_tokens=40, seed=1)
    assert model.training is training
    correct = [sum(verify(p.answer, c.text).is_equal for c in group) for p, group in zip(problems, completions,
                                                                                          strict=True)]
    assert result.per_problem_correct == correct  # same seed: the same samples, each verified
    assert result.pass_at == {1: pytest.approx(sum(correct) / 4), 2: pytest.approx(sum(c > 0 for c in correct) / 2)}
    counts = [c.num_tokens for group in completions for c in group]
    assert counts == [len(c.token_ids) for group in completions for c in group]  # the EOS token counts
    assert result.mean_new_tokens == pytest.approx(sum(counts) / len(counts))  # same seed: same samples


def test_pass_at_k_and_majority_from_scripted_samples(monkeypatch: pytest.MonkeyPatch) -> None:
    """Known samples give exact pass@k (unbiased estimator, averaged over problems) and maj@n."""
    texts = {"1+1": ["\\boxed{2}", "\\boxed{3}", "\\boxed{2.0}", "\\boxed{5}"],  # 2 of 4 right, majority right
             "2+2": ["\\boxed{5}", "\\boxed{5}", "\\boxed{4}", "\\boxed{6}"]}  # 1 of 4 right, majority wrong

    def scripted(model, tokenizer, problems, n, *args, **kwargs):
        return [[Completion(text, 3, "stop") for text in texts[problem][:n]] for problem in problems]

    monkeypatch.setattr(evaluate_module, "sample_solutions", scripted)
    problems = [Problem(id="a", problem="1+1", answer="2"), Problem(id="b", problem="2+2", answer="4")]
    result = evaluate_policy(None, None, problems, n=4)
    assert result.per_problem_correct == [2, 1]
    # pass@k = mean over problems of 1 - C(n-c, k) / C(n, k): (1/2 + 1/4) / 2, (5/6 + 1/2) / 2, (1 + 1) / 2
    assert result.pass_at == {1: pytest.approx(0.375), 2: pytest.approx(2 / 3), 4: pytest.approx(1.0)}
    assert result.majority == 0.5 and result.mean_new_tokens == 3
