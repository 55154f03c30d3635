"""The process reward model: step tags and label placement, the model, and scoring.

Submodules: ``tags`` (tokenisation with one tag per step and labels on the tags only; no torch),
``modeling`` (backbone loading, 2-class or scalar head, loss, save format), ``likelihood`` (the
likelihood PRM: a frozen LM's step log-likelihoods under a fitted logistic head), ``scoring``
(:class:`PRMScorer`, ``load_scorer`` for either kind of folder, the ``AGGREGATIONS`` registry).
Names are imported lazily so that ``prm.model.tags`` stays importable without torch.
"""

from __future__ import annotations

from prm.lazy import lazy_exports

_EXPORTS = {
    "IGNORE_INDEX": "tags", "TaggedSequence": "tags", "place_labels": "tags", "encode_solution": "tags",
    "outcome_labels": "tags", "is_complete": "tags",
    "PRMConfig": "modeling", "load_backbone": "modeling", "save_prm": "modeling", "prm_loss": "modeling",
    "step_probabilities": "modeling", "DEFAULT_STEP_TAG": "tags",
    "AGGREGATIONS": "scoring", "PRMScorer": "scoring", "aggregate": "scoring", "load_scorer": "scoring",
    "LikelihoodScorer": "likelihood",
}  # fmt: skip

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
