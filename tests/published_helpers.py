"""What the tests of the published formats (tests/test_published_*.py) share; imported by module name, like
tests/tiny_policy.py.

- :func:`sibling_detectors` / :func:`claimed_by_others`: the other registered formats' ``detect``, from the real
  registry (:data:`prm.model.formats.SCORER_FORMATS`: the project's own formats and every published one);
- :func:`copy_configs`: a checkpoint's files without its weights (detection reads only those);
- :func:`own_format_folders`: the project's own checkpoints (a plain causal LM, a ``prm train`` PRM, a
  likelihood-head folder), which no published format may claim;
- :func:`assert_close`, :func:`assert_batches_match_one_at_a_time`, :func:`load_through_registry`: checks that
  several formats' scorers pass alike.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import torch

from prm.model.formats import SCORER_FORMATS, detect_format, load_scorer

WEIGHT_SUFFIXES = (".safetensors", ".bin")


def sibling_detectors(own: str) -> dict[str, Callable[[Path], bool]]:
    """``detect`` of every registered format but ``own`` (a key of ``SCORER_FORMATS``)."""
    return {name: entry.detect for name, entry in SCORER_FORMATS.items() if name != own}


def claimed_by_others(folder: Path, own: str) -> list[str]:
    """The registered formats other than ``own`` whose ``detect`` accepts ``folder`` ([] for ``own``'s layout)."""
    return [name for name, detect in sibling_detectors(own).items() if detect(folder)]


def copy_configs(source: Path, target: Path) -> Path:
    """``target`` (created): a copy of ``source``'s files but its weights (config, tokenizer, weight index)."""
    target.mkdir(parents=True)
    for path in source.iterdir():
        if path.is_file() and path.suffix not in WEIGHT_SUFFIXES:
            shutil.copy(path, target / path.name)
    return target


def own_format_folders(root: Path, texts: Sequence[str], prefix: str = "", vocab_size: int = 320
                       ) -> dict[str, Path]:
    """The project's own checkpoints under ``root`` (names start with ``prefix``, e.g. a published name):
    ``backbone`` (a tiny causal LM), ``prm`` (``prm train --head two_class`` on it) and ``likelihood`` (the
    backbone with a ``likelihood_head.json``)."""
    from prm.model.likelihood import LikelihoodHead
    from prm.model.tiny import save_tiny_backbone, save_tiny_prm

    backbone = save_tiny_backbone(root / f"{prefix}backbone", texts, vocab_size=vocab_size)
    prm = save_tiny_prm(root / f"{prefix}prm", backbone)
    likelihood = Path(shutil.copytree(backbone, root / f"{prefix}likelihood"))
    LikelihoodHead(weights=[0.0] * 5, bias=0.0, mean=[0.0] * 5, scale=[1.0] * 5).save(likelihood)
    return {"backbone": backbone, "prm": prm, "likelihood": likelihood}


def assert_close(got: list[list[float | None]], expected: list[list[float | None]], tol: float = 1e-5) -> None:
    """The same number of solutions and steps, each score within ``tol``."""
    assert [len(s) for s in got] == [len(s) for s in expected]
    for mine, other in zip(got, expected, strict=True):
        assert mine == pytest.approx(other, abs=tol)


def assert_batches_match_one_at_a_time(scorer: Any, problem: str, steps: list[str],
                                       other: tuple[str, list[str]]) -> None:
    """A padded batch (batch_size 3; an empty solution scores []) equals one solution at a time, and the steps
    written as one text with blank lines between score as the steps."""
    single = [scorer.score(problem, steps), scorer.score(*other), scorer.score(problem, steps[:1])]
    batch = scorer.score_batch([(problem, steps), other, (problem, steps[:1]), (problem, [])], batch_size=3)
    assert batch[3] == []
    assert_close(batch[:3], single)
    assert scorer.score(problem, "\n\n".join(steps)) == pytest.approx(single[0], abs=1e-6)


def load_through_registry(folder: Path, format: str, **options: Any) -> Any:
    """The scorer ``prm.model.formats`` gives for ``folder``: detected as ``format``, loaded in float32 on the CPU
    with batch_size 2 and ``options``."""
    assert detect_format(folder) == format
    scorer = load_scorer(folder, device="cpu", dtype="float32", batch_size=2, **options)
    assert scorer.format == format and scorer.model.dtype == torch.float32 and scorer.batch_size == 2
    return scorer
