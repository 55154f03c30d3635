"""The GRPO loss: aggregations by hand, clipping (values, gradients, clip fraction), k3 KL, gradient
accumulation, and completion log-probs under left padding against unpadded forwards of a tiny Llama."""

from __future__ import annotations

import math

import pytest
import torch

from prm.grpo.loss import BatchNorm, aggregate_loss, completion_log_probs, k3_kl, policy_loss
from prm.policy.model import ModelSize, new_model

MASK = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
ADV = torch.tensor([[1.0, 1.0, 0.0], [-3.0, 0.0, 0.0]])  # ratio 1: per-token loss -1, -1 | 3

AGGREGATION_CASES = [
    ("grpo", None, (-1.0 + 3.0) / 2),  # per-sequence means -1 and 3, then their mean
    ("token_mean", None, (-1 - 1 + 3) / 3),
    ("dr_grpo", BatchNorm(2, 3, 4), (-1 - 1 + 3) / (2 * 4)),  # constant normaliser: sequences x max_len
]


@pytest.mark.parametrize(("how", "norm", "expected"), AGGREGATION_CASES, ids=[c[0] for c in AGGREGATION_CASES])
def test_aggregations_by_hand(how: str, norm: BatchNorm | None, expected: float) -> None:
    logp = torch.zeros(2, 3, requires_grad=True)
    out = policy_loss(logp, logp.detach(), ADV, MASK, how=how, norm=norm)
    assert out.loss.item() == pytest.approx(expected)
    assert out.clip_fraction == 0.0 and out.ratio_mean == pytest.approx(1.0)


CLIP_CASES = [
    # ratio, advantage, per-token loss, gradient flows, clipped
    (1.5, 1.0, -1.2, False, True),  # above 1 + eps with A > 0: clipped, no gradient
    (0.5, 1.0, -0.5, True, False),  # below 1 - eps with A > 0: the unclipped term is the minimum
    (0.5, -1.0, 0.8, False, True),  # below 1 - eps with A < 0: clipped
    (1.5, -1.0, 1.5, True, False),  # above 1 + eps with A < 0: unclipped (pessimistic)
    (1.1, 2.0, -2.2, True, False),  # inside the range
]


@pytest.mark.parametrize(("ratio", "advantage", "expected", "grad", "clipped"), CLIP_CASES)
def test_clipping(ratio: float, advantage: float, expected: float, grad: bool, clipped: bool) -> None:
    logp = torch.tensor([[math.log(ratio)]], requires_grad=True)
    out = policy_loss(logp, torch.zeros(1, 1), torch.tensor([[advantage]]), torch.ones(1, 1), clip_eps=0.2)
    out.loss.backward()
    assert out.loss.item() == pytest.approx(expected, abs=1e-6)
    assert (logp.grad.abs().item() > 0) == grad
    assert out.clip_fraction == float(clipped)


def test_asymmetric_clip_high() -> None:
    logp = torch.tensor([[math.log(1.25)]])
    high = policy_loss(logp, torch.zeros(1, 1), torch.ones(1, 1), torch.ones(1, 1), clip_eps=0.2, clip_eps_high=0.28)
    assert high.loss.item() == pytest.approx(-1.25) and high.clip_fraction == 0.0


def test_k3_kl() -> None:
    assert k3_kl(torch.zeros(3), torch.zeros(3)).abs().max() == 0
    assert k3_kl(torch.tensor([0.0]), torch.tensor([math.log(0.5)])).item() == pytest.approx(0.5 + math.log(2) - 1)
    values = k3_kl(torch.randn(100), torch.randn(100))
    assert (values >= 0).all()
    logp = torch.zeros(1, 2, requires_grad=True)
    ref = torch.full((1, 2), math.log(0.5))
    out = policy_loss(logp, logp.detach(), torch.zeros(1, 2), torch.ones(1, 2), ref_logp=ref, beta=0.1,
                      how="token_mean")
    assert out.kl == pytest.approx(0.5 + math.log(2) - 1, abs=1e-6)
    assert out.loss.item() == pytest.approx(0.1 * out.kl, abs=1e-6)


@pytest.mark.parametrize("how", ["grpo", "token_mean", "dr_grpo"])
def test_micro_batches_add_up_to_the_full_batch(how: str) -> None:
    generator = torch.Generator().manual_seed(0)
    logp, old = torch.randn(6, 5, generator=generator) * 0.1, torch.randn(6, 5, generator=generator) * 0.1
    adv = torch.randn(6, 5, generator=generator)
    mask = (torch.arange(5)[None, :] < torch.tensor([5, 1, 3, 2, 4, 5])[:, None]).float()
    norm = BatchNorm(6, int(mask.sum()), 7)
    full = policy_loss(logp, old, adv, mask, how=how, norm=norm).loss
    parts = sum(policy_loss(logp[s], old[s], adv[s], mask[s], how=how, norm=norm).loss
                for s in (slice(0, 2), slice(2, 5), slice(5, 6)))
    assert float(parts) == pytest.approx(float(full), abs=1e-6)
    with pytest.raises(ValueError, match="unknown loss aggregation"):
        aggregate_loss(logp, mask, "sum")


def test_completion_log_probs_with_left_padding(torch_one_thread: None) -> None:
    model = new_model(ModelSize(hidden_size=64, num_layers=2, num_heads=2, intermediate_size=128), 40, 0, 1, seed=0)
    model.eval()
    rows = [([5, 6, 7], [8, 9]), ([10], [11, 12, 13]), ([14, 15], [16])]
    width, length = 3, 3
    ids = torch.full((3, width + length), 1)
    attention = torch.zeros(3, width + length, dtype=torch.long)
    for i, (prompt, completion) in enumerate(rows):
        ids[i, width - len(prompt):width] = torch.tensor(prompt)
        ids[i, width:width + len(completion)] = torch.tensor(completion)
        attention[i, width - len(prompt):width + len(completion)] = 1
    with torch.no_grad():
        batched = completion_log_probs(model, ids, attention, width, temperature=0.7)
        for i, (prompt, completion) in enumerate(rows):
            alone = torch.tensor([prompt + completion])
            logits = model(alone).logits[0, len(prompt) - 1:-1] / 0.7
            expected = torch.log_softmax(logits, -1).gather(-1, torch.tensor(completion)[:, None]).squeeze(-1)
            assert torch.allclose(batched[i, :len(completion)], expected, atol=1e-4)
