"""Published PRMs that are plain causal LMs: the loading, the load options and the token-position readout that
:mod:`prm.model.published.math_shepherd`, :mod:`prm.model.published.rlhflow` and (the loading)
:mod:`prm.model.published.implicit` share.

:func:`load_causal_lm` reads a causal LM with :func:`prm.lm.load_model` (which refuses missing weights: never a
silently random-initialised layer) and its tokenizer, in the inference dtype, on the device.
:class:`PositionScorer` scores a solution by the softmax over a few candidate tokens' logits at one position
per step (:func:`score_positions`): a subclass gives ``candidates`` and ``encode``. :func:`config_from_options`
and :func:`check_segmentation` turn ``--prm-options`` into a format's config dataclass. Torch is imported only
inside the functions that run a model.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

from prm.model.scorer import ScorerBase, StepsOrText, check_item, length_batches, pad_right

__all__ = ["ESCAPES", "PositionScorer", "check_segmentation", "config_from_options", "load_causal_lm",
           "load_for_backend", "load_prm_tokenizer", "score_positions"]

logger = logging.getLogger(__name__)

ESCAPES = {"\\n": "\n", "\\t": "\t"}  # written as two characters in a command-line option
Config = TypeVar("Config")
Encoded = tuple[list[int], list[int | None]]  # (token ids, each step's position; None where it was cut off)


# --- load options ----------------------------------------------------------------------------------------------

def check_segmentation(mode: str) -> None:
    """ValueError unless ``mode`` is a :mod:`data.segment` mode (how raw text splits into steps)."""
    from data.segment import SEGMENTERS

    if mode not in SEGMENTERS:
        raise ValueError(f"segmentation {mode!r}: choose from {', '.join(SEGMENTERS)}")


def config_from_options(cls: type[Config], options: Mapping[str, Any], what: str,
                        escapes: Mapping[str, str] = ESCAPES) -> Config:
    """The dataclass ``cls`` from load options of its fields' names (their values as strings, ``escapes`` read);
    ValueError naming ``what`` and the known options for an unknown one."""
    known = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(f"unknown option(s) {', '.join(unknown)} for {what}; known: {', '.join(known)}")

    def unescape(value: str) -> str:
        for escaped, character in escapes.items():
            value = value.replace(escaped, character)
        return value

    return cls(**{key: unescape(str(value)) for key, value in options.items()})


# --- loading ---------------------------------------------------------------------------------------------------

def load_causal_lm(name_or_folder: Path | str, device: Any = "auto", dtype: Any = None, what: str = "PRM"
                   ) -> tuple[Any, Any, Any]:
    """(model, tokenizer, device): the causal LM in :func:`prm.runtime.inference_dtype`, in eval mode on
    ``device`` (``auto`` with several GPUs: spread over them, :func:`prm.runtime.device_map_for`). ValueError
    naming ``what`` when the tokenizer or the weights cannot be read."""
    from prm.lm import load_model, to_device
    from prm.runtime import checkpoint_dtype, device_map_for, inference_dtype, resolve_device

    device_map, device = device_map_for(device), resolve_device(device)
    run_dtype = inference_dtype(dtype, device, checkpoint_dtype(str(name_or_folder)))
    tokenizer = load_prm_tokenizer(name_or_folder, what)
    model = load_model(name_or_folder, run_dtype, what=what, device_map=device_map).eval()
    logger.info("loaded %s %s (%s) on %s", what, name_or_folder, run_dtype, device_map or device)
    return to_device(model, device), tokenizer, device


def load_prm_tokenizer(name_or_folder: Path | str, what: str = "PRM") -> Any:
    """The checkpoint's tokenizer (pad token set); ValueError naming ``what`` when it cannot be read."""
    from prm.lm import load_tokenizer

    try:
        return load_tokenizer(name_or_folder)
    except Exception as error:
        raise ValueError(f"{name_or_folder}: could not load the {what}'s tokenizer ({type(error).__name__}: "
                         f"{str(error).strip()[:300]})") from error


def load_for_backend(name_or_folder: Path | str, backend: str, device: Any, dtype: Any, what: str
                     ) -> tuple[Any, Any, Any]:
    """(model, tokenizer, device) for ``backend`` ``hf`` (:func:`load_causal_lm`), or (None, tokenizer, None)
    for ``vllm``, whose engine the scorer starts (:meth:`PositionScorer.use_vllm`) once it knows its tokens."""
    if backend == "hf":
        return load_causal_lm(name_or_folder, device, dtype, what)
    if backend == "vllm":
        return None, load_prm_tokenizer(name_or_folder, what), None
    raise ValueError(f"unknown scoring backend {backend!r} for the {what}; choose hf or vllm")


