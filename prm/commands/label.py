"""``prm label --method exact|perturb|mc|bisect --problems P [--samples S] --output O``: step labels as stepwise rows.

Methods (``METHODS``, name -> function; a new method is one more entry):

- ``exact``: arithmetic claims of every step (``verifiers.check_steps``) and the final-answer check
  (``data.labelling.exact``); labels the samples of ``--samples`` joined to ``--problems`` on
  ``problem_id``, or, without ``--samples``, the problems' own reference solutions;
- ``perturb``: the problems' reference solutions as positives plus error-injected negatives with
  exact first-error labels (``data.labelling.perturb``);
- ``mc``: Monte-Carlo (Math-Shepherd) labels of the samples (or reference solutions): ``--k`` completions
  of every step prefix from the policy ``--model`` (``data.labelling.monte_carlo``, sampled through
  ``prm.sampling``); ``--mc-label`` soft or hard (the other kind kept in an extra column);
  ``--consensus exact`` keeps only samples whose MC first error equals the exact labeller's
  (``data.labelling.consensus``). Resumable: each chunk of ``--mc-chunk`` solutions is journalled
  (``OUTPUT.partial.jsonl``, fsync'd) when labelled; rerunning after a kill skips the journalled ones
  (``--no-resume`` deletes the journal first);
- ``bisect``: OmegaPRM's binary search for the first error of each wrong-answer solution, ``--k`` rollouts
  per probed prefix from ``--model`` (``data.labelling.binary_search``): about log2(steps) probes instead of
  one per step; a solution with a right answer is all 1.0 at no cost. Journalled and resumable as ``mc``.

``--problems`` is a built-in name (math, math500, gsm8k, aime2024), a local file or folder, or a
hub id (``data.loaders.load_problems``). The labelling itself lives in :mod:`data.labelling`; this
command reads the inputs, picks the method and writes the rows atomically. Records that cannot be
labelled are counted by reason and reported, never silently dropped.
"""

from __future__ import annotations

import argparse
import collections
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from data.build import composition, composition_table
from data.journal import discard
from data.jsonl import RecordError
from data.labelling import (
    consensus_filter,
    exact_first_error,
    label_references,
    label_samples,
    mc_items,
    mc_label_journalled,
    mc_rows,
    perturb_problems,
)
from data.records import Problem, Sample, StepwiseRow, read_records, write_records
from prm.cli_contract import shared

logger = logging.getLogger(__name__)


@dataclass
class LabelCommandConfig:
    method: str = field(default="exact", metadata={"help": "labelling method: exact, perturb, mc or bisect"})
    problems: str | None = shared("problems", required=True)
    split: str | None = shared("split")
    samples: str | None = field(
        default=None, metadata={"help": "JSONL of samples to label (exact); default: the reference solutions"}
    )
    output: str | None = shared("output", detail="JSONL of stepwise rows", required=True)
    after_error: Literal["drop", "zero"] = field(
        default="drop", metadata={"help": "after the first wrong step: drop the rest, or label it 0.0"}
    )
    limit: int | None = shared("limit", detail="samples, or problems without --samples")
    split_mode: str = field(
        default="auto",
        metadata={"help": "how texts become steps: blank_line, newline, step_marker, sentence, or auto (reference "
                          "solutions: GSM8K lines, MATH sentences, else blank lines; samples: lines for GSM8K-style "
                          "text, else blank lines)"},
    )
    missing_answer: Literal["wrong", "ignore"] = field(
        default="wrong", metadata={"help": "a last step with no final answer is wrong, or not judged"}
    )
    seed: int = shared("seed", 0, "of the corruptions (perturb) and the rollouts (mc)")
    negatives: int = field(default=1, metadata={"help": "corrupted copies per reference solution (perturb)"})
    model: str | None = shared("model", detail="the policy that writes the rollouts (mc, required)")
    k: int = field(default=8, metadata={"help": "completions per step prefix (mc) or per probed prefix (bisect)"})
    backend: Literal["auto", "vllm", "hf"] = field(default="auto", metadata={"help": "sampling backend (mc)"})
    temperature: float = field(default=1.0, metadata={"help": "sampling temperature of the rollouts (mc)"})
    max_new_tokens: int = shared("max_new_tokens", 256, "a rollout (mc)")
    system_prompt: str | None = shared("system_prompt", detail="mc rollouts")
    mc_label: Literal["soft", "hard"] = field(
        default="soft", metadata={"help": "labels column: soft (fraction correct) or hard (any correct) (mc)"}
    )
    consensus: Literal["none", "exact"] = field(
        default="none", metadata={"help": "keep only samples whose MC first error equals the exact one's (mc)"}
    )
    mc_chunk: int = field(
        default=64, metadata={"help": "solutions per generate call, journalled together: a kill loses at most "
                                      "one chunk, a rerun resumes (mc)"}
    )
    resume: bool = shared("resume", True, "mc: the journal of labelled chunks")


CONFIG = LabelCommandConfig

LabelOutput = tuple[list[StepwiseRow], collections.Counter]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No positional arguments: everything is an option of ``LabelCommandConfig``."""


def _load_problems(config: LabelCommandConfig, limit: int | None) -> list[Problem]:
    from data.loaders import load_problems

    return load_problems(config.problems or "", config.split, limit)


def _read_samples(config: LabelCommandConfig) -> list[Sample]:
    return list(read_records(config.samples or "", Sample))[: config.limit]


def label_exact(config: LabelCommandConfig) -> LabelOutput:
    """Exact labels of ``--samples`` (joined on problem_id), or of the problems' reference solutions."""
    skipped: collections.Counter = collections.Counter()
    if config.samples:
        rows = label_samples(_read_samples(config), _load_problems(config, None), config.after_error,
                             split_mode=config.split_mode, missing_answer=config.missing_answer, skipped=skipped)
    else:
        rows = label_references(_load_problems(config, config.limit), config.after_error,
                                split_mode=config.split_mode, missing_answer=config.missing_answer, skipped=skipped)
    return rows, skipped


