"""A decoder backbone with a small head read at each step's score token: the loading and batching that
:mod:`prm.model.published.qwen_math_prm` and :mod:`prm.model.published.skywork_prm` share.

Both checkpoints are a Qwen2 decoder saved under ``model.*`` plus a head's tensors in the same safetensors files
(single or sharded through ``model.safetensors.index.json``). :func:`load_checkpoint` reads one:
:func:`local_checkpoint` resolves a folder or hub id to local files, :func:`read_tensors` reads the head's
tensors by name (the format builds its head from them), :func:`load_qwen2_backbone` builds transformers'
``Qwen2Model`` from the ``model.*`` weights. :class:`HeadOnBackboneScorer` runs the backbone and the head at the
step positions a subclass's ``encode`` gives, longest solutions first, in batches.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import torch

from prm.lm import load_tokenizer, to_device
from prm.model.published.common import local_snapshot
from prm.model.scorer import ScorerBase, StepsOrText, check_item, length_batches, pad_right
from prm.runtime import checkpoint_dtype, device_map_for, inference_dtype, resolve_device

__all__ = ["INDEX_FILE", "WEIGHT_PATTERNS", "Checkpoint", "Encoded", "HeadOnBackboneScorer", "load_checkpoint",
           "load_qwen2_backbone", "local_checkpoint", "read_tensors"]

logger = logging.getLogger(__name__)

WEIGHT_PATTERNS = ["*.json", "*.safetensors", "*.txt", "*.jinja", "*.model"]
INDEX_FILE = "model.safetensors.index.json"

Encoded = tuple[list[int], list[int]]  # (input ids, the position of each step's score token)


def local_checkpoint(name_or_folder: str | Path) -> Path:
    """A local folder, or a hub id's snapshot (config, tokenizer and safetensors files)."""
    return local_snapshot(name_or_folder, WEIGHT_PATTERNS, "config, tokenizer and weight files")


def _shard_of(folder: Path) -> Callable[[str], Path]:
    """Which safetensors file holds a tensor: the index's ``weight_map``, else the single ``model.safetensors``."""
    index = folder / INDEX_FILE
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{index}: unreadable weight index ({type(error).__name__}: {error})") from None
        return lambda key: folder / weight_map[key] if key in weight_map else folder / "model.safetensors"
    return lambda key: folder / "model.safetensors"


def read_tensors(folder: Path, keys: Sequence[str]) -> dict[str, torch.Tensor]:
    """The named tensors of a safetensors checkpoint (single file or sharded); ValueError naming what is wrong."""
    from safetensors import safe_open

    shard_of = _shard_of(folder)
    by_file: dict[Path, list[str]] = {}
    for key in keys:
        by_file.setdefault(shard_of(key), []).append(key)
    tensors: dict[str, torch.Tensor] = {}
    for path, names in by_file.items():
        if not path.is_file():
            raise ValueError(f"{folder}: weights file {path.name} is missing (needed for {', '.join(names)})")
        try:
            with safe_open(str(path), framework="pt") as handle:
                present = set(handle.keys())
                missing = [name for name in names if name not in present]
                if missing:
                    raise ValueError(f"{path}: no tensor {', '.join(missing)}; not a checkpoint of this format?")
                tensors.update({name: handle.get_tensor(name) for name in names})
        except ValueError:
            raise
        except Exception as error:  # safetensors' own error type: a corrupt or truncated file
            raise ValueError(f"{path}: unreadable weights ({type(error).__name__}: {error})") from None
    return tensors


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    """transformers' load report lists the head's tensors as unexpected: expected here, checked by the caller."""
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def load_qwen2_backbone(folder: Path, dtype: torch.dtype, head_prefixes: Sequence[str],
                        device_map: str | None = None) -> Any:
    """transformers' ``Qwen2Model`` with the checkpoint's ``model.*`` weights (its prefix stripped by
    ``from_pretrained``; ``device_map`` as in :func:`prm.lm.load_model`); ValueError when weights are missing,
    corrupt or do not fit."""
    from transformers import Qwen2Model

    placement = {"device_map": device_map} if device_map else {}
    try:
        with _quiet_transformers():
            model, info = Qwen2Model.from_pretrained(str(folder), dtype=dtype, output_loading_info=True, **placement)
    except Exception as error:  # OSError (no weights file), SafetensorError (corrupt), RuntimeError (shapes)
        raise ValueError(f"{folder}: could not load the Qwen2 backbone weights ({type(error).__name__}: "
                         f"{str(error)[:300]})") from None
    problems = sorted(info.get("missing_keys") or []) + [str(m) for m in info.get("mismatched_keys") or []]
    if problems:
        raise ValueError(f"{folder}: backbone weights missing or of the wrong shape: {', '.join(problems[:8])}")
    extra = [k for k in info.get("unexpected_keys") or [] if not k.startswith(("lm_head.", *head_prefixes))]
    if extra:
        logger.warning("%s: %d unexpected tensors ignored (e.g. %s)", folder, len(extra), sorted(extra)[0])
    return model.eval()


