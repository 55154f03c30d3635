"""GRPO advantages against hand-worked examples: outcome (std scaling, NaN = no reward) and process (DeepSeekMath)."""

from __future__ import annotations

import math
from statistics import stdev

import pytest
import torch

from prm.grpo.advantages import (
    EPS,
    outcome_advantages,
    process_advantages,
    token_advantages,
    zero_variance_groups,
)

NAN = float("nan")
S3 = stdev([1.0, 0.0, 0.0])  # sqrt(1/3): sample std of the valid rewards of case "nan excluded"
S4 = stdev([0.9, 0.2, 0.1, 0.8])  # sqrt(0.5/3)

OUTCOME_CASES = [
    # name, rewards, group size, scale by std, expected advantages
    ("one right of four", [1, 0, 0, 0], 4, True, [1.5, -0.5, -0.5, -0.5]),  # mean .25, sample std .5
    ("no std scaling (Dr. GRPO)", [1, 0, 0, 0], 4, False, [0.75, -0.25, -0.25, -0.25]),
    ("nan excluded from stats, advantage 0", [1, NAN, 0, 0], 4, True, [(2 / 3) / S3, 0, -(1 / 3) / S3, -(1 / 3) / S3]),
    ("zero-variance group is all zero", [1, 1, 0, 1], 2, True, [0, 0, -0.5 / math.sqrt(0.5), 0.5 / math.sqrt(0.5)]),
    ("all nan", [NAN, NAN, 1, 0], 2, True, [0, 0, 0.5 / math.sqrt(0.5), -0.5 / math.sqrt(0.5)]),
    ("one valid reward: no signal", [NAN, 1.0], 2, True, [0, 0]),
    ("fractional rewards", [0.9, 0.2, 0.1, 0.8], 4, True, [0.4 / S4, -0.3 / S4, -0.4 / S4, 0.3 / S4]),
]


@pytest.mark.parametrize(("name", "rewards", "group", "scale", "expected"), OUTCOME_CASES,
                         ids=[c[0] for c in OUTCOME_CASES])
def test_outcome_advantages(name: str, rewards: list[float], group: int, scale: bool, expected: list[float]) -> None:
    got = outcome_advantages(torch.tensor(rewards), group, scale_std=scale)
    assert torch.allclose(got, torch.tensor(expected, dtype=torch.float32), atol=1e-3), (name, got)
    assert not torch.isnan(got).any()


PROCESS_CASES = [
    # name, step rewards [N, S], step ends [N, S], group, T, scale, expected [N, T]
    (
        # R = {1, .5, 0}: mean .5, sample std .5 -> r~ = [1, 0], [-1]; reverse cumsum over step ends.
        "two completions, reverse cumsum, token after the last step end gets 0",
        [[1.0, 0.5], [0.0, NAN]], [[1, 3], [2, -1]], 2, 4, True,
        [[1, 1, 0, 0], [-1, -1, -1, 0]],
    ),
    (
        "without std scaling",
        [[1.0, 0.5], [0.0, NAN]], [[1, 3], [2, -1]], 2, 4, False,
        [[0.5, 0.5, 0, 0], [-0.5, -0.5, -0.5, 0]],
    ),
    (
        # R = {.9, .2, .1, .8}: mean .5; r~ = [.4, -.3, -.4] / S4 and [.3] / S4.
        "three steps vs one step",
        [[0.9, 0.2, 0.1], [0.8, NAN, NAN]], [[0, 2, 4], [4, -1, -1]], 2, 5, True,
        [[(0.4 - 0.3 - 0.4) / S4] + [(-0.3 - 0.4) / S4] * 2 + [-0.4 / S4] * 2, [0.3 / S4] * 5],
    ),
    (
        # The NaN step is left out of the stats (R = {1, 0}) and adds nothing.
        "nan step reward excluded",
        [[1.0, NAN], [0.0, NAN]], [[0, 1], [1, -1]], 2, 2, True,
        [[1 / math.sqrt(0.5) * 0.5, 0], [-0.5 / math.sqrt(0.5)] * 2],
    ),
    (
        "two groups normalised separately; equal rewards give 0",
        [[0.3], [0.3], [1.0], [0.0]], [[1], [0], [0], [1]], 2, 2, True,
        [[0, 0], [0, 0], [0.5 / math.sqrt(0.5), 0], [-0.5 / math.sqrt(0.5)] * 2],
    ),
]


