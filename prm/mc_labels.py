"""Monte-Carlo (Math-Shepherd style) step labels from policy rollouts.

For every step prefix ``j`` of a solution (``steps[:j+1]`` joined with blank lines), ``K`` completions
are drawn from a policy; each completion's final answer (prefix + completion) is verified against the
gold answer. The hard label of step ``j`` is 1.0 when any completion reaches the gold answer, the soft
label is the fraction that do. The last prefix is the whole solution: it is not rolled out but judged by
its own final answer (all ``k`` or none of its completions count as correct), as in Math-Shepherd, so a
policy rambling on after a finished solution cannot relabel it::

    from prm.mc_labels import MCItem, mc_label, mc_rows
    with make_sampler("vllm", "runs/policy-default") as sampler:
        results = mc_label(sampler, items, k=8, params=SamplingConfig(temperature=1.0, max_tokens=256))
    rows = mc_rows(results, label="soft")

All prefixes of many solutions go to ONE ``generate`` call (per chunk of ``chunk`` solutions); the
prefixes of one solution share their prompt prefix, which vLLM's prefix caching reuses.

:func:`consensus_filter` (pure) keeps only the rows whose MC first error (first hard 0) equals another
labeller's first error; :func:`agreement` measures how often MC and exact labels agree.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from data.labels import LabelResult
from data.records import StepwiseRow
from prm.sampling.base import STEP_SEPARATOR, Sampler, SamplingConfig
from verifiers import Status, VerifyConfig, verify_many

__all__ = [
    "MCItem", "MCResult", "agreement", "consensus_filter", "first_error", "mc_label", "mc_rows",
    "prefix_texts",
]  # fmt: skip

logger = logging.getLogger(__name__)

LabelKind = Literal["soft", "hard"]


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


def _rollout_prompts(items: Sequence[MCItem]) -> list[str]:
    """The prompt of every proper prefix of every item (prompt + prefix + separator: the policy writes on)."""
    return [item.prompt + prefix + STEP_SEPARATOR for item in items for prefix in prefix_texts(item.steps)[:-1]]


def _count_correct(items: Sequence[MCItem], groups: list[list[Any]], k: int, workers: int,
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
    sampler: Sampler,
    items: Sequence[MCItem],
    k: int,
    params: SamplingConfig,
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
            groups = [(group * k)[:k] for group in groups]
        counts = _count_correct(batch, groups, k, workers, config)
        new = [(start + j, MCResult(item, k, c)) for j, (item, c) in enumerate(zip(batch, counts, strict=True))
               if start + j in todo]
        if on_chunk is not None:
            on_chunk(new)
        results.extend(result for _, result in new)
        logger.info("MC labels: %d/%d solutions (%d rolled-out prefixes x %d completions)",
                    start + len(batch), len(items), len(prompts), k)
    return results


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


def _hard(row: StepwiseRow) -> list[float]:
    """The hard MC labels of a row written by :func:`mc_rows`."""
    if row.extra.get("mc_label") == "soft":
        return [float(x) for x in row.extra["hard_labels"]]
    return [float(x) for x in row.labels]


def consensus_filter(
    rows: Sequence[StepwiseRow], other_first_errors: Sequence[int | None]
) -> tuple[list[StepwiseRow], collections.Counter]:
    """Keep the rows whose MC first error equals the other labeller's (None: that labeller could not judge).

    Pure: returns the kept rows and the dropped ones counted by reason.
    """
    if len(rows) != len(other_first_errors):
        raise ValueError(f"{len(rows)} rows but {len(other_first_errors)} first errors")
    kept, dropped = [], collections.Counter()
    for row, other in zip(rows, other_first_errors, strict=True):
        if other is None:
            dropped["consensus: other labeller could not judge"] += 1
        elif first_error(_hard(row)) != other:
            dropped["consensus: first errors differ"] += 1
        else:
            kept.append(row)
    logger.info("consensus filter: kept %d of %d", len(kept), len(rows))
    return kept, dropped


def agreement(mc_rows: Sequence[StepwiseRow], exact_results: Sequence[LabelResult]) -> dict[str, float]:
    """How often MC hard labels agree with exact labels, per step and on the first-error position.

    Rows and results are paired by position; steps are compared where both label them (exact rows may
    be truncated after their first error). Returns counts and rates (NaN when nothing to compare).
    """
    if len(mc_rows) != len(exact_results):
        raise ValueError(f"{len(mc_rows)} MC rows but {len(exact_results)} exact results")
    steps = same_steps = same_first = 0
    for row, exact in zip(mc_rows, exact_results, strict=True):
        hard = _hard(row)
        pairs = list(zip(hard, exact.labels, strict=False))
        steps += len(pairs)
        same_steps += sum((a >= 0.5) == (b >= 0.5) for a, b in pairs)
        same_first += first_error(hard) == exact.first_error
    rows = len(mc_rows)
    return {
        "rows": float(rows),
        "steps": float(steps),
        "step_agreement": same_steps / steps if steps else float("nan"),
        "first_error_agreement": same_first / rows if rows else float("nan"),
    }
