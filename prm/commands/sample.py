"""``prm sample --model M --problems P --n 64 --output samples.jsonl``: N solutions per problem, resumable.

Writes one Sample record per solution (``problem_id``, ``sample_idx``, ``text``, ``steps`` split on
blank lines, ``answer`` extracted from the text, ``num_tokens``, ``finish_reason``). A problem's N
samples are appended together and fsync'd; rerunning the same command after a kill drops the torn
tail and continues with the problems not yet written (``prm.sampling.writer``; ``--no-resume`` starts
over). Prompts come from ``prm.prompts.build_prompt`` (the model's chat template when it has one).
``--backend auto`` is vLLM when it imports, else Hugging Face ``generate``.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from data.journal import discard
from data.jsonl import RecordError
from data.records import Problem, Sample
from data.segment import SEGMENTERS, split_steps
from prm.cli_contract import shared
from prm.parallel import parse_shard, take_shard
from prm.sampling.base import Completion, Sampler, SamplingConfig, resolve_backend
from prm.sampling.writer import ResumeMismatch, SampleWriter
from verifiers import extract_answer

logger = logging.getLogger(__name__)


@dataclass
class SampleCommandConfig:
    model: str | None = shared("model", detail="the policy", required=True)
    problems: str | None = shared("problems", required=True)
    output: str | None = shared("output", detail="JSONL of samples", required=True)
    split: str | None = shared("split")
    limit: int | None = shared("limit")
    n: int = field(default=64, metadata={"help": "samples per problem"})
    backend: Literal["auto", "vllm", "hf"] = field(
        default="auto", metadata={"help": "vllm, hf (transformers generate), or auto: vllm when importable"}
    )
    temperature: float = field(default=1.0, metadata={"help": "sampling temperature; 0 is greedy"})
    top_p: float = field(default=1.0, metadata={"help": "nucleus sampling mass"})
    max_new_tokens: int = shared("max_new_tokens", 512)
    seed: int = shared("seed", 0, "vLLM: the engine's")
    system_prompt: str | None = shared("system_prompt", detail="'Please reason step by step, and put your final "
                                                              "answer within \\boxed{}.'")
    segmentation: str = field(default="blank_line", metadata={
        "help": "how the samples' steps field is cut from their text (data.segment: blank_line, newline, "
                "step_marker, auto: blank lines and numbered items); prm score re-splits a sample's text when its "
                "PRM was trained on another"})
    stop_at_step_end: bool = field(
        default=False, metadata={"help": "stop each sample at its first blank line (one step, for rollouts)"}
    )
    batch_problems: int = field(default=32, metadata={"help": "problems per generate call (all n samples each)"})
    tensor_parallel_size: int = field(default=1, metadata={"help": "vLLM: GPUs per engine (tensor parallel)"})
    gpu_memory_utilization: float = field(default=0.9, metadata={"help": "vLLM: share of GPU memory to use"})
    max_model_len: int | None = field(default=None, metadata={"help": "vLLM: context length (default: model's)"})
    dtype: str = shared("dtype", "auto")
    hf_batch_size: int = field(default=64, metadata={"help": "HF: sequences per generate batch"})
    device: str = shared("device", "auto", "HF backend only")
    resume: bool = shared("resume", True, "the problems already in the output")
    data_parallel: int = shared("data_parallel", 1, "tensor_parallel_size GPUs each")
    shard: str | None = shared("shard", detail="of the problems")


CONFIG = SampleCommandConfig

# The settings that shape the samples; resuming with other values is refused.
META_KEYS = ("model", "n", "temperature", "top_p", "max_new_tokens", "stop_at_step_end", "system_prompt",
             "segmentation")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No positional arguments: everything is an option of ``SampleCommandConfig``."""


