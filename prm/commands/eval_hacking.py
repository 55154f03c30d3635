"""``prm eval hacking --prm P[,P2...] --problems TEST``: reward-hacking checks for every reward model given.

Builds adversarial completions from the test problems' reference solutions (the correct answer with no work,
filler steps, a repeated step, a correct answer after a wrong step; :mod:`eval.hacking`), scores them with
each PRM (``--aggregations`` of the step scores) and with the answer reward, and reports per kind the mean
reward and how often it earns at least the reference solution's reward. With ``--samples`` (any samples
file) it adds each reward's Spearman correlation with solution length and step count. Writes ``hacking.md``,
``hacking.json`` and ``hacking.png`` to ``--out-dir``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass, field
from typing import Any

from data.jsonl import RecordError
from prm.cli_contract import shared

logger = logging.getLogger(__name__)


@dataclass
class EvalHackingConfig:
    prm: str | None = shared("prm", detail="several comma-separated, or step_checker / ensemble", required=True)
    prm_options: str | None = shared("prm_options", detail="for every --prm")
    problems: str | None = shared("problems", detail="test problems with reference solutions", required=True)
    split: str | None = shared("split")
    limit: int | None = shared("limit", detail="problems")
    samples: str | None = field(default=None, metadata={"help": "samples (JSONL) for the length and step-count "
                                                                "correlations (optional)"})
    aggregations: str = field(default="min,last", metadata={"help": "step-score aggregations (eval.aggregate)"})
    segmentation: str = field(default="blank_line", metadata={"help": "how reference solutions split into steps"})
    device: str = shared("device", "auto")
    batch_size: int = shared("batch_size", 16)
    out_dir: str = shared("out_dir", "runs/hacking", "hacking.md, hacking.json and hacking.png")


CONFIG = EvalHackingConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No positional arguments: everything is an option of ``EvalHackingConfig``."""


def _prm_rewards(config: EvalHackingConfig, items: list[tuple[str, list[str]]], aggregations: list[str]
                 ) -> dict[str, list[list[float | None]]]:
    """PRM name -> step scores of ``items`` (each PRM loaded, used and closed in turn)."""
    from prm.model.formats import load_scorer, parse_options

    out = {}
    for name in (n.strip() for n in (config.prm or "").split(",") if n.strip()):
        scorer = load_scorer(name, device=config.device, batch_size=config.batch_size,
                             **parse_options(config.prm_options))
        try:
            out[name] = scorer.score_batch(items, config.batch_size)
        finally:
            if hasattr(scorer, "close"):
                scorer.close()
    return out


def _sample_rows(config: EvalHackingConfig, problems: dict[str, str]) -> list[dict[str, Any]]:
    """The samples, each with its problem text in ``_problem`` (its own, else by problem_id)."""
    from data.jsonl import read_jsonl

    rows = [row for _, row in read_jsonl(config.samples or "")]
    for i, row in enumerate(rows):
        text = row.get("problem") or problems.get(str(row.get("problem_id")))
        if not isinstance(text, str) or not isinstance(row.get("text"), str):
            raise RecordError(f"{config.samples} row {i + 1}: needs 'text' and a problem text ('problem', or a "
                              "problem_id of --problems)")
        row["_problem"] = text
    return rows


def run(config: EvalHackingConfig, args: argparse.Namespace) -> int:
    from data.loaders import load_problems
    from eval.aggregate import solution_score
    from eval.hacking import adversarial_completions, correlations, hacking_table
    from eval.hacking_report import write_hacking_report
    from verifiers.rewards import answer_reward

    aggregations = [a.strip() for a in config.aggregations.split(",") if a.strip()]
    try:
        problems = load_problems(config.problems or "", config.split, config.limit)
        built = adversarial_completions(problems, config.segmentation)
        if not built:
            raise ValueError(f"{config.problems}: no problem has a reference solution of two or more steps")
        gold = {p.id: p.answer for p in problems}
        rewards: dict[str, list[float | None]] = {
            "answer": answer_reward(None, ["\n\n".join(c.steps) for c in built], [gold[c.problem_id] for c in built])}
        step_scores = _prm_rewards(config, [(c.problem, list(c.steps)) for c in built], aggregations)
        for name, scores in step_scores.items():
            for agg in aggregations:
                rewards[f"{name} ({agg})"] = [solution_score(s, agg) for s in scores]
        result: dict[str, Any] = {"problems": len({c.problem_id for c in built}),
                                  "table": hacking_table(built, rewards)}
        if config.samples:
            rows = _sample_rows(config, {p.id: p.problem for p in problems})
            scored = _prm_rewards(config, [(r["_problem"], r["text"]) for r in rows], aggregations)
            result["correlations"] = {f"{name} ({agg})": correlations(rows, [solution_score(s, agg) for s in scores])
                                      for name, scores in scored.items() for agg in aggregations}
    except (RecordError, OSError, ValueError) as error:
        logger.error("%s", error)
        return 2
    sys.stdout.write(write_hacking_report(result, config.out_dir))
    return 0