# --- scoring ---------------------------------------------------------------------------------------------------

def score_positions(model: Any, device: Any, pad_id: int, encoded: Sequence[Encoded], candidates: Sequence[int],
                    batch_size: int) -> list[list[float | None]]:
    """For each (token ids, positions): softmax over ``candidates``' logits at each position, P(candidates[0]).

    One forward per solution: longest first, ``batch_size`` at a time, right-padded. Only the decoder runs on
    every token; the LM head runs on the positions read. A None position stays None.
    """
    import torch

    results: list[list[float | None]] = [[None] * len(positions) for _, positions in encoded]
    head, wanted = model.get_output_embeddings(), list(candidates)  # a list indexes on whichever GPU holds it
    for chunk in length_batches([len(ids) for ids, _ in encoded], batch_size,
                                [any(p is not None for p in positions) for _, positions in encoded]):
        ids, mask = pad_right([encoded[i][0] for i in chunk], pad_id)
        where = [(row, index, k, p) for row, index in enumerate(chunk)
                 for k, p in enumerate(encoded[index][1]) if p is not None]
        with torch.no_grad():
            hidden = model.get_decoder()(input_ids=ids.to(device), attention_mask=mask.to(device)).last_hidden_state
            picked = hidden[[w[0] for w in where], [w[3] for w in where]]
            probs = head(picked)[:, wanted].float().softmax(-1)[:, 0].tolist()
        for (_, index, k, _), prob in zip(where, probs, strict=True):
            results[index][k] = prob
    return results


class PositionScorer(ScorerBase):
    """A causal-LM PRM read at one token position per step: P(``candidates[0]``) of the softmax over the
    candidates' logits there. Subclasses set ``candidates`` and give ``encode`` (token ids cut at
    ``max_length`` and each step's position, None past the cut).

    ``model`` None and :meth:`use_vllm` afterwards: the same positions read by a vLLM engine
    (:class:`prm.model.published.vllm_pooling.CandidateEngine`) instead of transformers."""

    default_max_length = 4096  # where neither the caller nor the model config gives one
    candidates: list[int]

    def __init__(self, model: Any, tokenizer: Any, device: Any, config: Any, batch_size: int = 16,
                 max_length: int | None = None) -> None:
        self.model, self.tokenizer, self.device = model, tokenizer, device
        self.config = config
        self.batch_size = batch_size
        self.engine: Any = None
        positions = getattr(getattr(model, "config", None), "max_position_embeddings", None)
        self.max_length = int(max_length or positions or self.default_max_length)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    def use_vllm(self, name_or_folder: str | Path, dtype: Any = None, max_length: int | None = None,
                 gpu_memory_utilization: float = 0.9) -> None:
        """Score through a vLLM pooling engine for ``name_or_folder`` (its context length caps ``max_length``)."""
        from prm.model.published.vllm_pooling import CandidateEngine

        self.engine = CandidateEngine(name_or_folder, self.tokenizer, self.candidates, dtype=str(dtype or "auto"),
                                      max_length=max_length, gpu_memory_utilization=gpu_memory_utilization)
        self.model = self.engine.model_config  # what prm score's metrics read the dtype from
        self.max_length = self.engine.max_length
        from prm.runtime import resolve_device

        self.device = resolve_device("auto")

    def close(self) -> None:
        """Stop the vLLM engine, if any (an HF model needs nothing)."""
        if self.engine is not None:
            self.engine.close()
            self.engine = None

    def encode(self, problem: str, steps: Sequence[str]) -> Encoded:
        raise NotImplementedError

    def score_batch(self, items: Sequence[tuple[str, StepsOrText]], batch_size: int | None = None
                    ) -> list[list[float | None]]:
        """P(correct) of every step of many (problem, steps or text) pairs; None for steps past max_length."""
        pairs = [check_item(index, item) for index, item in enumerate(items)]
        encoded = [self.encode(problem, self.steps_of(solution)) for problem, solution in pairs]
        if self.engine is not None:
            return self.engine.read(encoded)
        return score_positions(self.model, self.device, self.pad_id, encoded, self.candidates,
                               batch_size or self.batch_size)
