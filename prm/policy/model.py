"""The policy model: a small Llama-style causal LM built from scratch, or any Hugging Face causal LM.

:func:`new_model` sizes a :class:`transformers.LlamaForCausalLM` for a tokenizer (head size at least
32, the smallest vLLM's CPU attention supports; tied input and output embeddings). Saved policies load
with :func:`prm.lm.load_lm`, like every other model of the project.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from prm.lm import count_parameters

__all__ = ["ModelSize", "MIN_HEAD_DIM", "new_model"]

logger = logging.getLogger(__name__)

MIN_HEAD_DIM = 32  # vLLM's CPU attention supports head sizes 32, 64, 80, ...; 16 fails at the first generate


@dataclass(frozen=True)
class ModelSize:
    """The shape of a from-scratch policy."""

    hidden_size: int = 128
    num_layers: int = 6
    num_heads: int = 4
    intermediate_size: int = 512
    max_positions: int = 512

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    def validate(self) -> None:
        if self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size {self.hidden_size} is not a multiple of num_heads {self.num_heads}")
        if self.head_dim < MIN_HEAD_DIM:
            raise ValueError(f"head_dim {self.head_dim} = hidden_size / num_heads is below {MIN_HEAD_DIM}, "
                             "which vLLM's CPU attention cannot run; use fewer heads")


def new_model(size: ModelSize, vocab_size: int, eos_token_id: int, pad_token_id: int,
              seed: int = 0) -> LlamaForCausalLM:
    """A freshly initialised Llama-style causal LM of ``size`` (float32, deterministic for ``seed``)."""
    size.validate()
    config = LlamaConfig(
        vocab_size=vocab_size, hidden_size=size.hidden_size, intermediate_size=size.intermediate_size,
        num_hidden_layers=size.num_layers, num_attention_heads=size.num_heads, num_key_value_heads=size.num_heads,
        head_dim=size.head_dim, max_position_embeddings=size.max_positions, tie_word_embeddings=True,
        bos_token_id=eos_token_id, eos_token_id=eos_token_id, pad_token_id=pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = pad_token_id
    model.generation_config.eos_token_id = eos_token_id
    logger.info("new Llama policy: %d parameters, hidden %d, %d layers, %d heads of %d",
                count_parameters(model), size.hidden_size, size.num_layers, size.num_heads, size.head_dim)
    return model
