"""GRPO training with our rewards (:mod:`prm.rewards`): the compact trainer and the pieces it is made of.

Submodules: ``step_spans`` (step-end token indices for process rewards; no torch), ``advantages``
(outcome and process advantages, pure torch functions), ``loss`` (clipped policy gradient, loss
aggregations, k3 KL), ``config`` (:class:`GRPOConfig`),
``rollout`` (sampling and scoring one batch), ``generator`` (HF / vLLM backends kept in sync with the
policy), ``state`` (models, data order, checkpoints), ``metrics`` (metrics.jsonl, wandb) and ``trainer``
(the loop, :func:`train_grpo`). Names are imported lazily so ``prm.grpo.step_spans`` stays torch-free.
"""

from __future__ import annotations

from prm.lazy import lazy_exports

_EXPORTS = {
    "GRPOConfig": "config", "GRPOResult": "trainer", "train_grpo": "trainer",
    "outcome_advantages": "advantages", "process_advantages": "advantages", "policy_loss": "loss",
    "LOSS_AGGREGATIONS": "loss", "step_end_token_indices": "step_spans",
}  # fmt: skip

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
