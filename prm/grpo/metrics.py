"""Per-step GRPO metrics: one JSON line per step in ``out/metrics.jsonl``, a log line, and wandb when asked.

On resume the file is cut back to the checkpoint's step, so after a kill the lines never repeat a step
and a plot of ``metrics.jsonl`` shows one uninterrupted curve. NaN values are written as ``null``.
"""

from __future__ import annotations

import json
import logging
import math
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

from prm.grpo.config import GRPOConfig
from prm.parallel import write_atomically

__all__ = ["METRICS_FILE", "MetricsWriter", "clean"]

logger = logging.getLogger(__name__)

METRICS_FILE = "metrics.jsonl"
_WANDB_ID = "wandb_run_id.txt"


def clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class MetricsWriter:
    """Appends one line per step; lines after ``start_step`` (from a killed run) are dropped first."""

    def __init__(self, out_dir: Path, config: GRPOConfig, start_step: int) -> None:
        self.path = out_dir / METRICS_FILE
        if self.path.exists():
            kept = []
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    if json.loads(line)["step"] <= start_step:
                        kept.append(line)
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue  # a torn last line
            write_atomically(self.path, [(k + "\n").encode("utf-8") for k in kept])  # a kill here loses nothing
        self.wandb = self._init_wandb(out_dir, config) if config.report_to == "wandb" else None
        if config.report_to not in ("none", "", "wandb"):
            raise ValueError(f"--report-to {config.report_to!r}: choose none or wandb")

    @staticmethod
    def _init_wandb(out_dir: Path, config: GRPOConfig) -> Any:
        import wandb

        id_file = out_dir / _WANDB_ID
        run_id = id_file.read_text().strip() if id_file.exists() else uuid.uuid4().hex[:12]
        id_file.write_text(run_id + "\n")
        return wandb.init(project="prm-grpo", name=config.run_name, id=run_id, resume="allow", config=asdict(config),
                          dir=str(out_dir))

    def lines(self) -> list[dict[str, Any]]:
        """The steps already written (after a resume: those up to the checkpoint)."""
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line.strip()]

    def write(self, step: int, metrics: dict[str, Any]) -> None:
        record = {"step": step, **{key: clean(value) for key, value in metrics.items()}}
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
        if self.wandb is not None:
            self.wandb.log({k: v for k, v in record.items() if v is not None and k != "step"}, step=step)
        logger.info("step %d: %s", step, _summary(metrics))

    def log_eval(self, tag: str, result: dict[str, Any]) -> None:
        if self.wandb is not None:
            self.wandb.summary[f"eval_{tag}/pass@1"] = result.get("pass@1")

    def close(self) -> None:
        if self.wandb is not None:
            self.wandb.finish()
            self.wandb = None


def _summary(metrics: dict[str, Any]) -> str:
    keys = ("loss", "accuracy", "reward/combined/mean", "completion_len/mean", "kl", "clip_fraction",
            "zero_variance_groups", "time/generation_s", "time/reward_s", "time/update_s")
    parts = []
    for key in keys:
        value = metrics.get(key)
        if isinstance(value, (int, float)) and not (isinstance(value, float) and math.isnan(value)):
            parts.append(f"{key} {value:.4g}")
    return ", ".join(parts)
