"""The process reward model: step tags and label placement, the models, and scoring.

Submodules: ``tags`` (tokenisation with one tag per step and labels on the tags only; no torch),
``modeling`` (backbone loading, 2-class or scalar head, loss, save format), ``scorer`` (the
:class:`Scorer` protocol every PRM implements), ``scoring`` (:class:`PRMScorer` for ``prm train`` heads),
``likelihood`` (the likelihood PRM: a frozen LM's step log-likelihoods under a fitted logistic head),
``formats`` (the registry of checkpoint formats and ``load_scorer``). Names are imported lazily so that
``prm.model.tags`` and ``prm.model.formats`` stay importable without torch.
"""

from __future__ import annotations

from prm.lazy import lazy_exports

_EXPORTS = {
    "IGNORE_INDEX": "tags", "TaggedSequence": "tags", "place_labels": "tags", "encode_solution": "tags",
    "outcome_labels": "tags", "is_complete": "tags", "DEFAULT_STEP_TAG": "tags",
    "PRMConfig": "modeling", "load_backbone": "modeling", "save_prm": "modeling", "prm_loss": "modeling",
    "step_probabilities": "modeling",
    "Scorer": "scorer", "PRMScorer": "scoring", "LikelihoodScorer": "likelihood",
    "SCORER_FORMATS": "formats", "detect_format": "formats", "load_scorer": "formats",
}  # fmt: skip

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
