"""Checkpoint formats a PRM folder can be in, detected from its small files before any weight loads.

``SCORER_FORMATS`` is the one registry: format name -> how to recognise a folder (``detect``: a cheap check of
its config files) and how to score with it (``load``: returns a :class:`prm.model.scorer.Scorer`)::

    load_scorer("runs/prm")                          # the first format whose detect() accepts the folder
    load_scorer("runs/prm", format="prm_math")       # or named (``--prm-format``): checked, then loaded
    detect_format("runs/prm")                        # 'prm_math'

Formats, in detection order: ``prm_math_likelihood`` (``prm train --head likelihood``: a causal LM and
``likelihood_head.json``), ``prm_math`` (``prm train --head two_class|scalar``: a token-classification model
and ``prm_config.json``). Adding a format is one entry here plus its loader function. The loaders import
torch on first use, so detection stays light.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prm.model.scorer import Scorer

__all__ = ["SCORER_FORMATS", "ScorerFormat", "detect_format", "load_scorer"]


@dataclass(frozen=True)
class ScorerFormat:
    """A registered checkpoint format: a folder test, a loader and a one-line description."""

    detect: Callable[[Path], bool]
    load: Callable[..., Scorer]
    summary: str


def _load_prm_math(path: Path, **options: Any) -> Scorer:
    from prm.model.scoring import PRMScorer

    return PRMScorer(path, **options)


def _load_likelihood(path: Path, **options: Any) -> Scorer:
    from prm.model.likelihood import LikelihoodScorer

    return LikelihoodScorer(path, **options)


SCORER_FORMATS: dict[str, ScorerFormat] = {
    "prm_math_likelihood": ScorerFormat(lambda path: (path / "likelihood_head.json").is_file(), _load_likelihood,
                                        "prm train --head likelihood: a frozen causal LM + likelihood_head.json"),
    "prm_math": ScorerFormat(lambda path: (path / "prm_config.json").is_file(), _load_prm_math,
                             "prm train --head two_class|scalar: a token-classification model + prm_config.json"),
}


def detect_format(path: str | Path) -> str:
    """The first registered format whose ``detect`` accepts the folder; ValueError listing them when none does."""
    folder = Path(path)
    if not folder.is_dir():
        raise ValueError(f"{folder}: not a folder (a PRM is a model folder; hub ids must be downloaded first)")
    for name, spec in SCORER_FORMATS.items():
        if spec.detect(folder):
            return name
    known = "; ".join(f"{name}: {spec.summary}" for name, spec in SCORER_FORMATS.items())
    raise ValueError(f"{folder}: not a PRM folder of any known format ({known})")


def load_scorer(path: str | Path, format: str = "auto", device: str = "auto", dtype: Any | None = None,
                batch_size: int = 16, max_length: int | None = None) -> Scorer:
    """The scorer for the PRM at ``path`` in ``format`` (``auto``: :func:`detect_format`)."""
    folder = Path(path)
    if format == "auto":
        format = detect_format(folder)
    elif format not in SCORER_FORMATS:
        raise ValueError(f"unknown PRM format {format!r}; known: auto, {', '.join(SCORER_FORMATS)}")
    elif not SCORER_FORMATS[format].detect(folder):
        raise ValueError(f"{folder} is not in format {format!r} ({SCORER_FORMATS[format].summary})")
    return SCORER_FORMATS[format].load(folder, device=device, dtype=dtype, batch_size=batch_size,
                                       max_length=max_length)