def build_sampler(config: SampleCommandConfig) -> Sampler:
    """The configured backend for ``config.model``."""
    backend = resolve_backend(config.backend)
    assert config.model is not None
    if backend == "vllm":
        from prm.sampling.vllm_backend import VLLMSampler

        return VLLMSampler(
            config.model, seed=config.seed, tensor_parallel_size=config.tensor_parallel_size,
            gpu_memory_utilization=config.gpu_memory_utilization, max_model_len=config.max_model_len,
            dtype=config.dtype,
        )
    from prm.sampling.hf import HFSampler

    return HFSampler(config.model, device=config.device, dtype=config.dtype, batch_size=config.hf_batch_size,
                     seed=config.seed)


def to_records(problem: Problem, completions: list[Completion], segmentation: str = "blank_line"
               ) -> list[dict[str, Any]]:
    """The Sample records of one problem's completions; ``steps`` split with ``segmentation``, which a record
    names in a ``segmentation`` field when it is not the default (blank lines)."""
    extra = {} if segmentation == "blank_line" else {"segmentation": segmentation}
    return [
        Sample(problem_id=problem.id, sample_idx=i, text=c.text, steps=split_steps(c.text, segmentation),
               answer=extract_answer(c.text), num_tokens=c.num_tokens, finish_reason=c.finish_reason,
               extra=dict(extra)).to_dict()
        for i, c in enumerate(completions)
    ]


def _check(config: SampleCommandConfig) -> str | None:
    if config.segmentation not in SEGMENTERS:
        return f"--segmentation {config.segmentation!r}: choose from {', '.join(SEGMENTERS)}"
    if config.n < 1 or config.batch_problems < 1:
        return "--n and --batch-problems must be >= 1"
    if config.data_parallel < 1 or (config.data_parallel > 1 and config.shard):
        return "--data-parallel must be >= 1, and runs its own shards (no --shard with it)"
    try:
        parse_shard(config.shard)
    except ValueError as error:
        return str(error)
    return None


def _load(config: SampleCommandConfig) -> list[Problem]:
    from data.loaders import load_problems

    problems = load_problems(config.problems or "", config.split, config.limit)
    duplicates = [pid for pid, count in collections.Counter(p.id for p in problems).items() if count > 1]
    if duplicates:
        raise RecordError(f"{config.problems}: duplicate problem ids {duplicates[:5]}")
    return list(take_shard(problems, parse_shard(config.shard)))


def merge_sample_shards(outputs: list[Path], output: Path) -> None:
    """The shards' problem groups interleaved back into problem order (shard K held problems K, K+N, ...),
    written to ``output`` in one step, with the shards' settings beside it (a later run resumes it)."""
    from data.journal import settings_path
    from prm.parallel import merge_interleaved, write_atomically

    groups: list[list[list[bytes]]] = []
    for path in outputs:
        shard_groups: dict[str, list[bytes]] = {}
        with path.open("rb") as handle:
            for line in handle:
                shard_groups.setdefault(str(json.loads(line)["problem_id"]), []).append(line)
        groups.append(list(shard_groups.values()))
    write_atomically(output, (line for group in merge_interleaved(groups) for line in group))
    settings_path(output).write_bytes(settings_path(outputs[0]).read_bytes())


def _sample_batch(config: SampleCommandConfig, sampler: Sampler, params: SamplingConfig, batch: list[Problem],
                  position: int, writer: SampleWriter, counts: collections.Counter) -> None:
    from prm.prompts import build_prompt

    prompts = [build_prompt(p.problem, sampler.tokenizer, config.system_prompt) for p in batch]
    # HF re-seeds per call (reproducible batches); vLLM's engine was seeded once.
    params = dataclasses.replace(params, seed=config.seed + position if sampler.backend == "hf" else None)
    for problem, completions in zip(batch, sampler.generate(prompts, config.n, params), strict=True):
        writer.write_problem(to_records(problem, completions, config.segmentation))
        counts["tokens"] += sum(c.num_tokens for c in completions)
        counts["samples"] += len(completions)
        counts.update(f"finish:{c.finish_reason}" for c in completions)


