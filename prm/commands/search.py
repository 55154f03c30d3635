"""``prm search --strategy beam --model POLICY --prm PRM --problems P --n 16 --output OUT.jsonl``: PRM-guided search.

Strategies (:data:`prm.search.SEARCH_STRATEGIES`): ``best_of_n``, ``beam`` (step-level beam search) and
``dvts``. The policy writes one step at a time (stopping at blank lines), every partial solution is scored
by ``--prm`` (any format ``prm score`` takes: own heads, published PRMs, ensembles, the step checker, or an
outcome RM to guide by outcome scores), and the best are kept. Writes one row per problem: its finished
solutions (text, steps, answer, step scores, search score, verdict against the gold answer) and what its
search spent (``compute``: tokens generated, prefix tokens re-read, PRM tokens and calls, seconds, FLOPs
estimates). Problems are searched ``--batch-problems`` at a time (the PRM scores a whole batch's candidates
in one call) and each finished batch is appended and fsync'd: a killed run resumes with the next batch
(``--no-resume`` starts over). vLLM (prefix caching on by default) when installed, else HF ``generate`` with
the same semantics; with HF every call is seeded, so a run (and a resumed one) is reproducible.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from data.journal import JournalMismatch, RowJournal, discard
from data.jsonl import RecordError
from prm.cli_contract import shared
from prm.search.tree import SearchSettings

logger = logging.getLogger(__name__)


@dataclass
class SearchCommandConfig:
    model: str | None = shared("model", detail="the policy that writes the steps", required=True)
    prm: str | None = shared("prm", detail="scores partial solutions (an ORM folder guides by outcome scores)",
                             required=True)
    prm_format: str = shared("prm_format", "auto")
    prm_options: str | None = shared("prm_options")
    orm: str | None = shared("orm", detail="optional: also scores the finished solutions (orm_step_scores, for "
                                           "the orm selection rule of prm search compare / prm bon)")
    problems: str | None = shared("problems", required=True)
    split: str | None = shared("split")
    limit: int | None = shared("limit")
    output: str | None = shared("output", detail="JSONL, one row per problem", required=True)
    strategy: Literal["best_of_n", "beam", "dvts"] = field(default="beam", metadata={
        "help": "best_of_n (n full solutions), beam (keep the best n/beam_width partial solutions, expand each "
                "beam_width ways) or dvts (n/beam_width independent subtrees, each keeping its best)"})
    n: int = field(default=16, metadata={"help": "candidates per iteration (the budget; best_of_n: solutions)"})
    beam_width: int = field(default=4, metadata={"help": "expansions of each kept partial solution (divides n)"})
    max_iterations: int = field(default=40, metadata={"help": "steps searched; the last one writes to the end"})
    aggregation: str = field(default="last", metadata={
        "help": "step scores -> one score per partial solution: last (the PRM as an outcome model), min, product, "
                "mean"})
    lookahead: int = field(default=0, metadata={"help": "greedy steps rolled out (and scored) beyond each candidate"})
    temperature: float = field(default=0.8, metadata={"help": "sampling temperature of the steps"})
    top_p: float = field(default=1.0, metadata={"help": "nucleus sampling mass"})
    max_new_tokens: int = shared("max_new_tokens", 512, "a whole solution")
    max_step_tokens: int = field(default=256, metadata={"help": "most new tokens of one step"})
    system_prompt: str | None = shared("system_prompt")
    backend: Literal["auto", "vllm", "hf"] = field(default="auto", metadata={
        "help": "policy backend: vllm, hf (transformers generate), or auto: vllm when importable"})
    prefix_caching: bool = field(default=True, metadata={"help": "vLLM prefix caching (--no-prefix-caching: off)"})
    batch_problems: int = field(default=32, metadata={"help": "problems searched together (one PRM call per "
                                                                "iteration for all their candidates)"})
    batch_size: int = shared("batch_size", 16, "of the PRM, partial solutions sorted by length")
    hf_batch_size: int = field(default=64, metadata={"help": "HF: sequences per generate batch"})
    gpu_memory_utilization: float = field(default=0.5, metadata={"help": "vLLM: share of GPU memory (the PRM "
                                                                        "runs beside it)"})
    max_model_len: int | None = field(default=None, metadata={"help": "vLLM: context length (default: model's)"})
    device: str = shared("device", "auto", "the PRM's and the HF policy's")
    dtype: str = shared("dtype", "auto")
    threads: int = shared("threads", 0)
    workers: int = shared("workers", 2, "for the verdicts")
    timeout_s: float = shared("timeout_s", 3.0)
    seed: int = shared("seed", 0, "vLLM: the engine's; HF: every call's, from this")
    resume: bool = shared("resume", True, "the problems already in the output")


CONFIG = SearchCommandConfig
# The settings that shape the rows; resuming with other values is refused.
# (batch_problems too: the HF backend's call seeds follow the batches)
META_KEYS = ("model", "prm", "prm_format", "prm_options", "orm", "problems", "split", "batch_problems", "strategy",
             "n", "beam_width", "max_iterations", "aggregation", "lookahead", "temperature", "top_p", "max_new_tokens",
             "max_step_tokens", "system_prompt", "seed")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No positional arguments: everything is an option of ``SearchCommandConfig``."""


def settings_of(config: SearchCommandConfig) -> SearchSettings:
    return SearchSettings(n=config.n, beam_width=config.beam_width, max_iterations=config.max_iterations,
                          aggregation=config.aggregation, lookahead=config.lookahead,
                          temperature=config.temperature, top_p=config.top_p, max_new_tokens=config.max_new_tokens,
                          max_step_tokens=config.max_step_tokens)


