"""QLoRA for ``prm train --lora --load-in-4bit``: the backbone loads in 4-bit NF4 (bitsandbytes, a CUDA GPU) and
LoRA adapters train on top of it, so a 7B backbone fits on one 24 GB GPU.

The recipe of the QLoRA paper (Dettmers et al., 2023): NF4 weights with double quantisation, bf16 compute,
``peft.prepare_model_for_kbit_training`` (layer norms and the head in float32, input gradients on). The saved
PRM is a plain model: the adapters are merged and the weights dequantised before saving, so scoring needs no
bitsandbytes.
"""

from __future__ import annotations

from typing import Any

from prm.train.config import TrainConfig

__all__ = ["check_qlora", "four_bit_config", "prepare_for_training", "dequantized"]


def check_qlora(config: TrainConfig, cuda_available: bool) -> None:
    """ValueError naming what ``--load-in-4bit`` needs that ``config`` or the machine lacks."""
    if not config.load_in_4bit:
        return
    if not config.lora:
        raise ValueError("--load-in-4bit trains LoRA adapters on a frozen 4-bit backbone: add --lora")
    if config.head == "likelihood":
        raise ValueError("--load-in-4bit does not apply to --head likelihood (nothing is trained by gradient)")
    if not cuda_available or config.device == "cpu":
        raise ValueError("--load-in-4bit needs a CUDA GPU (bitsandbytes' 4-bit kernels); drop it on this machine")


def four_bit_config() -> Any:
    """transformers' ``BitsAndBytesConfig`` for NF4 with double quantisation and bf16 compute."""
    import torch
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=torch.bfloat16)


def prepare_for_training(model: Any, gradient_checkpointing: bool) -> Any:
    """``peft.prepare_model_for_kbit_training``: float32 norms, input gradients for the adapters."""
    from peft import prepare_model_for_kbit_training

    return prepare_model_for_kbit_training(model, use_gradient_checkpointing=gradient_checkpointing)


def dequantized(model: Any) -> Any:
    """A merged 4-bit model with plain (bf16) weights, loadable without bitsandbytes."""
    return model.dequantize() if getattr(model, "is_quantized", False) else model