@pytest.mark.parametrize(("name", "rewards", "ends", "group", "length", "scale", "expected"), PROCESS_CASES,
                         ids=[c[0] for c in PROCESS_CASES])
def test_process_advantages(name: str, rewards: list, ends: list, group: int, length: int, scale: bool,
                            expected: list) -> None:
    got = process_advantages(torch.tensor(rewards), torch.tensor(ends), group, length, scale_std=scale)
    assert got.shape == (len(rewards), length)
    assert torch.allclose(got, torch.tensor(expected, dtype=torch.float32), atol=1e-3), (name, got)


@pytest.mark.parametrize("scale", [True, False])
def test_one_step_per_completion_reduces_to_outcome_grpo(scale: bool) -> None:
    generator = torch.Generator().manual_seed(0)
    n, group, width = 12, 4, 9
    rewards = torch.rand(n, generator=generator)
    rewards[5] = NAN
    lengths = torch.randint(1, width + 1, (n,), generator=generator)
    mask = (torch.arange(width)[None, :] < lengths[:, None]).float()
    process = process_advantages(rewards[:, None], (lengths - 1)[:, None], group, width, scale_std=scale)
    outcome = token_advantages(outcome_advantages(rewards, group, scale_std=scale), mask)
    assert torch.allclose(process, outcome, atol=1e-6)
    assert process[5].abs().sum() == 0


def test_eps_keeps_tiny_spread_finite_and_zero_variance_count() -> None:
    got = outcome_advantages(torch.tensor([1.0, 1.0 + 1e-9, 0.0, 1.0]), 2)
    assert torch.isfinite(got).all() and got[:2].abs().max() < 1e-3
    tokens = token_advantages(got, torch.ones(4, 3))
    assert zero_variance_groups(tokens, 2) == 1 and zero_variance_groups(torch.zeros(6), 3) == 2
    assert EPS > 0


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="groups of 3"):
        outcome_advantages(torch.zeros(4), 3)
    with pytest.raises(ValueError, match="beyond"):
        process_advantages(torch.zeros(2, 1), torch.tensor([[3], [0]]), 2, 3)
    with pytest.raises(ValueError, match="differ"):
        process_advantages(torch.zeros(2, 2), torch.zeros(2, 1, dtype=torch.long), 2, 3)


def test_min_form_credit_by_hand() -> None:
    from prm.grpo.advantages import min_form_advantages

    rewards = torch.tensor([[0.9, 0.2, 0.8], [0.9, 0.9, float("nan")]])
    ends = torch.tensor([[1, 3, 5], [2, 4, -1]])
    # returns: row 0 min from each step on [0.2, 0.2, 0.8], row 1 [0.9, 0.9]; group mean 0.6
    got = min_form_advantages(rewards, ends, 2, 7, scale_std=False)
    expected = torch.tensor([[-0.4, -0.4, -0.4, -0.4, 0.2, 0.2, 0.0], [0.3, 0.3, 0.3, 0.3, 0.3, 0.0, 0.0]])
    assert torch.allclose(got, expected, atol=1e-6)
    scaled = min_form_advantages(rewards, ends, 2, 7)
    assert torch.allclose(scaled, expected / (torch.tensor([0.2, 0.2, 0.8, 0.9, 0.9]).std() + 1e-4), atol=1e-5)


def test_min_form_gives_no_credit_for_extra_good_steps() -> None:
    from prm.grpo.advantages import min_form_advantages, process_advantages

    # completion 1 is completion 0 plus two more good-looking steps: the sum form pays the padding
    rewards = torch.tensor([[0.6, 0.5, float("nan"), float("nan")], [0.6, 0.5, 0.9, 0.9]])
    ends = torch.tensor([[1, 3, -1, -1], [1, 3, 5, 7]])
    summed = process_advantages(rewards, ends, 2, 8, scale_std=False)
    assert summed[1, 0] > summed[0, 0]  # more steps, more credit on the first token
    least = min_form_advantages(rewards, ends, 2, 8, scale_std=False)
    assert torch.allclose(least[1, :4], least[0, :4])  # the same worst step to come: the same credit