def sample_problems(
    config: SampleCommandConfig, problems: list[Problem], writer: SampleWriter, sampler: Sampler | None = None
) -> collections.Counter:
    """Sample every problem not yet in ``writer`` and write it; returns counts (tokens, samples, reasons).

    ``sampler`` (default: built from ``config``, closed at the end) lets a caller reuse a running engine.
    """
    from tqdm.auto import tqdm

    position = {p.id: i for i, p in enumerate(problems)}
    todo = [p for p in problems if not writer.is_done(p.id)]
    counts: collections.Counter = collections.Counter()
    if not todo:
        return counts
    owned = sampler is None
    sampler = sampler or build_sampler(config)
    params = SamplingConfig(temperature=config.temperature, top_p=config.top_p, max_tokens=config.max_new_tokens,
                            stop_at_step_end=config.stop_at_step_end)
    start = time.perf_counter()
    try:
        with tqdm(total=len(problems), initial=len(problems) - len(todo), unit="problem", desc="sample") as bar:
            for first in range(0, len(todo), config.batch_problems):
                batch = todo[first : first + config.batch_problems]
                _sample_batch(config, sampler, params, batch, position[batch[0].id], writer, counts)
                bar.update(len(batch))
                bar.set_postfix(tok_s=f"{counts['tokens'] / (time.perf_counter() - start):.0f}")
        counts["seconds"] = time.perf_counter() - start  # before closing: vLLM's shutdown takes seconds
        counts[f"precision:{sampler.precision}"] = 1
    finally:
        if owned:
            sampler.close()
    return counts


def write_sample_metrics(config: SampleCommandConfig, counts: collections.Counter, seconds: float) -> Path:
    """This run's samples, tokens and tokens/s, with the backend, dtype and machine they were measured on."""
    from prm.runtime import metrics_path, resolve_device, stage_record

    precision = next((key.split(":", 1)[1] for key in counts if key.startswith("precision:")), "")
    tokens_per_s = counts["tokens"] / seconds if seconds > 0 else None
    record = {"samples": counts["samples"], "tokens": counts["tokens"], "seconds": round(seconds, 1),
              "backend": resolve_backend(config.backend),
              "runtime": stage_record(resolve_device(config.device), precision, tokens_per_s)}
    path = metrics_path(config.output or "")
    path.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return path


def run(config: SampleCommandConfig, args: argparse.Namespace) -> int:
    problem = _check(config)
    if problem:
        logger.error("%s", problem)
        return 2
    if config.data_parallel > 1:
        from prm.parallel import run_data_parallel

        per_engine = config.tensor_parallel_size if resolve_backend(config.backend) == "vllm" else 1
        try:
            return run_data_parallel("sample", config, config.data_parallel, per_engine, merge_sample_shards)
        except ValueError as error:
            logger.error("%s", error)
            return 2
    try:
        problems = _load(config)
        meta = {key: getattr(config, key) for key in META_KEYS}
        if Path(meta["model"]).exists():  # the same local model, however the path was spelled
            meta["model"] = str(Path(meta["model"]).resolve())
        if not config.resume:
            discard(Path(config.output or ""))
        with SampleWriter(config.output or "", config.n, meta) as writer:
            done = sum(writer.is_done(p.id) for p in problems)
            if writer.completed:
                logger.info("resuming %s: %d of %d problems already sampled", config.output, done, len(problems))
            counts = sample_problems(config, problems, writer)
    except (RecordError, ResumeMismatch) as error:
        logger.error("%s", error)
        return 2
    seconds = counts.pop("seconds", 0.0)
    if counts["samples"]:
        write_sample_metrics(config, counts, seconds)
    summary = (
        f"sampled {counts['samples']} solutions ({len(problems) - done} problems x {config.n}) in {seconds:.1f} s, "
        f"{counts['tokens'] / max(seconds, 1e-9):.0f} tokens/s; finish: stop {counts['finish:stop']}, "
        f"length {counts['finish:length']}; {len(problems)} problems in {config.output}"
    )
    sys.stdout.write(summary + "\n")
    return 0