def label_perturb(config: LabelCommandConfig) -> LabelOutput:
    """Reference solutions (positives) and error-injected copies (negatives) with exact first errors."""
    if config.samples:
        logger.warning("--samples is ignored by --method perturb (it corrupts reference solutions)")
    rows, report = perturb_problems(_load_problems(config, config.limit), seed=config.seed,
                                    negatives=config.negatives, after_error=config.after_error,
                                    split_mode=config.split_mode)
    skipped = collections.Counter({f"reference: {k}": v for k, v in report.skipped.items()})
    skipped["negative not made"] = report.discarded["no negative made"]
    return rows, +skipped


def _mc_settings(config: LabelCommandConfig, items: int) -> dict[str, object]:
    """The settings that shape MC labels: resuming a journal with other values is refused."""
    model = str(Path(config.model).resolve()) if config.model and Path(config.model).exists() else config.model
    keys = ("problems", "split", "samples", "limit", "split_mode", "k", "temperature", "max_new_tokens",
            "system_prompt", "seed", "mc_chunk")
    return {"model": model, "items": items, **{key: getattr(config, key) for key in keys}}


def _journal_path(config: LabelCommandConfig) -> Path:
    """Where ``--method mc`` / ``bisect`` journal: ``OUTPUT.partial.jsonl`` (removed once OUTPUT is written)."""
    return Path(f"{config.output}.partial.jsonl")


@contextmanager
def _rollout_policy(config: LabelCommandConfig, skipped: collections.Counter) -> Iterator[tuple[Any, list, Any]]:
    """(policy sampler, items to label, sampling settings) for the methods that roll out from step prefixes
    (mc, bisect); ``--no-resume`` deletes their journal first."""
    from prm.prompts import build_prompt
    from prm.sampling import SamplingConfig, make_sampler

    if not config.model:
        raise ValueError(f"--method {config.method} needs --model (the policy that completes the step prefixes)")
    problems = _load_problems(config, None if config.samples else config.limit)
    samples = _read_samples(config) if config.samples else None
    params = SamplingConfig(temperature=config.temperature, max_tokens=config.max_new_tokens, seed=config.seed)
    if not config.resume:
        discard(_journal_path(config))
    with make_sampler(config.backend, config.model, seed=config.seed) as sampler:
        items = mc_items(problems, samples, lambda text: build_prompt(text, sampler.tokenizer, config.system_prompt),
                         split_mode=config.split_mode, skipped=skipped)
        yield sampler, items, params


def label_mc(config: LabelCommandConfig) -> LabelOutput:
    """Monte-Carlo labels: ``--k`` rollouts per step prefix from ``--model``; optional exact consensus."""
    skipped: collections.Counter = collections.Counter()
    with _rollout_policy(config, skipped) as (sampler, items, params):
        results = mc_label_journalled(sampler, items, config.k, params, _journal_path(config),
                                      settings=_mc_settings(config, len(items)), chunk=max(config.mc_chunk, 1))
    rows = mc_rows(results, config.mc_label)
    if config.consensus == "exact":
        rows, dropped = consensus_filter(rows, [exact_first_error(r.item, config.missing_answer) for r in results])
        skipped.update(dropped)
    return rows, skipped


def label_bisect(config: LabelCommandConfig) -> LabelOutput:
    """OmegaPRM labels: binary search for each wrong solution's first error, ``--k`` rollouts per probe."""
    from data.labelling.binary_search import bisect_label_journalled, bisect_rows

    skipped: collections.Counter = collections.Counter()
    with _rollout_policy(config, skipped) as (sampler, items, params):
        settings = {**_mc_settings(config, len(items)), "method": "bisect"}
        results = bisect_label_journalled(sampler, items, config.k, params, _journal_path(config), settings=settings,
                                          chunk=max(config.mc_chunk, 1))
    rollouts = sum(result.rollouts for result in results)
    logger.info("binary search: %d rollouts for %d solutions (%.2f per solution)", rollouts, len(results),
                rollouts / max(1, len(results)))
    return bisect_rows(results), skipped


METHODS: dict[str, Callable[[LabelCommandConfig], LabelOutput]] = {
    "exact": label_exact,
    "perturb": label_perturb,
    "mc": label_mc,
    "bisect": label_bisect,
}


def _summary(rows: list[StepwiseRow], skipped: collections.Counter) -> str:
    lines = [composition_table(composition(rows, "source"), "source")]
    if skipped:
        table = [f"| {reason} | {count} |" for reason, count in skipped.most_common()]
        lines.append("\n".join(["| skipped | count |", "|---|---:|", *table]))
    return "\n\n".join(lines)


def run(config: LabelCommandConfig, args: argparse.Namespace) -> int:
    if config.method not in METHODS:
        logger.error("unknown --method %r; choose from %s", config.method, ", ".join(METHODS))
        return 2
    try:
        rows, skipped = METHODS[config.method](config)
    except (RecordError, OSError, ValueError) as error:
        logger.error("%s", error)
        return 2
    count = write_records(config.output or "", rows)
    discard(_journal_path(config), "the output is complete")  # mc's journal
    logger.info("wrote %d rows to %s (%s)", count, config.output, config.method)
    sys.stdout.write(_summary(rows, skipped) + "\n")
    return 0
