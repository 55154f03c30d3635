"""GRPO advantages: pure, vectorised torch functions (no model, no state).

Shapes: ``N = prompts * G`` completions in contiguous groups of ``G`` (rows ``g*G .. g*G+G-1`` share a
prompt), ``T`` completion tokens (right-padded), ``S`` steps per completion (padded).

- Outcome GRPO: completion ``i`` gets ``A_i = (r_i - mean(r_group)) / (std(r_group) + eps)`` on every one
  of its tokens; without std scaling (Dr. GRPO) ``A_i = r_i - mean(r_group)``.
- Process supervision (DeepSeekMath section 4.1.3): step ``j`` of completion ``i`` has reward
  ``r_i^(j)`` at its end token ``index(j)``; all step rewards of the group are normalised together,
  ``r~ = (r - mean(R)) / std(R)``, and token ``t`` gets ``A_{i,t} = sum_{j: index(j) >= t} r~_i^(j)``
  (a reverse cumulative sum over step ends). With one step per completion, ending at its last token,
  this is outcome GRPO.
- Min-form process credit (PURE, Cheng et al. 2025, arXiv:2504.15275, which found the summed form lets a
  policy farm step rewards): a step's return is the minimum reward from it to the end,
  ``m_i^(j) = min_{k >= j} r_i^(k)``; the group's returns are normalised together as above and token ``t``
  gets the normalised return of the step it belongs to (the first step ending at or after it). A completion
  is then only as good as its worst step to come, and adding steps never adds credit.

A NaN reward means "no reward" (the reward source could not judge): it is left out of its group's
mean and standard deviation and its completion (or step) contributes advantage 0. The standard
deviation is the sample one (Bessel's correction, as ``torch.std`` and TRL); a group with fewer than
two rewards has std 0. A group whose rewards are all equal has advantage 0 everywhere ("zero variance").

Combining sources (see ``prm.rewards``): the weighted outcome rewards are summed into one
outcome reward per completion before normalising; the process source's token advantages, times its
weight, are added to the outcome token advantages: ``A = A_outcome + w_process * A_process``.
"""

from __future__ import annotations

import torch

__all__ = ["CREDIT", "EPS", "group_stats", "min_form_advantages", "outcome_advantages", "process_advantages",
           "token_advantages", "zero_variance_groups"]

EPS = 1e-4