def build_policy(config: SearchCommandConfig) -> Any:
    """The policy's sampler: vLLM with prefix caching (unless turned off), else HF."""
    from prm.sampling.base import resolve_backend

    assert config.model is not None
    if resolve_backend(config.backend) == "vllm":
        from prm.sampling.vllm_backend import VLLMSampler

        return VLLMSampler(config.model, seed=config.seed, gpu_memory_utilization=config.gpu_memory_utilization,
                           max_model_len=config.max_model_len, dtype=config.dtype,
                           enable_prefix_caching=config.prefix_caching)
    from prm.sampling.hf import HFSampler

    return HFSampler(config.model, device=config.device, dtype=config.dtype, batch_size=config.hf_batch_size,
                     seed=config.seed)


def _meta(config: SearchCommandConfig) -> dict[str, Any]:
    meta = {key: getattr(config, key) for key in META_KEYS}
    for key in ("model", "prm", "orm", "problems"):
        if meta[key] and Path(meta[key]).exists():  # the same local model, however the path was spelled
            meta[key] = str(Path(meta[key]).resolve())
    return meta


@dataclass
class Models:
    """The policy's sampler and the scorers a search runs with (a sweep shares one set across runs)."""

    sampler: Any
    scorer: Any
    orm: Any = None

    def close(self) -> None:
        self.sampler.close()
        for model in (self.scorer, self.orm):
            if hasattr(model, "close"):
                model.close()


def load_models(config: SearchCommandConfig) -> Models:
    from prm.model.formats import load_scorer, parse_options

    scorer = load_scorer(config.prm or "", config.prm_format, device=config.device, dtype=config.dtype,
                         batch_size=config.batch_size, **parse_options(config.prm_options))
    orm = load_scorer(config.orm, device=config.device, dtype=config.dtype, batch_size=config.batch_size) \
        if config.orm else None
    return Models(build_policy(config), scorer, orm)


def search_into(config: SearchCommandConfig, problems: list[Any], journal: RowJournal, models: Models
                ) -> dict[str, float]:
    """Search the problems not yet in ``journal``, a batch at a time, appending each batch's rows; totals of
    what this run spent."""
    from tqdm.auto import tqdm

    from prm.prompts import build_prompt
    from prm.search.compute import parameter_count, scorer_parameters
    from prm.search.records import search_rows
    from verifiers import VerifyConfig

    position = {p.id: i for i, p in enumerate(problems)}
    todo = [p for p in problems if not journal.done(p.id)]
    totals: dict[str, float] = {"problems": 0, "generated_tokens": 0, "prm_calls": 0}
    sampler = models.sampler
    parameters = (parameter_count(getattr(sampler, "model", None) or config.model), scorer_parameters(models.scorer))
    settings, verify_config = settings_of(config), VerifyConfig(timeout_s=config.timeout_s)
    with tqdm(total=len(problems), initial=len(problems) - len(todo), unit="problem", desc="search") as bar:
        for first in range(0, len(todo), config.batch_problems):
            batch = todo[first: first + config.batch_problems]
            prompts = [build_prompt(p.problem, sampler.tokenizer, config.system_prompt) for p in batch]
            rows = search_rows(batch, prompts, config.strategy, sampler, models.scorer, settings,
                               seed=config.seed + 100_000 * position[batch[0].id], scorer_batch_size=config.batch_size,
                               parameters=parameters, workers=config.workers, verify_config=verify_config,
                               orm=models.orm)
            journal.append(rows)
            totals["problems"] += len(rows)
            totals["generated_tokens"] += sum(r["compute"]["generated_tokens"] for r in rows)
            totals["prm_calls"] += sum(r["compute"]["prm_calls"] for r in rows)
            bar.update(len(batch))
    return totals


def open_journal(config: SearchCommandConfig) -> RowJournal:
    """The output as a journal keyed by problem id, refusing rows written with other settings."""
    output = Path(config.output or "")
    if not config.resume:
        discard(output)
    return RowJournal(output, key=lambda row: str(row["problem_id"]), meta=_meta(config))


def run(config: SearchCommandConfig, args: argparse.Namespace) -> int:
    from data.loaders import load_problems
    from prm.runtime import metrics_path, set_threads

    if config.batch_problems < 1 or config.batch_size < 1:
        logger.error("--batch-problems and --batch-size must be >= 1")
        return 2
    try:
        if config.strategy != "best_of_n":
            settings_of(config).check_beams()
        problems = load_problems(config.problems or "", config.split, config.limit)
        output = Path(config.output or "")
        set_threads(config.threads)
        start = time.perf_counter()
        with open_journal(config) as journal:
            if journal.rows:
                logger.info("resuming %s: %d of %d problems already searched", output, len(journal.rows),
                            len(problems))
            totals = {"problems": 0, "generated_tokens": 0, "prm_calls": 0}
            if any(not journal.done(p.id) for p in problems):
                models = load_models(config)
                try:
                    totals = search_into(config, problems, journal, models)
                finally:
                    models.close()
    except (RecordError, JournalMismatch, OSError, ValueError) as error:
        logger.error("%s", error)
        return 2
    seconds = time.perf_counter() - start
    if totals["problems"]:
        record = {**totals, "seconds": round(seconds, 1), "strategy": config.strategy,
                  "tokens_per_s": round(totals["generated_tokens"] / max(seconds, 1e-9), 1)}
        metrics_path(output).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    sys.stdout.write(f"{config.strategy}: searched {int(totals['problems'])} problems in {seconds:.1f} s "
                     f"({int(totals['generated_tokens'])} tokens generated, {int(totals['prm_calls'])} partial "
                     f"solutions scored); {len(problems)} problems in {output}\n")
    return 0
