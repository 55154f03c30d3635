"""What ``prm eval processbench`` and ``prm eval prmbench`` share: their options about the PRM, and scoring a
benchmark's items through a resumable store (:mod:`eval.benchmarks.score_store`) that loads the PRM only when
some item is not scored yet, so a rerun with another threshold or report runs without a model."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from prm.cli_contract import shared

__all__ = ["BenchmarkConfig", "report", "score_benchmark"]

logger = logging.getLogger(__name__)


@dataclass
class BenchmarkConfig:
    prm: str | None = shared("prm", detail="or step_checker (the arithmetic step checks, no model)", required=True)
    prm_format: str = shared("prm_format", "auto")
    prm_options: str | None = shared("prm_options")
    threshold: float = field(default=0.5, metadata={"help": "a step is wrong when its score is below this (the "
                                                            "published protocols' 0.5)"})
    limit: int | None = shared("limit", detail="items per split or category (a quick look; not the benchmark)")
    batch_size: int = shared("batch_size", 16, "solutions, sorted by length")
    device: Literal["auto", "cpu", "cuda"] = shared("device", "auto")
    dtype: str = shared("dtype", "auto")
    backend: Literal["hf", "vllm"] = field(default="hf", metadata={"help": "hf or vllm (prm score --backend)"})
    resume: bool = shared("resume", True, "the step scores already in OUT_DIR/step_scores.jsonl")


def report(result: dict[str, Any], config: Any, write: Callable[..., Any], markdown: Callable[..., str]) -> int:
    """Record the data and limit in ``result``, write the report files and print the Markdown; exit code 0."""
    result["data"], result["limit"] = config.data, config.limit
    write(result, config.prm or "", config.out_dir)
    sys.stdout.write(markdown(result, config.prm or ""))
    return 0


def score_benchmark(config: BenchmarkConfig, items: Sequence[Any], out_dir: str | Path, benchmark: str
                    ) -> dict[str, list[float | None]]:
    """Step scores of ``items`` by ``config.prm``: from ``OUT_DIR/step_scores.jsonl`` where already there, the
    rest scored now (the PRM loaded only then) and appended."""
    from eval.benchmarks.score_store import ScoreStore, score_items

    settings = {"benchmark": benchmark, "prm": config.prm, "prm_format": config.prm_format,
                "prm_options": config.prm_options, "dtype": config.dtype}
    store = ScoreStore(Path(out_dir) / "step_scores.jsonl", settings, config.resume)
    if all(item.key in store.scores for item in items):
        return {item.key: store.scores[item.key] for item in items}
    from prm.model.formats import load_scorer, parse_options

    scorer = load_scorer(config.prm or "", config.prm_format, device=config.device, dtype=config.dtype,
                         batch_size=config.batch_size, backend=config.backend, **parse_options(config.prm_options))
    try:
        return score_items(scorer, items, store, config.batch_size)
    finally:
        if hasattr(scorer, "close"):
            scorer.close()
