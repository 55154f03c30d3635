"""``prm score --samples S --prm P``: add ``step_scores`` (P(correct) per step) to every sample, resumably.

Each sample is scored in one forward pass by the PRM ``--prm`` (any format :func:`prm.model.load_scorer`
reads; an outcome RM scores the same way); its steps are its ``steps`` field, or its ``text`` split the way
the PRM was trained. The problem text comes from the sample (``problem`` or ``prompt``) or from the problems
of ``--problems`` (:func:`data.loaders.load_problems`, the ids ``prm sample`` wrote) joined on ``problem_id``.
Rows are appended to the output (default ``S`` with ``.scored.jsonl``) chunk by chunk, so a killed run loses
at most one chunk: rerunning skips the rows already there (a torn last line is cut off first; ``--no-resume``
starts the output over). Steps past the model's longest input score ``null``.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import logging
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from data.journal import append_synced, cut_tail, discard
from data.jsonl import RecordError, read_jsonl, require_field
from prm.cli_contract import shared
from prm.parallel import Shard, parse_shard, take_shard

logger = logging.getLogger(__name__)


@dataclass
class ScoreConfig:
    samples: str | None = field(default=None, metadata={"help": "JSONL of samples (text and/or steps)",
                                                        "required": True})
    prm: str | None = shared("prm", required=True)
    prm_format: str = shared("prm_format", "auto")
    prm_options: str | None = shared("prm_options")
    output: str | None = shared("output", detail="scored JSONL (default: SAMPLES with .scored.jsonl)")
    problems: str | None = shared("problems", detail="their texts, joined on problem_id when samples lack them")
    batch_size: int = shared("batch_size", 16, "solutions, sorted by length")
    chunk_rows: int = field(default=256, metadata={"help": "rows scored and appended to the output per write"})
    device: Literal["auto", "cpu", "cuda"] = shared("device", "auto")
    dtype: str = shared("dtype", "auto")
    backend: Literal["hf", "vllm"] = field(default="hf", metadata={
        "help": "hf (transformers, every format) or vllm (vLLM's pooling runner: qwen2_5_math_prm, math_shepherd, "
                "rlhflow_prm)"})
    threads: int = shared("threads", 0)
    score_field: str = field(
        default="step_scores",
        metadata={"help": "field the scores go to (e.g. orm_step_scores for an outcome RM, read by `prm bon`)"},
    )
    resume: bool = shared("resume", True, "the rows already in the output")
    data_parallel: int = shared("data_parallel", 1, "one GPU each (a PRM too big for one: --device auto in one "
                                                    "process spreads it over every visible GPU)")
    shard: str | None = shared("shard", detail="of the sample rows")


CONFIG = ScoreConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No positional arguments: everything is an option of ``ScoreConfig``."""


def _problem_texts(spec: str | None) -> dict[str, str]:
    if not spec:
        return {}
    from data.loaders import load_problems

    return {problem.id: problem.problem for problem in load_problems(spec)}


def _key(row: dict[str, Any]) -> tuple[Any, Any]:
    return row.get("problem_id"), row.get("sample_idx")


def scored_rows(out: Path) -> list[tuple[Any, Any]]:
    """Keys of the complete rows already in ``out``; a torn last line (killed mid-write) is truncated away."""
    if not out.exists():
        return []
    keys, good = [], 0
    with out.open("rb") as handle:
        for line in handle:
            try:
                if not line.endswith(b"\n"):
                    raise ValueError("torn line")
                keys.append(_key(json.loads(line)))
            except ValueError:
                break
            good += len(line)
    if good < out.stat().st_size:
        cut_tail(out, good)
    return keys


def _todo(samples: str, done: list[tuple[Any, Any]], problems: dict[str, str], shard: Shard | None = None
          ) -> Iterator[tuple[dict, str]]:
    for index, (line_no, row) in enumerate(take_shard(read_jsonl(samples), shard)):
        where = f"{samples} line {line_no}"
        if index < len(done):
            if done[index] != _key(row):
                raise RecordError(f"{where}: the output's row {index + 1} is {done[index]}, not {_key(row)}; "
                                  "it was written for another samples file (pass --no-resume to start it over, "
                                  "or another --output)")
            continue
        problem = row.get("problem") or row.get("prompt")
        if not isinstance(problem, str):
            pid = str(require_field(row, ("problem_id",), where))
            if pid not in problems:
                raise RecordError(f"{where}: no problem text (give --problems with id {pid!r})")
            problem = problems[pid]
        yield row, problem


def _steps(row: dict[str, Any], where: str, segmentation: str) -> list[str] | str:
    """The row's steps: ``steps`` (samples) or ``completions`` (stepwise rows), else its text to split. A sample
    whose steps were cut another way than the PRM's ``segmentation`` gives its text, which the PRM splits."""
    text = row.get("text")
    if isinstance(text, str) and row.get("steps") and row.get("segmentation", "blank_line") != segmentation:
        return text
    steps = row.get("steps") or row.get("completions")
    if isinstance(steps, list) and steps:
        name = "steps" if row.get("steps") else "completions"
        for i, step in enumerate(steps):
            if not isinstance(step, str):
                raise RecordError(f"{where}: field '{name}[{i}]' should be str, got {type(step).__name__}")
        return list(steps)
    return str(require_field(row, ("text", "completion"), where))