class Checkpoint(NamedTuple):
    """A loaded head-on-backbone checkpoint: where its files are, the device, and its three parts."""

    folder: Path
    device: torch.device
    model: Any  # transformers' Qwen2Model, in eval mode
    head: torch.nn.Module
    tokenizer: Any


def load_checkpoint(name_or_folder: str | Path, format: str, device: str | torch.device, dtype: Any,
                    head_keys: Sequence[str], build_head: Callable[[dict[str, torch.Tensor], Path], torch.nn.Module],
                    head_prefixes: Sequence[str]) -> Checkpoint:
    """A folder or hub id of a head-on-backbone ``format``: the head (``build_head`` of its ``head_keys``
    tensors, checked before the backbone loads), the backbone in :func:`prm.runtime.inference_dtype` (tensors
    under ``head_prefixes`` are the head's, not unexpected) and the tokenizer."""
    folder = local_checkpoint(name_or_folder)
    device_map, run_on = device_map_for(device), resolve_device(device)
    dtype = inference_dtype(dtype, run_on, checkpoint_dtype(str(folder)))
    head = build_head(read_tensors(folder, head_keys), folder)
    model = load_qwen2_backbone(folder, dtype, head_prefixes, device_map)
    logger.info("loaded %s as %s on %s (%s)", name_or_folder, format, device_map or run_on, dtype)
    return Checkpoint(folder, run_on, model, head, load_tokenizer(folder))


# --- a backbone with a head read at step positions ------------------------------------------------------------

class HeadOnBackboneScorer(ScorerBase):
    """Batched scoring for a decoder backbone plus a head applied to the hidden states at each step's score
    token. Subclasses give ``encode`` (token ids and step positions) and ``step_probabilities`` (head output)."""

    head_dtype: torch.dtype | None = None  # None: the backbone's dtype

    def __init__(self, model: Any, head: torch.nn.Module, tokenizer: Any, config: Any, device: torch.device,
                 batch_size: int, max_length: int | None) -> None:
        self.model = to_device(model, device).eval()  # its hidden states come back on ``device``
        self.head = head.to(device=device, dtype=self.head_dtype or model.dtype).eval()
        self.tokenizer = tokenizer
        self.config = config
        self.device = device
        self.batch_size = batch_size
        self.max_length = max_length or getattr(model.config, "max_position_embeddings", None) or 4096
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.pad_id = pad if pad is not None else 0

    def encode(self, problem: str, steps: Sequence[str]) -> Encoded:
        raise NotImplementedError

    def step_probabilities(self, hidden: torch.Tensor) -> torch.Tensor:
        """P(step correct) [n] from the hidden states [n, hidden] at the step positions."""
        raise NotImplementedError

    @torch.no_grad()
    def _forward(self, encoded: Sequence[Encoded]) -> list[list[float]]:
        ids, mask = pad_right([seq for seq, _ in encoded], self.pad_id)
        hidden = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                            use_cache=False).last_hidden_state
        rows = torch.cat([torch.full((len(pos),), row, dtype=torch.long) for row, (_, pos) in enumerate(encoded)])
        cols = torch.cat([torch.tensor(pos, dtype=torch.long) for _, pos in encoded])
        probs = self.step_probabilities(hidden[rows.to(self.device), cols.to(self.device)]).float().cpu().tolist()
        out, start = [], 0
        for _, pos in encoded:
            out.append(probs[start: start + len(pos)])
            start += len(pos)
        return out

    def score_encoded(self, encoded: Sequence[Encoded], batch_size: int | None = None) -> list[list[float | None]]:
        """Scores of encoded solutions, longest first in batches; None for a step past ``max_length``."""
        size = batch_size or self.batch_size
        fitted = [(ids[: self.max_length], [p for p in pos if p < self.max_length]) for ids, pos in encoded]
        results: list[list[float | None]] = [[None] * len(pos) for _, pos in encoded]
        for chunk in length_batches([len(ids) for ids, _ in fitted], size, [bool(pos) for _, pos in fitted]):
            for index, scores in zip(chunk, self._forward([fitted[i] for i in chunk]), strict=True):
                results[index][: len(scores)] = scores
        cut = sum(len(f[1]) < len(e[1]) for f, e in zip(fitted, encoded, strict=True))
        if cut:
            logger.warning("%d of %d solutions exceed %d tokens: their last steps score None", cut, len(encoded),
                           self.max_length)
        return results

    def score_batch(self, items: Sequence[tuple[str, StepsOrText]], batch_size: int | None = None
                    ) -> list[list[float | None]]:
        """Step scores of (problem, steps or raw text) pairs, one forward pass per solution."""
        checked = [check_item(index, item) for index, item in enumerate(items)]
        return self.score_encoded([self.encode(problem, self.steps_of(steps)) for problem, steps in checked],
                                  batch_size)