def group_stats(values: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and sample std of each row's valid entries.

    values, valid: [P, K] (float, bool); returns mean [P, 1], std [P, 1] (0 where < 2 valid entries).
    """
    count = valid.sum(dim=1, keepdim=True)
    filled = torch.where(valid, values, torch.zeros_like(values))
    mean = filled.sum(dim=1, keepdim=True) / count.clamp(min=1)
    squares = torch.where(valid, (values - mean) ** 2, torch.zeros_like(values)).sum(dim=1, keepdim=True)
    std = torch.sqrt(squares / (count - 1).clamp(min=1))
    return mean, torch.where(count > 1, std, torch.zeros_like(std))


def _check_groups(n: int, group_size: int) -> int:
    if group_size < 1 or n % group_size:
        raise ValueError(f"{n} completions do not split into groups of {group_size}")
    return n // group_size


def _check_steps(step_rewards: torch.Tensor, step_ends: torch.Tensor, group_size: int, num_tokens: int) -> int:
    """The number of groups; ValueError for mismatched shapes or a step end past the completion tokens."""
    groups = _check_groups(step_rewards.shape[0], group_size)
    if step_ends.shape != step_rewards.shape:
        raise ValueError(f"step_ends {tuple(step_ends.shape)} and step_rewards {tuple(step_rewards.shape)} differ")
    if bool((step_ends >= num_tokens).any()):
        raise ValueError(f"a step end index is beyond the {num_tokens} completion tokens")
    return groups


def outcome_advantages(rewards: torch.Tensor, group_size: int, scale_std: bool = True,
                       eps: float = EPS) -> torch.Tensor:
    """One advantage per completion from its group's outcome rewards.

    rewards: [N] float, NaN = no reward; returns [N] (0 where the reward is NaN).
    """
    groups = _check_groups(rewards.shape[0], group_size)
    values = rewards.reshape(groups, group_size).to(torch.float32)
    valid = ~torch.isnan(values)
    mean, std = group_stats(values, valid)
    centred = values - mean
    advantages = centred / (std + eps) if scale_std else centred
    return torch.where(valid, advantages, torch.zeros_like(advantages)).reshape(-1)


def token_advantages(advantages: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-completion advantages broadcast to their tokens.

    advantages: [N]; mask: [N, T] (1 on completion tokens); returns [N, T] (0 on padding).
    """
    return advantages[:, None].to(torch.float32) * mask.to(torch.float32)


def process_advantages(step_rewards: torch.Tensor, step_ends: torch.Tensor, group_size: int, num_tokens: int,
                       scale_std: bool = True, eps: float = EPS) -> torch.Tensor:
    """Token advantages from step rewards (DeepSeekMath process supervision).

    step_rewards: [N, S] float, NaN-padded (NaN also = "no reward" for that step);
    step_ends: [N, S] long, the 0-based completion token index ending each step, -1-padded;
    returns [N, T] with T = ``num_tokens``: ``A[i, t] = sum of r~[i, j] over steps j with step_ends[i, j] >= t``.
    Tokens after a completion's last step end get 0.
    """
    n, steps = step_rewards.shape
    groups = _check_steps(step_rewards, step_ends, group_size, num_tokens)
    rewards = step_rewards.to(torch.float32)
    valid = ~torch.isnan(rewards) & (step_ends >= 0)
    flat_values, flat_valid = rewards.reshape(groups, group_size * steps), valid.reshape(groups, group_size * steps)
    mean, std = group_stats(flat_values, flat_valid)
    centred = flat_values - mean
    normalised = (centred / (std + eps) if scale_std else centred).reshape(n, steps)
    normalised = torch.where(valid, normalised, torch.zeros_like(normalised))
    # Scatter each step's normalised reward onto its end token (invalid steps go to a spare last column),
    # then sum from the right: token t collects every step ending at or after t.
    at_end = torch.zeros(n, num_tokens + 1, dtype=torch.float32, device=rewards.device)
    columns = torch.where(valid, step_ends, torch.full_like(step_ends, num_tokens))
    at_end.scatter_add_(1, columns, normalised)
    return at_end[:, :num_tokens].flip(1).cumsum(1).flip(1)


def _suffix_min(rewards: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """[N, S]: the minimum of each row's valid rewards from step j on (+inf where none is left)."""
    filled = torch.where(valid, rewards, torch.full_like(rewards, float("inf")))
    return torch.flip(torch.cummin(torch.flip(filled, [1]), dim=1).values, [1])


def min_form_advantages(step_rewards: torch.Tensor, step_ends: torch.Tensor, group_size: int, num_tokens: int,
                        scale_std: bool = True, eps: float = EPS) -> torch.Tensor:
    """Token advantages from min-form step returns (PURE); same inputs and output as
    :func:`process_advantages`. A step without a reward takes the return of the steps after it."""
    n, steps = step_rewards.shape
    groups = _check_steps(step_rewards, step_ends, group_size, num_tokens)
    rewards = step_rewards.to(torch.float32)
    real = step_ends >= 0
    valid = ~torch.isnan(rewards) & real
    returns = _suffix_min(rewards, valid)
    judged = real & torch.isfinite(returns)
    mean, std = group_stats(returns.reshape(groups, group_size * steps), valid.reshape(groups, group_size * steps))
    centred = returns - mean.repeat_interleave(group_size, 0)
    normalised = centred / (std.repeat_interleave(group_size, 0) + eps) if scale_std else centred
    normalised = torch.where(judged, normalised, torch.zeros_like(normalised))
    # token t belongs to the first step whose end is >= t (padding steps end "after" every token)
    ends = torch.where(real, step_ends, torch.full_like(step_ends, num_tokens)).contiguous()
    tokens = torch.arange(num_tokens, device=ends.device).expand(n, num_tokens).contiguous()
    owner = torch.searchsorted(ends, tokens)
    padded = torch.cat([normalised, torch.zeros(n, 1, device=normalised.device)], dim=1)
    return padded.gather(1, owner.clamp(max=steps))


CREDIT = {"sum": process_advantages, "min": min_form_advantages}  # --process-credit


def zero_variance_groups(advantages: torch.Tensor, group_size: int, atol: float = 1e-8) -> int:
    """How many groups carry no learning signal: every token advantage is (about) 0.

    advantages: [N, T] or [N]; returns a count of groups.
    """
    groups = _check_groups(advantages.shape[0], group_size)
    per_group = advantages.reshape(groups, -1).abs().amax(dim=1)
    return int((per_group <= atol).sum())