def _append(out: Path, rows: list[dict[str, Any]]) -> None:
    with out.open("ab") as handle:
        append_synced(handle, rows)


def score_file(config: ScoreConfig, scorer: Any) -> tuple[Path, int, int]:
    """Score the rows of ``config.samples`` not yet in the output; (output, rows skipped, rows scored)."""
    out = Path(config.output) if config.output else Path(config.samples or "").with_suffix(".scored.jsonl")
    out.parent.mkdir(parents=True, exist_ok=True)
    if not config.resume:
        discard(out)
    done = scored_rows(out)
    if done:
        logger.info("%s: %d rows already scored, resuming", out, len(done))
    scored = resplit = 0
    segmentation = getattr(scorer.config, "segmentation", "blank_line")
    todo = _todo(config.samples, done, _problem_texts(config.problems), parse_shard(config.shard))
    while chunk := list(itertools.islice(todo, max(config.chunk_rows, 1))):
        items = [(problem, _steps(row, f"{config.samples} row {len(done) + scored + i + 1}", segmentation))
                 for i, (row, problem) in enumerate(chunk)]
        resplit += sum(isinstance(steps, str) and bool(row.get("steps")) for (row, _), (_, steps) in
                       zip(chunk, items, strict=True))
        for (row, _), scores in zip(chunk, scorer.score_batch(items, config.batch_size), strict=True):
            row[config.score_field] = scores
        _append(out, [row for row, _ in chunk])
        scored += len(chunk)
        logger.info("scored %d rows (%d this run)", len(done) + scored, scored)
    if resplit:
        logger.warning("%d rows' steps were cut another way than the PRM's %r segmentation: their text was re-split "
                       "the PRM's way (the PRM's segmentation wins)", resplit, segmentation)
    return out, len(done), scored


def _write_metrics(out: Path, scorer: Any, rows: int, seconds: float) -> None:
    """``OUT_metrics.json`` beside the output: rows scored, rows/s, and the device, dtype and machine."""
    from prm.runtime import dtype_name, metrics_path, stage_record

    rows_per_s = rows / max(seconds, 1e-9)
    dtype = getattr(getattr(scorer, "model", None), "dtype", None)  # None: a built-in scorer, no model
    record = {"rows": rows, "seconds": round(seconds, 1),
              "runtime": stage_record(scorer.device, dtype_name(dtype) if dtype is not None else "none", None,
                                      rows_per_s=rows_per_s)}
    metrics_path(out).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")


def merge_score_shards(outputs: list[Path], output: Path) -> None:
    """The shards' rows interleaved back into the samples' order (shard K scored rows K, K+N, ...)."""
    from prm.parallel import merge_interleaved, write_atomically

    parts = [path.read_bytes().splitlines(keepends=True) for path in outputs]
    write_atomically(output, merge_interleaved(parts))


def _output(config: ScoreConfig) -> ScoreConfig:
    """``config`` with its default output (SAMPLES with .scored.jsonl) spelled out."""
    if config.output:
        return config
    return dataclasses.replace(config, output=str(Path(config.samples or "").with_suffix(".scored.jsonl")))


def run(config: ScoreConfig, args: argparse.Namespace) -> int:
    from prm.model.formats import load_scorer, parse_options
    from prm.runtime import set_threads

    if config.data_parallel < 1 or (config.data_parallel > 1 and config.shard):
        logger.error("--data-parallel must be >= 1, and runs its own shards (no --shard with it)")
        return 2
    try:
        parse_shard(config.shard)
        if config.data_parallel > 1:
            from prm.parallel import run_data_parallel

            return run_data_parallel("score", _output(config), config.data_parallel, 1, merge_score_shards)
    except ValueError as error:
        logger.error("%s", error)
        return 2
    set_threads(config.threads)
    start = time.perf_counter()
    try:
        scorer = load_scorer(config.prm or "", config.prm_format, device=config.device, dtype=config.dtype,
                             batch_size=config.batch_size, backend=config.backend,
                             **parse_options(config.prm_options))
        try:
            out, skipped, scored = score_file(config, scorer)
        finally:
            if hasattr(scorer, "close"):
                scorer.close()  # a vLLM engine stops before the interpreter exits
    except (RecordError, OSError, ValueError) as error:
        logger.error("%s", error)
        return 2
    seconds = time.perf_counter() - start
    if scored:
        _write_metrics(out, scorer, scored, seconds)
    sys.stdout.write(f"{scored} rows scored ({skipped} already done) in {seconds:.1f} s "
                     f"({scored / max(seconds, 1e-9):.1f} rows/s) -> {out}\n")
    return 0
