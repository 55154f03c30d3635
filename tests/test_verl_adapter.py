"""verl adapters: ``compute_score`` in verl's dict convention, and dense step rewards placed on step-end
tokens (one PRM forward per response) for a tiny PRM and a policy tokenizer built in-process."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from data.segment import split_steps
from data.synth import generate_problems
from prm.grpo.step_spans import step_end_token_indices
from prm.integrations.verl import compute_score, dense_step_rewards, dense_step_rewards_batch
from prm.model.scoring import PRMScorer
from prm.model.tiny import save_tiny_backbone, tiny_prm
from prm.policy.tokenizer import train_tokenizer

pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.mark.parametrize(("solution", "gold", "expected"), [
    ("2 + 3 = 5.\n\nSo the answer is \\boxed{5}.", "5", {"score": 1.0, "acc": True, "pred": "5", "judged": True}),
    ("\\boxed{\\frac{1}{2}}", "0.5", {"score": 1.0, "acc": True, "pred": "\\frac{1}{2}", "judged": True}),
    ("The answer is 7.", "\\boxed{8}", {"score": 0.0, "acc": False, "pred": "7", "judged": True}),  # boxed gold
    ("no answer stated at all " * 20, "3", {"score": 0.0, "acc": False, "pred": "", "judged": True}),
    ("\\boxed{2}", "(1,", {"score": 0.0, "acc": False, "pred": "2", "judged": False}),  # unreadable gold: flagged
])
def test_compute_score(solution, gold, expected) -> None:
    assert compute_score("synthetic", solution, gold, extra_info={"index": 0}) == expected


def test_compute_score_accepts_verl_extras_and_threads() -> None:
    pairs = [("\\boxed{\\sqrt{8}}", "2\\sqrt2"), ("\\boxed{4}", "5")] * 8
    with ThreadPoolExecutor(max_workers=8) as pool:  # verl calls compute_score from an executor
        scores = list(pool.map(lambda p: compute_score("m", *p, None, reward_router_address=None)["score"], pairs))
    assert scores == [1.0, 0.0] * 8


@pytest.fixture(scope="module")
def problems():
    return generate_problems(6, seed=7, split="test")


@pytest.fixture(scope="module")
def policy_tokenizer(problems):
    return train_tokenizer([p.problem + "\n" + (p.solution or "") for p in problems] * 4, vocab_size=300)


@pytest.fixture(scope="module")
def scorer(tmp_path_factory, problems) -> PRMScorer:
    texts = [p.problem + "\n" + (p.solution or "") for p in problems] * 4
    model, tokenizer, config = tiny_prm(save_tiny_backbone(tmp_path_factory.mktemp("backbone"), texts))
    return PRMScorer.from_model(model, tokenizer, config, device="cpu")


@pytest.mark.parametrize(("text", "scores"), [
    ("a = 1.\n\nb = 2.\n\nso \\boxed{3}", [0.9, 0.2, 0.7]),
    ("one step", [0.5]),
    ("x\n\ny", [0.25, None]),  # a step past the PRM's length limit places nothing
    ("  \n\n", []),
])
def test_dense_step_rewards_places_scores_at_step_ends(policy_tokenizer, text, scores) -> None:
    ids = policy_tokenizer(text, add_special_tokens=False)["input_ids"] + [policy_tokenizer.eos_token_id]
    dense = dense_step_rewards(policy_tokenizer, ids, scores, length=len(ids) + 3)
    assert dense.shape == (len(ids) + 3,) and dense.dtype == torch.float32
    ends = step_end_token_indices(policy_tokenizer, ids)
    expected = torch.zeros(len(ids) + 3)
    for end, score in zip(ends, scores, strict=True):
        expected[end] = score or 0.0
    assert torch.equal(dense, expected)
    assert dense.sum().item() == pytest.approx(sum(s for s in scores if s is not None))
    if scores:
        assert ends[-1] == len(ids) - 2  # the last step ends on the last text token, before eos


def test_dense_step_rewards_errors(policy_tokenizer) -> None:
    ids = policy_tokenizer("a\n\nb", add_special_tokens=False)["input_ids"]
    with pytest.raises(ValueError, match="2 steps but 1 step scores"):
        dense_step_rewards(policy_tokenizer, ids, [0.5])
    with pytest.raises(ValueError, match="shorter than the response"):
        dense_step_rewards(policy_tokenizer, ids, [0.5, 0.5], length=1)


def test_dense_batch_matches_per_response_scores(scorer, policy_tokenizer, problems) -> None:
    responses = [policy_tokenizer(p.solution or "", add_special_tokens=False)["input_ids"] for p in problems[:4]]
    responses[-1] = responses[-1][: len(responses[-1]) // 2]  # a truncated generation
    batch = dense_step_rewards_batch(scorer, policy_tokenizer, [p.problem for p in problems[:4]], responses, width=200)
    assert batch.shape == (4, 200)
    for row, ids, problem in zip(batch, responses, problems, strict=False):
        text = policy_tokenizer.decode(ids, skip_special_tokens=True)
        step_scores = scorer.score(problem.problem, text)
        ends = step_end_token_indices(policy_tokenizer, ids)
        assert len(ends) == len(split_steps(text)) == len(step_scores) >= 1
        assert row.nonzero().flatten().tolist() == ends
        assert row[ends].tolist() == pytest.approx(step_scores, abs=1e-5)
    assert dense_step_rewards_batch(scorer, policy_tokenizer, [], [], width=5).shape == (0, 5)
