"""The GRPO loss: clipped policy gradient per token, optional k3 KL to a reference, loss aggregations.

Per token (``ratio = exp(logp - old_logp)``)::

    pg  = -min(ratio * A, clip(ratio, 1 - eps_low, 1 + eps_high) * A)
    kl  = exp(ref - logp) - (ref - logp) - 1          # k3 estimator of KL(policy || reference), >= 0
    loss_t = pg + beta * kl

Aggregations (``LOSS_AGGREGATIONS``) turn ``loss_t`` into one number; each is a sum over the micro-batch
divided by a normaliser of the *whole* batch, so micro-batch losses add up to the full-batch loss and
gradient accumulation changes nothing:

- ``grpo`` (the GRPO paper): mean over each sequence's tokens, then mean over sequences;
- ``token_mean``: mean over every completion token of the batch (DAPO);
- ``dr_grpo`` (Dr. GRPO): sum over tokens divided by ``sequences * max_len``, a constant (the longest
  completion allowed), so neither length nor batch composition rescales a token's gradient.

Shapes: [B, T] for per-token tensors (B sequences of a micro-batch, T completion positions).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

__all__ = ["LOSS_AGGREGATIONS", "BatchNorm", "LossOutput", "k3_kl", "policy_loss", "aggregate_loss",
           "completion_log_probs"]


@dataclass(frozen=True)
class BatchNorm:
    """Normalisers of the whole batch (all micro-batches of one optimizer step)."""

    sequences: int
    tokens: int
    max_len: int


def _grpo(per_token: torch.Tensor, mask: torch.Tensor, norm: BatchNorm) -> torch.Tensor:
    per_sequence = (per_token * mask).sum(1) / mask.sum(1).clamp(min=1)
    return per_sequence.sum() / max(1, norm.sequences)


def _token_mean(per_token: torch.Tensor, mask: torch.Tensor, norm: BatchNorm) -> torch.Tensor:
    return (per_token * mask).sum() / max(1, norm.tokens)


def _dr_grpo(per_token: torch.Tensor, mask: torch.Tensor, norm: BatchNorm) -> torch.Tensor:
    return (per_token * mask).sum() / max(1, norm.sequences * norm.max_len)


LOSS_AGGREGATIONS: dict[str, Callable[[torch.Tensor, torch.Tensor, BatchNorm], torch.Tensor]] = {
    "grpo": _grpo, "token_mean": _token_mean, "dr_grpo": _dr_grpo,
}


def aggregate_loss(per_token: torch.Tensor, mask: torch.Tensor, how: str, norm: BatchNorm | None = None
                   ) -> torch.Tensor:
    """One loss from per-token losses [B, T] and the completion mask [B, T]; ``norm`` defaults to this batch's."""
    if how not in LOSS_AGGREGATIONS:
        raise ValueError(f"unknown loss aggregation {how!r}; known: {', '.join(LOSS_AGGREGATIONS)}")
    mask = mask.to(per_token.dtype)
    if norm is None:
        norm = BatchNorm(per_token.shape[0], int(mask.sum()), per_token.shape[1])
    return LOSS_AGGREGATIONS[how](per_token, mask, norm)


def k3_kl(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimate of KL(policy || reference): ``exp(ref - logp) - (ref - logp) - 1`` (>= 0)."""
    delta = ref_logp - logp
    return torch.exp(delta) - delta - 1.0


@dataclass
class LossOutput:
    """The loss to backpropagate and detached statistics (token means over the mask)."""

    loss: torch.Tensor
    clip_fraction: float
    kl: float
    ratio_mean: float


def policy_loss(logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor, *,
                how: str = "grpo", clip_eps: float = 0.2, clip_eps_high: float | None = None,
                ref_logp: torch.Tensor | None = None, beta: float = 0.0, norm: BatchNorm | None = None
                ) -> LossOutput:
    """Clipped policy-gradient loss (plus ``beta`` * k3 KL when ``ref_logp`` is given), aggregated by ``how``.

    logp (with grad), old_logp, advantages, mask, ref_logp: [B, T].
    """
    high = clip_eps if clip_eps_high is None else clip_eps_high
    ratio = torch.exp(logp - old_logp)
    unclipped = ratio * advantages
    clipped = torch.clamp(ratio, 1.0 - clip_eps, 1.0 + high) * advantages
    per_token = -torch.minimum(unclipped, clipped)
    fmask = mask.to(logp.dtype)
    tokens = fmask.sum().clamp(min=1)
    kl_mean = 0.0
    if ref_logp is not None:
        kl = k3_kl(logp, ref_logp)
        kl_mean = float((kl.detach() * fmask).sum() / tokens)
        if beta:
            per_token = per_token + beta * kl
    with torch.no_grad():
        was_clipped = ((ratio < 1.0 - clip_eps) & (advantages < 0)) | ((ratio > 1.0 + high) & (advantages > 0))
        clip_fraction = float((was_clipped.to(fmask.dtype) * fmask).sum() / tokens)
        ratio_mean = float((ratio * fmask).sum() / tokens)
    return LossOutput(aggregate_loss(per_token, fmask, how, norm), clip_fraction, kl_mean, ratio_mean)


def completion_log_probs(model: torch.nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                         prompt_width: int, temperature: float = 1.0) -> torch.Tensor:
    """Log-probabilities of the completion tokens under ``model``.

    input_ids, attention_mask: [B, P + T], prompts left-padded to width P = ``prompt_width``, completions
    right-padded after them; returns [B, T] (values at padding are meaningless: mask them). Positions
    follow the attention mask (as in ``generate`` with left padding); logits are divided by the sampling
    ``temperature`` so ratios compare the distributions that were sampled from.
    """
    positions = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
    logits = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=positions).logits
    logits = logits[:, prompt_width - 1:-1].float()
    if temperature != 1.0:
        logits = logits / temperature
    targets = input_ids[:, prompt_width:]
    return torch.log_softmax(logits, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
