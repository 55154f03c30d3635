"""Resumable training checkpoints: written whole into a temporary folder, then swapped in by rename.

``out_dir/checkpoint/`` holds the model and tokenizer (``save_pretrained``, so a checkpoint also loads
as a policy) and ``trainer_state.pt``: the optimizer state, the :class:`TrainState` counters (step,
data position, tokens, elapsed time), the torch RNG state and a fingerprint of the options that shape
the data, so a resume with different data is refused instead of silently misaligned.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from prm.policy.tokenizer import save_tokenizer

__all__ = ["CHECKPOINT_DIR", "STATE_FILE", "TrainState", "find_checkpoint", "save_checkpoint", "load_checkpoint"]

logger = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoint"
STATE_FILE = "trainer_state.pt"


@dataclass
class TrainState:
    """Counters of a training run; ``epoch`` and ``batch_in_epoch`` locate the next batch."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    tokens_seen: int = 0  # every non-pad token fed to the model
    target_tokens: int = 0  # the solution tokens the loss covered
    elapsed_s: float = 0.0  # training time, summed over resumes
    last_loss: float | None = None


def find_checkpoint(out_dir: Path) -> Path | None:
    """The complete checkpoint in ``out_dir``, or the previous one when a kill hit between two renames."""
    for name in (CHECKPOINT_DIR, CHECKPOINT_DIR + ".old"):
        path = out_dir / name
        if (path / STATE_FILE).exists():
            return path
    return None


def save_checkpoint(out_dir: Path, model: Any, tokenizer: Any, optimizer: torch.optim.Optimizer, state: TrainState,
                    fingerprint: dict[str, Any]) -> Path:
    """Write the checkpoint into ``checkpoint.tmp``, then rename it over ``checkpoint``."""
    final, tmp, old = out_dir / CHECKPOINT_DIR, out_dir / (CHECKPOINT_DIR + ".tmp"), out_dir / (CHECKPOINT_DIR + ".old")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp))
    save_tokenizer(tokenizer, tmp)
    torch.save({"optimizer": optimizer.state_dict(), "state": asdict(state), "fingerprint": fingerprint,
                "torch_rng": torch.get_rng_state()}, tmp / STATE_FILE)
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    logger.info("checkpoint at step %d written to %s", state.step, final)
    return final


def load_checkpoint(path: Path, optimizer: torch.optim.Optimizer, fingerprint: dict[str, Any]) -> TrainState:
    """Restore the optimizer and RNG from ``path``; returns the saved counters.

    Raises ValueError when the options that shape the data differ from the checkpoint's.
    """
    saved = torch.load(path / STATE_FILE, map_location="cpu", weights_only=False)
    changed = {key: (saved["fingerprint"].get(key), value) for key, value in fingerprint.items()
               if saved["fingerprint"].get(key) != value}
    if changed:
        details = ", ".join(f"{key}: {old!r} -> {new!r}" for key, (old, new) in changed.items())
        raise ValueError(f"cannot resume {path}: options that shape the data or model changed ({details})")
    optimizer.load_state_dict(saved["optimizer"])
    torch.set_rng_state(saved["torch_rng"])
    return TrainState(**saved["state"])
