"""``prm train``'s entry point: check the options, then fit the head the options ask for.

``--head two_class`` or ``scalar`` fine-tunes a token-classification PRM (:mod:`prm.train.trainer`, the
Hugging Face Trainer); ``--head likelihood`` fits the likelihood PRM's logistic head on a frozen LM
(:mod:`prm.train.likelihood`). Both write a folder :func:`prm.model.load_scorer` reads and the same
``train_metrics.json`` (:mod:`prm.train.result`).
"""

from __future__ import annotations

from prm.train.config import TrainConfig
from prm.train.likelihood import train_likelihood_prm
from prm.train.qlora import check_qlora
from prm.train.result import TrainResult
from prm.train.trainer import train_head_prm

__all__ = ["train_prm"]


def train_prm(config: TrainConfig) -> TrainResult:
    """Train, evaluate and save the PRM (or outcome RM) ``config`` describes."""
    validate(config)
    if config.head == "likelihood":
        return train_likelihood_prm(config)
    return train_head_prm(config)


def validate(config: TrainConfig) -> None:
    """ValueError naming the option for a missing or out-of-range one."""
    if not config.data or not config.out_dir:
        raise ValueError("--data and --out-dir are required")
    if not 0 <= config.eval_fraction < 1:
        raise ValueError(f"--eval-fraction should be in [0, 1), got {config.eval_fraction}")
    if config.max_length < 8:
        raise ValueError(f"--max-length {config.max_length} is too small")
    import torch

    check_qlora(config, torch.cuda.is_available())
