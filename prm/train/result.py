"""What a ``prm train`` run produced (:class:`TrainResult`) and its ``train_metrics.json``, for every head."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from prm.train.config import TrainConfig

__all__ = ["METRICS_FILE", "TrainResult", "write_train_metrics"]

METRICS_FILE = "train_metrics.json"


@dataclass
class TrainResult:
    """What a run produced: the output folder, final eval metrics and throughput."""

    out: Path
    metrics: dict[str, float] = field(default_factory=dict)
    global_step: int = 0
    train_rows: int = 0
    eval_rows: int = 0
    train_seconds: float = 0.0
    tokens_per_second: float = 0.0
    peak_memory_mb: float = 0.0
    train_loss: float = float("nan")
    main_process: bool = True  # False on the other ranks of a distributed run (they do not write)
    runtime: dict[str, Any] = field(default_factory=dict)  # machine, device, precision, budget (prm.runtime)


def write_train_metrics(result: TrainResult, config: TrainConfig) -> Path:
    """``OUT/train_metrics.json``: the result and the options that produced it."""
    path = Path(result.out) / METRICS_FILE
    record = {**asdict(result), "out": str(result.out), "config": asdict(config)}
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return path
