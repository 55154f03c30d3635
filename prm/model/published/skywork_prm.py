"""Skywork-o1-Open-PRM (Skywork/Skywork-o1-Open-PRM-Qwen-2.5-1.5B, Skywork/Skywork-o1-Open-PRM-Qwen-2.5-7B).

The checkpoint (``architectures: ["Qwen2ForPrmModel"]``, ``model_type: qwen2``) is a Qwen2 causal LM saved under
``model.*`` (its ``lm_head.*``, where saved, is not used) and a scalar value head ``v_head.summary`` =
``Linear(hidden, 1)`` saved as ``v_head.summary.weight/bias``: the layout of Skywork's ``PRM_MODEL`` wrapper and of
their vLLM plugin's ``Qwen2ForPrmModel``, which loads ``model.*`` and ``v_head.*`` and ignores ``lm_head.``
(github.com/SkyworkAI/skywork-o1-prm-inference, ``model_utils/prm_model.py``, ``vllm_add_dummy_model/prm_model.py``).
It is loaded natively: transformers' ``Qwen2Model`` plus a plain ``nn.Linear``; no remote code. The backbone, the
weight reading and the batching are :mod:`prm.model.published.backbone`'s (shared with Qwen2.5-Math-PRM).

The recipe, from that repository's ``model_utils/io_utils.py`` and the model card's example
(huggingface.co/Skywork/Skywork-o1-Open-PRM-Qwen-2.5-1.5B)::

    prompt_ids = tokenizer.encode(tokenizer.bos_token + problem + "\\n")
    step_token_id = tokenizer.encode("\\n")[-1]              # step_token="\\n" in the card
    for step in response.split("\\n"):
        ids += tokenizer.encode(step) + [step_token_id]      # reward_flags = 1 at that appended token
    rewards = sigmoid(v_head(last_hidden_state))             # PRM_MODEL(..., return_probs=True)
    step_rewards = rewards at the flagged positions          # derive_step_rewards

Differences, all at the edges: raw text is split on single newlines with blank lines dropped (``prepare_input``
would also score an empty step at each blank line); a given step that itself holds newlines is one step here,
scored at the step token appended after it. A tokenizer without a BOS token gets the token of ``config.json``'s
``bos_token_id`` (the recipe concatenates ``tokenizer.bos_token`` and would fail). Steps whose step token lies
past ``max_length`` score None.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from prm.model.published.backbone import INDEX_FILE, Encoded, HeadOnBackboneScorer, load_checkpoint
from prm.model.published.common import architectures, model_type, read_json

__all__ = ["FORMAT", "SUMMARY", "SkyworkPRMConfig", "SkyworkPRMScorer", "detect", "load"]

logger = logging.getLogger(__name__)

FORMAT = "skywork_prm"
ARCHITECTURE = "Qwen2ForPrmModel"
VALUE_HEAD = "v_head.summary.weight"
HEAD_KEYS = ("v_head.summary.weight", "v_head.summary.bias")
SUMMARY = ("Qwen2ForPrmModel / a v_head.summary value head on Qwen2: Skywork/Skywork-o1-Open-PRM-Qwen-2.5-1.5B "
           "and -7B (BOS + problem + newline, a newline after each step, sigmoid(v_head) there)")


def _weight_names(folder: Path) -> set[str]:
    """Tensor names from the weight index, else from ``model.safetensors``'s header (no tensor is read)."""
    index = read_json(folder, INDEX_FILE).get("weight_map")
    if isinstance(index, dict):
        return set(index)
    single = folder / "model.safetensors"
    if not single.is_file():
        return set()
    try:
        from safetensors import safe_open

        with safe_open(str(single), framework="pt") as handle:
            return set(handle.keys())
    except Exception:  # a corrupt or foreign file: not this format's evidence either way
        return set()


