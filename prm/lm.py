"""Loading and saving the project's language models: the policy, the verifier LM and every reward model.

One place decides how a folder or hub id becomes a model and tokenizer, so the policy (``prm policy train``,
``prm grpo``, the HF sampler), the likelihood PRM's verifier LM and the fine-tuned PRMs load alike::

    model, tokenizer = load_lm("runs/policy-default")                         # AutoModelForCausalLM
    model, tokenizer = load_lm(folder, task="token_classification", dtype=torch.float32)

A ``.gguf`` file is converted once into a cached folder first (:mod:`prm.gguf`). The tokenizer always has a pad
token (the end-of-sequence token when it had none), and a causal LM's ``generation_config`` knows it.
``save_tokenizer_portable`` writes a tokenizer folder that transformers 4 (which some vLLM builds pin) also reads.
transformers is imported on first use, not at import.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import torch

__all__ = ["Task", "count_parameters", "load_lm", "load_model", "load_tokenizer", "save_tokenizer_portable",
           "to_device"]

logger = logging.getLogger(__name__)

Task = Literal["causal", "token_classification"]


def load_tokenizer(name_or_path: str | Path) -> Any:
    """The tokenizer of a folder or hub id, with a pad token (its end-of-sequence token if it had none)."""
    from transformers import AutoTokenizer

    from prm.gguf import local_checkpoint

    tokenizer = AutoTokenizer.from_pretrained(local_checkpoint(name_or_path))
    if tokenizer.pad_token_id is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_lm(name_or_path: str | Path, dtype: torch.dtype | None = None, task: Task = "causal",
            config: Any | None = None, tokenizer: Any | None = None, quantization: Any | None = None,
            strict: bool = True, device_map: str | None = None) -> tuple[Any, Any]:
    """A model (:func:`load_model`) and its tokenizer from a folder or hub id; ``tokenizer`` skips loading one.
    A causal LM's ``generation_config`` gets the tokenizer's pad token."""
    tokenizer = tokenizer if tokenizer is not None else load_tokenizer(name_or_path)
    model = load_model(name_or_path, dtype, task, config, quantization, strict, device_map=device_map)
    generation = getattr(model, "generation_config", None)
    if generation is not None and generation.pad_token_id is None:
        generation.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def load_model(name_or_path: str | Path, dtype: torch.dtype | None = None, task: Task = "causal",
               config: Any | None = None, quantization: Any | None = None, strict: bool = True,
               what: str = "model", device_map: str | None = None) -> Any:
    """The model of a folder or hub id, without its tokenizer.

    ``task`` picks the head: ``causal`` (the LM head: policies, verifier LMs) or ``token_classification`` (a
    head on every position: PRMs). ``config`` overrides the folder's model config (e.g. ``num_labels``);
    ``dtype`` None keeps transformers' default; ``quantization`` is a
    transformers quantisation config (QLoRA's 4-bit, :mod:`prm.train.qlora`), placed on the GPU by transformers.
    ``device_map`` (``"auto"``: :func:`prm.runtime.device_map_for`) lets transformers place the layers across
    GPUs as it loads; :func:`to_device` then leaves them where they are.

    Files that cannot be read raise ValueError naming the checkpoint, ``what`` it is and the cause; so does one that
    lacks weights the model needs (``strict``, never a silently random layer), unless the caller adds a new
    head on purpose (``strict=False``: a PRM head on a causal-LM backbone).
    """
    from transformers import AutoModelForCausalLM, AutoModelForTokenClassification

    from prm.gguf import local_checkpoint

    kwargs: dict[str, Any] = {}
    if dtype is not None:
        kwargs["dtype"] = dtype
    if config is not None:
        kwargs["config"] = config
    if device_map is not None:
        kwargs["device_map"] = device_map
    if quantization is not None:
        kwargs.update(quantization_config=quantization, device_map={"": 0})
    auto = AutoModelForCausalLM if task == "causal" else AutoModelForTokenClassification
    try:
        model, info = auto.from_pretrained(local_checkpoint(name_or_path), output_loading_info=True, **kwargs)
    except Exception as error:  # missing, truncated or corrupt files, an unknown layout: say which and why
        raise ValueError(f"{name_or_path}: could not load the {what} ({type(error).__name__}: "
                         f"{str(error).strip()[:300]})") from error
    missing = sorted(info.get("missing_keys") or [])
    if strict and missing:
        raise ValueError(f"{name_or_path}: the {what} checkpoint lacks {len(missing)} weight(s) (e.g. "
                         f"{', '.join(missing[:3])}): incomplete, or not a {task} model")
    logger.info("loaded %s (%s): %d parameters", name_or_path, task, count_parameters(model))
    return model


def to_device(model: Any, device: Any) -> Any:
    """``model`` on ``device``, unless transformers already placed it with a ``device_map`` (its layers may span
    GPUs, and its outputs come back on the device of its inputs: the first GPU)."""
    if getattr(model, "hf_device_map", None):
        return model
    return model.to(device)


def count_parameters(model: Any) -> int:
    """Distinct trainable and frozen parameters (tied embeddings counted once)."""
    return sum(p.numel() for p in model.parameters())


def save_tokenizer_portable(tokenizer: Any, folder: str | Path) -> None:
    """``save_pretrained``, naming the class ``PreTrainedTokenizerFast`` where transformers 5 wrote
    ``TokenizersBackend`` (unknown to transformers 4, which some vLLM builds pin)."""
    tokenizer.save_pretrained(str(folder))
    path = Path(folder) / "tokenizer_config.json"
    if path.exists():
        config = json.loads(path.read_text(encoding="utf-8"))
        if config.get("tokenizer_class") == "TokenizersBackend":
            config["tokenizer_class"] = "PreTrainedTokenizerFast"
            path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
