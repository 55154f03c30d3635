"""``prm label --method exact|perturb|mc --problems P [--samples S] --out O``: step labels as stepwise rows.

Methods (``METHODS``, name -> function; a new method is one more entry):

- ``exact``: arithmetic claims of every step (``verifiers.check_steps``) and the final-answer check
  (``data.labels.exact_labels``); labels the samples of ``--samples`` joined to ``--problems`` on
  ``problem_id``, or, without ``--samples``, the problems' own reference solutions;
- ``perturb``: the problems' reference solutions as positives plus error-injected negatives with
  exact first-error labels (``data.perturb``);
- ``mc``: Monte-Carlo (Math-Shepherd) labels of the samples (or reference solutions): ``--k`` completions
  of every step prefix from the policy ``--model`` (``prm.mc_labels``); ``--mc-label`` soft or hard
  (the other kind kept in an extra column); ``--consensus exact`` keeps only samples whose MC first
  error equals the exact labeller's. Resumable: each chunk of ``--mc-chunk`` solutions is journalled
  (``OUT.partial.jsonl``, fsync'd) when labelled; rerunning after a kill skips the journalled ones.

``--problems`` is a built-in name (math, math500, gsm8k, aime2024), a local file or folder, or a
hub id (``data.loaders.load_problems``). Rows are written atomically; records that cannot be
labelled are counted by reason and reported, never silently dropped.
"""

from __future__ import annotations

import argparse
import collections
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from data.build import composition, composition_table
from data.jsonl import RecordError
from data.labels import Unlabellable, exact_labels, label_samples, make_row, solution_steps, split_answer_line
from data.perturb import perturb_problems
from data.records import Problem, Sample, StepwiseRow, read_records, write_records

if TYPE_CHECKING:
    from prm.mc_labels import MCItem, MCResult
    from prm.sampling import Sampler

logger = logging.getLogger(__name__)


@dataclass
class LabelCommandConfig:
    method: str = field(default="exact", metadata={"help": "labelling method: exact, perturb or mc"})
    problems: str | None = field(
        default=None, metadata={"help": "problems (required): built-in name, JSONL file/folder or hub id"}
    )
    split: str | None = field(default=None, metadata={"help": "split of --problems (default: the loader's)"})
    samples: str | None = field(
        default=None, metadata={"help": "JSONL of samples to label (exact); default: the reference solutions"}
    )
    out: str | None = field(default=None, metadata={"help": "output JSONL of stepwise rows (required)"})
    after_error: Literal["drop", "zero"] = field(
        default="drop", metadata={"help": "after the first wrong step: drop the rest, or label it 0.0"}
    )
    limit: int | None = field(default=None, metadata={"help": "label at most this many samples or problems"})
    split_mode: str = field(
        default="auto",
        metadata={"help": "how texts become steps: blank_line, newline, step_marker, sentence, or auto (reference "
                          "solutions: GSM8K lines, MATH sentences, else blank lines; samples: lines for GSM8K-style "
                          "text, else blank lines)"},
    )
    missing_answer: Literal["wrong", "ignore"] = field(
        default="wrong", metadata={"help": "a last step with no final answer is wrong, or not judged"}
    )
    seed: int = field(default=0, metadata={"help": "seed of the corruptions (perturb)"})
    negatives: int = field(default=1, metadata={"help": "corrupted copies per reference solution (perturb)"})
    model: str | None = field(default=None, metadata={"help": "policy model folder or hub id (mc, required)"})
    k: int = field(default=8, metadata={"help": "completions per step prefix (mc)"})
    backend: Literal["auto", "vllm", "hf"] = field(default="auto", metadata={"help": "sampling backend (mc)"})
    temperature: float = field(default=1.0, metadata={"help": "sampling temperature of the rollouts (mc)"})
    max_tokens: int = field(default=256, metadata={"help": "most new tokens per rollout (mc)"})
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


CONFIG = LabelCommandConfig

LabelOutput = tuple[list[StepwiseRow], collections.Counter]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No positional arguments: everything is an option of ``LabelCommandConfig``."""


def _load_problems(config: LabelCommandConfig, limit: int | None) -> list[Problem]:
    from data.loaders import load_problems

    return load_problems(config.problems or "", config.split, limit)


def _references(problems: list[Problem], config: LabelCommandConfig, skipped: collections.Counter) -> list[StepwiseRow]:
    rows = []
    for problem in problems:
        if not (problem.solution or "").strip():
            skipped["no reference solution"] += 1
            continue
        steps = solution_steps(problem.solution or "", problem.source, config.split_mode)
        try:
            result = exact_labels(steps, problem.answer, config.after_error, missing_answer=config.missing_answer)
        except Unlabellable as error:
            skipped[str(error)] += 1
            continue
        rows.append(make_row(problem.problem, result, source=problem.source, problem_id=problem.id,
                             label_method="exact"))
    return rows


def label_exact(config: LabelCommandConfig) -> LabelOutput:
    """Exact labels of ``--samples`` (joined on problem_id), or of the problems' reference solutions."""
    skipped: collections.Counter = collections.Counter()
    if not config.samples:
        return _references(_load_problems(config, config.limit), config, skipped), skipped
    samples = list(read_records(config.samples, Sample))[: config.limit]
    rows = label_samples(samples, _load_problems(config, None), config.after_error, split_mode=config.split_mode,
                         missing_answer=config.missing_answer, skipped=skipped)
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


