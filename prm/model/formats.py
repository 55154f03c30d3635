"""Checkpoint formats a PRM can be in, detected from its small config files before any weight loads.

``SCORER_FORMATS`` is the one registry: format name -> how to recognise a checkpoint (``detect``: a cheap test
of its config files) and how to score with it (``load``: returns a :class:`prm.model.scorer.Scorer`)::

    load_scorer("runs/prm")                           # the first format whose detect() accepts the folder
    load_scorer("runs/prm", format="prm_math")        # or named (``--prm-format``): checked, then loaded
    detect_format("runs/prm")                         # 'prm_math'

A hub id is resolved to a local snapshot of its config files first (:func:`config_folder`, from
:mod:`prm.model.published.common`), so detection never downloads weights. Formats, in detection order:

- ``prm_math_likelihood``: ``prm train --head likelihood`` (a frozen causal LM + ``likelihood_head.json``);
- ``prm_math``: ``prm train --head two_class|scalar`` (a token-classification model + ``prm_config.json``);
- the published formats of :mod:`prm.model.published` (``PUBLISHED``), each module imported only when tried;
- ``step_checker``: built in, no checkpoint (``--prm step_checker``, :mod:`prm.model.step_checker`);
- ``ensemble``: built in, several PRMs combined per step (``--prm ensemble``, :mod:`prm.model.ensemble`).

Adding a format is one entry here plus its loader function (or one module under ``prm/model/published/``
and its name in ``PUBLISHED``). The project's own formats check ``format_version``: a folder written by a
newer version is refused, not misread.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prm.gguf import local_checkpoint
from prm.model.published.common import config_folder
from prm.model.scorer import Scorer

__all__ = ["FORMAT_VERSION", "PUBLISHED", "SCORER_FORMATS", "ScorerFormat", "config_folder", "detect_format",
           "BUILTIN_SCORERS", "VLLM_SCORING", "load_scorer", "parse_options"]

FORMAT_VERSION = 1  # the newest prm_config.json / likelihood_head.json this version reads


@dataclass(frozen=True)
class ScorerFormat:
    """A registered checkpoint format: a config-file test, a loader and a one-line description."""

    detect: Callable[[Path], bool]
    load: Callable[..., Scorer]
    summary: str | Callable[[], str]  # a callable for formats whose module loads on first use
    backends: tuple[str, ...] = ("hf",)  # scoring backends its loader takes (``backend=``; hf: transformers)

    def describe(self) -> str:
        return self.summary() if callable(self.summary) else self.summary


def _own_format(file: str) -> Callable[[Path], bool]:
    def detect(folder: Path) -> bool:
        path = folder / file
        if not path.is_file():
            return False
        version = json.loads(path.read_text(encoding="utf-8")).get("format_version", 1)
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise ValueError(f"{path}: format_version {version!r} is newer than this version reads "
                             f"({FORMAT_VERSION}); upgrade prm-math")
        return True

    return detect


def _load_prm_math(path: Path, **options: Any) -> Scorer:
    from prm.model.scoring import PRMScorer

    return PRMScorer(path, **options)


def _load_likelihood(path: Path, **options: Any) -> Scorer:
    from prm.model.likelihood import LikelihoodScorer

    return LikelihoodScorer(path, **options)


def _load_step_checker(path: Any, **options: Any) -> Scorer:
    from prm.model.step_checker import load

    return load(path, **options)


def _load_ensemble(path: Any, **options: Any) -> Scorer:
    from prm.model.ensemble import load

    return load(load_scorer, **options)


def _published(module: str, backends: tuple[str, ...]) -> ScorerFormat:
    """A format of :mod:`prm.model.published`: its module is imported the first time it is tried."""
    def load_module() -> Any:
        return importlib.import_module(f"prm.model.published.{module}")

    return ScorerFormat(lambda path: load_module().detect(path), lambda path, **o: load_module().load(path, **o),
                        lambda: load_module().SUMMARY, backends)


# format name -> module under prm/model/published/ (detected after the project's own formats, in this order)
PUBLISHED: dict[str, str] = {
    "qwen2_5_math_prm": "qwen_math_prm",  # Qwen2.5-Math-PRM-7B/72B: config architectures
    "skywork_prm": "skywork_prm",  # Skywork-o1-Open-PRM: config architectures or value-head weight names
    "math_shepherd": "math_shepherd",  # a causal LM: published names (math-shepherd) and the ки step tag
    "rlhflow_prm": "rlhflow",  # a Llama-3.1 chat model: published names (RLHFlow ... PRM)
    "implicit_prm": "implicit",  # EurusPRM / implicit PRMs: published names or implicit_prm.json
}
# the formats vLLM can score (prm.model.published.vllm_pooling); the others score with transformers only
VLLM_SCORING = ("qwen2_5_math_prm", "math_shepherd", "rlhflow_prm")

SCORER_FORMATS: dict[str, ScorerFormat] = {
    "prm_math_likelihood": ScorerFormat(_own_format("likelihood_head.json"), _load_likelihood,
                                        "prm train --head likelihood: a frozen causal LM + likelihood_head.json"),
    "prm_math": ScorerFormat(_own_format("prm_config.json"), _load_prm_math,
                             "prm train --head two_class|scalar: a token-classification model + prm_config.json"),
    **{name: _published(module, ("hf", "vllm") if name in VLLM_SCORING else ("hf",))
       for name, module in PUBLISHED.items()},
    "step_checker": ScorerFormat(lambda folder: False, _load_step_checker,
                                 "built in, no checkpoint (--prm step_checker): 0 for a step with a false "
                                 "arithmetic claim (verifiers.check_steps), else 1"),
    "ensemble": ScorerFormat(lambda folder: False, _load_ensemble,
                             "built in (--prm ensemble --prm-options members=A+B,aggregate=mean|min|"
                             "mean_minus_std,k=1): several PRMs' step scores combined", ("hf", "vllm")),
}
# scorers without a checkpoint, named by ``--prm`` itself (``--prm step_checker``); never detected
BUILTIN_SCORERS = ("step_checker", "ensemble")


def detect_format(spec: str | Path) -> str:
    """The first registered format whose ``detect`` accepts the checkpoint; ValueError listing those tried."""
    folder = config_folder(local_checkpoint(spec))
    for name, entry in SCORER_FORMATS.items():
        if entry.detect(folder):
            return name
    tried = "; ".join(f"{name}: {entry.describe()}" for name, entry in SCORER_FORMATS.items())
    raise ValueError(f"{spec}: not a PRM checkpoint of any known format (tried {tried}); name one with "
                     "--prm-format if it is one of them")


def parse_options(text: str | None) -> dict[str, str]:
    """``"reference=Qwen/Qwen2.5-Math-7B,beta=0.001"`` -> {"reference": ..., "beta": "0.001"} (loaders convert)."""
    options: dict[str, str] = {}
    for part in (p.strip() for p in (text or "").split(",")):
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"PRM option {part!r} in {text!r}: expected KEY=VALUE")
        options[key.strip()] = value.strip()
    return options


def load_scorer(path: str | Path, format: str = "auto", device: str = "auto", dtype: Any | None = None,
                batch_size: int = 16, max_length: int | None = None, backend: str = "hf", **options: Any) -> Scorer:
    """The scorer for the PRM at ``path`` (a folder or hub id) in ``format`` (``auto``: :func:`detect_format`).

    ``backend`` is ``hf`` (transformers: every format) or ``vllm`` (the formats of :data:`VLLM_SCORING`; the
    others refuse it before loading). ``options`` go to the format's loader (e.g. a reference model or tokens).
    """
    path = local_checkpoint(path)  # a .gguf file: its converted folder (prm.gguf)
    if format == "auto" and str(path) in BUILTIN_SCORERS and not Path(path).exists():
        format = str(path)
    elif format == "auto":
        format = detect_format(path)
    elif format not in SCORER_FORMATS:
        raise ValueError(f"unknown PRM format {format!r}; known: auto, {', '.join(SCORER_FORMATS)}")
    if backend not in SCORER_FORMATS[format].backends:
        raise ValueError(f"{path}: {format} PRMs score with --backend {' or '.join(SCORER_FORMATS[format].backends)}"
                         f", not {backend!r} (vLLM scores: {', '.join(VLLM_SCORING)})")
    if backend != "hf":
        options["backend"] = backend
    local = Path(path)
    return SCORER_FORMATS[format].load(local if local.is_dir() else path, device=device, dtype=dtype,
                                       batch_size=batch_size, max_length=max_length, **options)