def detect(folder: Path) -> bool:
    """Skywork-o1-Open-PRM: ``config.json`` names ``Qwen2ForPrmModel``, or a ``qwen2`` config whose weight index
    (or single safetensors header) holds ``v_head.summary.weight`` and no ``score.*`` head."""
    folder = Path(folder)
    if ARCHITECTURE in architectures(folder):
        return True
    if model_type(folder) != "qwen2":
        return False
    names = _weight_names(folder)
    return VALUE_HEAD in names and not any(name.startswith("score.") for name in names)


@dataclass(frozen=True)
class SkyworkPRMConfig:
    """How solutions become the model's input (``prepare_input`` of skywork-o1-prm-inference)."""

    step_token: str = "\n"  # appended after every step; its position is read
    segmentation: str = "newline"  # raw text is split on single newlines, as the recipe splits the response
    step_separator: str = "\n"  # what stands between two steps in the model's input


class SkyworkPRMScorer(HeadOnBackboneScorer):
    """P(step correct) = sigmoid(v_head(hidden)) at the newline appended after each step."""

    format = FORMAT
    config: SkyworkPRMConfig
    head_dtype = torch.float32  # the published ValueHead stays float32 and upcasts the hidden states

    def __init__(self, model: Any, head: torch.nn.Module, tokenizer: Any, config: SkyworkPRMConfig,
                 device: torch.device, bos_token: str, batch_size: int = 16, max_length: int | None = None) -> None:
        super().__init__(model, head, tokenizer, config, device, batch_size, max_length)
        self.bos_token = bos_token
        self.step_id = tokenizer.encode(config.step_token)[-1]

    def encode(self, problem: str, steps: Sequence[str]) -> Encoded:
        """BOS + problem + newline, then each step's tokens and the step token; the step tokens' positions."""
        if not steps:
            return [], []
        ids = list(self.tokenizer.encode(self.bos_token + problem + "\n"))
        positions = []
        for step in steps:
            if step:
                ids.extend(self.tokenizer.encode(step))
            ids.append(self.step_id)
            positions.append(len(ids) - 1)
        return ids, positions

    def step_probabilities(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.head(hidden.float()).squeeze(-1).sigmoid()


def _bos_token(tokenizer: Any, folder: Path) -> str:
    if tokenizer.bos_token is not None:
        return str(tokenizer.bos_token)
    bos_id = read_json(folder, "config.json").get("bos_token_id")
    token = tokenizer.convert_ids_to_tokens(bos_id) if isinstance(bos_id, int) else None
    if token is None:
        raise ValueError(f"{folder}: the tokenizer has no BOS token and config.json no bos_token_id; the Skywork "
                         "recipe starts every input with it")
    logger.warning("%s: the tokenizer has no BOS token; using config.json's bos_token_id %d (%s)", folder, bos_id,
                   json.dumps(token))
    return str(token)


def _value_head(tensors: dict[str, torch.Tensor], folder: Path) -> torch.nn.Linear:
    weight = tensors["v_head.summary.weight"]
    if weight.dim() != 2 or weight.shape[0] != 1:
        raise ValueError(f"{folder}: v_head.summary.weight has shape {tuple(weight.shape)}; expected (1, hidden)")
    head = torch.nn.Linear(weight.shape[1], 1)
    head.load_state_dict({"weight": weight, "bias": tensors["v_head.summary.bias"]})
    return head


def load(name_or_folder: Path | str, *, device: str | torch.device = "auto", dtype: Any = None,
         batch_size: int = 16, max_length: int | None = None, **options: Any) -> SkyworkPRMScorer:
    """A scorer for a Skywork-o1-Open-PRM folder or hub id (no options)."""
    if options:
        raise ValueError(f"unknown option(s) for {FORMAT}: {', '.join(sorted(options))}; it takes none")
    loaded = load_checkpoint(name_or_folder, FORMAT, device, dtype, HEAD_KEYS, _value_head, ("v_head.",))
    return SkyworkPRMScorer(loaded.model, loaded.head, loaded.tokenizer, SkyworkPRMConfig(), loaded.device,
                            _bos_token(loaded.tokenizer, loaded.folder), batch_size, max_length)