def _mc_items(config: LabelCommandConfig, tokenizer: object, skipped: collections.Counter) -> list[MCItem]:
    """The solutions to label: ``--samples`` joined to the problems, else the problems' reference solutions."""
    from prm.mc_labels import MCItem
    from prm.prompts import build_prompt

    problems = _load_problems(config, None if config.samples else config.limit)
    if config.samples:
        by_id = {p.id: p for p in problems}
        pairs = []
        for sample in list(read_records(config.samples, Sample))[: config.limit]:
            if sample.problem_id not in by_id:
                skipped["unknown problem_id"] += 1
                continue
            mode = "blank_line" if config.split_mode == "auto" else config.split_mode
            pairs.append((by_id[sample.problem_id], sample.steps or solution_steps(sample.text, "", mode),
                          {"sample_idx": sample.sample_idx}))
    else:
        pairs = [(p, solution_steps(p.solution or "", p.source, config.split_mode), {}) for p in problems]
    items = []
    for problem, steps, meta in pairs:
        steps, _ = split_answer_line([s for s in steps if s.strip()])  # the steps exact_labels judges
        if not steps or not problem.answer.strip():
            skipped["no steps" if not steps else "empty gold answer"] += 1
            continue
        items.append(MCItem(prompt=build_prompt(problem.problem, tokenizer), steps=steps, gold=problem.answer,
                            problem=problem.problem,
                            meta={"source": problem.source, "problem_id": problem.id, **meta}))
    return items


def _exact_first_error(item: MCItem, config: LabelCommandConfig) -> int | None:
    try:
        return exact_labels(item.steps, item.gold, "zero", missing_answer=config.missing_answer).first_error
    except Unlabellable:
        return None


def _mc_meta(config: LabelCommandConfig, items: int) -> dict[str, object]:
    """The settings that shape MC labels: resuming a journal with other values is refused."""
    model = str(Path(config.model).resolve()) if config.model and Path(config.model).exists() else config.model
    keys = ("problems", "split", "samples", "limit", "split_mode", "k", "temperature", "max_tokens", "seed",
            "mc_chunk")
    return {"model": model, "items": items, **{key: getattr(config, key) for key in keys}}


def _mc_results(config: LabelCommandConfig, sampler: Sampler, items: list[MCItem]) -> list[MCResult]:
    """MC results of every item, resumable: each chunk's counts go to ``OUT.partial.jsonl`` (fsync'd) as soon
    as they exist, a rerun skips the items already there; the journal is removed once OUT is written."""
    from data.journal import RowJournal
    from prm.mc_labels import MCResult, mc_label
    from prm.sampling import SamplingConfig

    params = SamplingConfig(temperature=config.temperature, max_tokens=config.max_tokens, seed=config.seed)
    keys = [f"{i}:{item.meta.get('problem_id')}:{item.meta.get('sample_idx')}" for i, item in enumerate(items)]
    journal_path = Path(f"{config.out}.partial.jsonl")
    with RowJournal(journal_path, key=lambda row: row["key"], meta=_mc_meta(config, len(items))) as journal:
        if journal.rows:
            logger.info("resuming %s: %d of %d solutions already labelled", journal_path, len(journal.rows),
                        len(items))

        def save(new: list[tuple[int, MCResult]]) -> None:
            journal.append([{"key": keys[i], "k": r.k, "correct": r.correct} for i, r in new])

        mc_label(sampler, items, config.k, params, chunk=max(config.mc_chunk, 1),
                 skip=lambda i: journal.done(keys[i]), on_chunk=save)
        return [MCResult(item, journal.rows[key]["k"], journal.rows[key]["correct"])
                for item, key in zip(items, keys, strict=True)]


def label_mc(config: LabelCommandConfig) -> LabelOutput:
    """Monte-Carlo labels: ``--k`` rollouts per step prefix from ``--model``; optional exact consensus."""
    from prm.mc_labels import consensus_filter, mc_rows
    from prm.sampling import make_sampler

    if not config.model:
        raise ValueError("--method mc needs --model (the policy that completes the step prefixes)")
    skipped: collections.Counter = collections.Counter()
    with make_sampler(config.backend, config.model, seed=config.seed) as sampler:
        items = _mc_items(config, sampler.tokenizer, skipped)
        results = _mc_results(config, sampler, items)
    rows = mc_rows(results, config.mc_label)
    if config.consensus == "exact":
        rows, dropped = consensus_filter(rows, [_exact_first_error(r.item, config) for r in results])
        skipped.update(dropped)
    return rows, skipped


METHODS: dict[str, Callable[[LabelCommandConfig], LabelOutput]] = {
    "exact": label_exact,
    "perturb": label_perturb,
    "mc": label_mc,
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
    if not config.problems or not config.out:
        logger.error("--problems and --out are required")
        return 2
    try:
        rows, skipped = METHODS[config.method](config)
    except (RecordError, OSError, ValueError) as error:
        logger.error("%s", error)
        return 2
    count = write_records(config.out, rows)
    Path(f"{config.out}.partial.jsonl").unlink(missing_ok=True)  # mc's journal: the output is complete
    Path(f"{config.out}.partial.jsonl.meta.json").unlink(missing_ok=True)
    logger.info("wrote %d rows to %s (%s)", count, config.out, config.method)
    sys.stdout.write(_summary(rows, skipped) + "\n")
    return 0
