"""Monte-Carlo (Math-Shepherd style) step labels from policy rollouts.

For every step prefix ``j`` of a solution (``steps[:j+1]`` joined with blank lines), ``K`` completions
are drawn from a policy; each completion's final answer (prefix + completion) is verified against the
gold answer. The hard label of step ``j`` is 1.0 when any completion reaches the gold answer, the soft
label is the fraction that do. The last prefix is the whole solution: it is not rolled out but judged by
its own final answer (all ``k`` or none of its completions count as correct), as in Math-Shepherd, so a
policy rambling on after a finished solution cannot relabel it::

    from data.labelling.monte_carlo import mc_items, mc_label, mc_rows
    with make_sampler("vllm", "runs/policy-default") as sampler:
        items = mc_items(problems, samples, prompt=lambda text: build_prompt(text, sampler.tokenizer))
        results = mc_label(sampler, items, k=8, params=SamplingConfig(temperature=1.0, max_tokens=256))
    rows = mc_rows(results, label="soft")

All prefixes of many solutions go to ONE ``generate`` call (per chunk of ``chunk`` solutions); the
prefixes of one solution share their prompt prefix, which vLLM's prefix caching reuses.
:func:`mc_label_journalled` does the same, resumably: each chunk's counts are journalled as they exist.

Torch-free: the policy is any object with ``generate(prompts, n, params)`` (:class:`RolloutSampler`;
``prm.sampling``'s samplers are such objects), so this module never imports a sampling backend.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol

from data.journal import RowJournal
from data.labelling.exact import judged_steps, solution_steps
from data.records import Problem, Sample, StepwiseRow
from data.segment import STEP_SEPARATOR
from verifiers import Status, VerifyConfig, verify_many

__all__ = [
    "MCItem", "MCResult", "RolloutParams", "RolloutSampler", "first_error", "mc_items", "mc_label",
    "mc_label_journalled", "mc_rows", "prefix_texts",
]  # fmt: skip

logger = logging.getLogger(__name__)

LabelKind = Literal["soft", "hard"]


class RolloutParams(Protocol):
    """Sampling settings (``prm.sampling.SamplingConfig``): a dataclass, re-seeded chunk by chunk."""

    __dataclass_fields__: ClassVar[dict[str, Any]]

    @property
    def seed(self) -> int | None: ...

    @property
    def greedy(self) -> bool: ...


class Rollout(Protocol):
    """One completion of a step prefix: only its text is read."""

    @property
    def text(self) -> str: ...


class RolloutSampler(Protocol):
    """A policy: for every prompt, ``n`` completions (``prm.sampling.Sampler.generate``)."""

    def generate(self, prompts: list[str], n: int, params: Any) -> Sequence[Sequence[Rollout]]: ...


@dataclass
class MCItem:
    """One solution to label: the policy prompt, its steps, the gold answer, and metadata for the row."""

    prompt: str
    steps: list[str]
    gold: str
    problem: str = ""  # the row's prompt (the problem text); ``prompt`` when empty
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class MCResult:
    """Monte-Carlo labels of one solution: per step, the number of completions reaching the gold of ``k``."""

    item: MCItem
    k: int
    correct: list[int]

    @property
    def soft(self) -> list[float]:
        return [c / self.k for c in self.correct]

    @property
    def hard(self) -> list[float]:
        return [1.0 if c > 0 else 0.0 for c in self.correct]

    @property
    def first_error(self) -> int:
        return first_error(self.hard)


def first_error(labels: Sequence[float]) -> int:
    """Index of the first label that is 0 (below 0.5), -1 if none."""
    return next((i for i, label in enumerate(labels) if label < 0.5), -1)


def prefix_texts(steps: Sequence[str]) -> list[str]:
    """The step prefixes of a solution: ``steps[:j+1]`` joined with the step separator, for every ``j``."""
    return [STEP_SEPARATOR.join(steps[: j + 1]) for j in range(len(steps))]


def _solutions(
    problems: Sequence[Problem], samples: Iterable[Sample] | None, split_mode: str, skipped: collections.Counter
) -> list[tuple[Problem, list[str], dict[str, Any]]]:
    """(problem, steps, row metadata) of every solution: the samples joined on ``problem_id``, else references."""
    if samples is None:
        return [(p, solution_steps(p.solution or "", p.source, split_mode), {}) for p in problems]
    by_id = {p.id: p for p in problems}
    mode = "blank_line" if split_mode == "auto" else split_mode
    solutions = []
    for sample in samples:
        if sample.problem_id not in by_id:
            skipped["unknown problem_id"] += 1
            continue
        steps = sample.steps or solution_steps(sample.text, "", mode)
        solutions.append((by_id[sample.problem_id], steps, {"sample_idx": sample.sample_idx}))
    return solutions


def mc_items(
    problems: Sequence[Problem],
    samples: Iterable[Sample] | None,
    prompt: Callable[[str], str],
    *,
    split_mode: str = "auto",
    skipped: collections.Counter | None = None,
) -> list[MCItem]:
    """The solutions to label: ``samples`` joined to ``problems`` on ``problem_id``, or (``samples`` None)
    the problems' reference solutions.

    ``prompt`` turns a problem text into the policy's prompt (``prm.prompts.build_prompt`` with the
    policy's tokenizer). A sample's ``steps`` are used when present, else its text is split with
    ``split_mode`` (``"auto"``: blank lines); references are split as :func:`solution_steps` does. Steps
    are the ones the exact labeller judges (a ``#### N`` line taken out). Solutions with no steps, an
    unknown problem or an empty gold answer are counted by reason in ``skipped`` (when given).
    """
    skipped = collections.Counter() if skipped is None else skipped
    items = []
    for problem, steps, meta in _solutions(problems, samples, split_mode, skipped):
        steps, _ = judged_steps(steps)
        if not steps or not problem.answer.strip():
            skipped["no steps" if not steps else "empty gold answer"] += 1
            continue
        items.append(MCItem(prompt=prompt(problem.problem), steps=steps, gold=problem.answer, problem=problem.problem,
                            meta={"source": problem.source, "problem_id": problem.id, **meta}))
    return items


def _rollout_prompts(items: Sequence[MCItem]) -> list[str]:
    """The prompt of every proper prefix of every item (prompt + prefix + separator: the policy writes on)."""
    return [item.prompt + prefix + STEP_SEPARATOR for item in items for prefix in prefix_texts(item.steps)[:-1]]


def _count_correct(items: Sequence[MCItem], groups: Sequence[Sequence[Rollout]], k: int, workers: int,
                   config: VerifyConfig | None) -> list[list[int]]:
    """Per item and step, how many of the ``k`` completions (prefix + completion) reach the gold answer."""
    pairs, owners = [], []
    row = 0
    for index, item in enumerate(items):
        *proper, whole = prefix_texts(item.steps)
        for step, prefix in enumerate(proper):
            for completion in groups[row]:
                pairs.append((item.gold, prefix + STEP_SEPARATOR + completion.text))
                owners.append((index, step, 1))
            row += 1
        pairs.append((item.gold, whole))  # the finished solution: judged once, counts for all k
        owners.append((index, len(proper), k))
    verdicts = verify_many(pairs, workers=workers, config=config)
    counts = [[0] * len(item.steps) for item in items]
    for (index, step, weight), verdict in zip(owners, verdicts, strict=True):
        counts[index][step] += weight * (verdict.status is Status.EQUAL)
    return counts


def mc_label(
    sampler: RolloutSampler,
    items: Sequence[MCItem],
    k: int,
    params: RolloutParams,
    *,
    chunk: int = 256,
    workers: int = 1,
    config: VerifyConfig | None = None,
    skip: Callable[[int], bool] | None = None,
    on_chunk: Callable[[list[tuple[int, MCResult]]], None] | None = None,
) -> list[MCResult]:
    """Monte-Carlo labels of ``items``: ``k`` completions per proper step prefix, one ``generate`` call per chunk.

    ``workers`` threads verify the answers (``verifiers.verify_many``). Resuming: items whose index
    ``skip(index)`` is true are not returned, a chunk made only of them is not sampled, and
    ``on_chunk`` gets each chunk's new (index, result) pairs as soon as they exist. Chunk ``c`` samples
    with seed ``params.seed + c * chunk``, so a chunk's results do not depend on where a run resumed.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if any(not item.steps for item in items):
        raise ValueError("every item needs at least one step")
    results: list[MCResult] = []
    for start in range(0, len(items), chunk):
        todo = [i for i in range(start, min(start + chunk, len(items))) if skip is None or not skip(i)]
        if not todo:
            continue
        batch = list(items[start : start + chunk])
        prompts = _rollout_prompts(batch)
        chunk_params = params if params.seed is None else replace(params, seed=params.seed + start)
        groups = sampler.generate(prompts, k, chunk_params) if prompts else []
        if params.greedy:  # vLLM returns one completion under greedy decoding; k identical copies are meant
            groups = [(list(group) * k)[:k] for group in groups]
        counts = _count_correct(batch, groups, k, workers, config)
        new = [(start + j, MCResult(item, k, c)) for j, (item, c) in enumerate(zip(batch, counts, strict=True))
               if start + j in todo]
        if on_chunk is not None:
            on_chunk(new)
        results.extend(result for _, result in new)
        logger.info("MC labels: %d/%d solutions (%d rolled-out prefixes x %d completions)",
                    start + len(batch), len(items), len(prompts), k)
    return results


def mc_label_journalled(
    sampler: RolloutSampler,
    items: Sequence[MCItem],
    k: int,
    params: RolloutParams,
    journal_path: str | Path,
    *,
    settings: dict[str, Any] | None = None,
    chunk: int = 256,
) -> list[MCResult]:
    """:func:`mc_label` of every item, resumable: each chunk's counts go to ``journal_path`` (fsync'd) as soon
    as they exist, and a rerun skips the items already there.

    ``settings`` are the values that shape the labels; resuming a journal written with other values is
    refused (:class:`data.journal.JournalMismatch`). The journal is left in place: the caller removes it
    once its own output is written.
    """
    keys = [f"{i}:{item.meta.get('problem_id')}:{item.meta.get('sample_idx')}" for i, item in enumerate(items)]
    with RowJournal(journal_path, key=lambda row: row["key"], meta=settings) as journal:
        if journal.rows:
            logger.info("resuming %s: %d of %d solutions already labelled", journal.path, len(journal.rows),
                        len(items))

        def save(new: list[tuple[int, MCResult]]) -> None:
            journal.append([{"key": keys[i], "k": result.k, "correct": result.correct} for i, result in new])

        mc_label(sampler, items, k, params, chunk=chunk, skip=lambda i: journal.done(keys[i]), on_chunk=save)
        return [MCResult(item, journal.rows[key]["k"], journal.rows[key]["correct"])
                for item, key in zip(items, keys, strict=True)]


def mc_rows(results: Sequence[MCResult], label: LabelKind = "soft") -> list[StepwiseRow]:
    """Stepwise rows: ``labels`` are the soft or hard labels, the other kind kept in ``extra``."""
    if label not in ("soft", "hard"):
        raise ValueError(f"label should be soft or hard, got {label!r}")
    other = "hard" if label == "soft" else "soft"
    rows = []
    for result in results:
        item = result.item
        extra = {**item.meta, "label_method": "mc", "mc_label": label, f"{other}_labels": getattr(result, other),
                 "mc_k": result.k, "first_error": result.first_error}
        rows.append(StepwiseRow(prompt=item.problem or item.prompt, completions=list(item.steps),
                                labels=getattr(result, label), extra=extra))
    return rows
