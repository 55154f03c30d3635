"""``prm bon --samples S --problems P --out-dir D``: the best-of-N table and curves from cached samples.

Reads scored samples (``step_scores``; ``verdict`` is computed with the verifier when missing, and
written back with ``--write-verdicts``), joins them to their problems (gold answers; subject, level
and family for the breakdown), and runs every selection rule of ``eval.selection.SELECTION_RULES``
over random subsets of size N = 1, 2, 4, ... (``eval.bon``). Writes ``bon.md``, ``bon.json`` and
``bon.png`` to ``--out-dir`` and prints the Markdown. No model is loaded: it runs in seconds.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass, field
from typing import Literal

from data.jsonl import RecordError
from prm.cli_contract import shared
from verifiers import VerifyConfig

logger = logging.getLogger(__name__)


@dataclass
class BonCommandConfig:
    samples: str | None = field(
        default=None, metadata={"help": "JSONL of scored samples (required); several files comma-separated"}
    )
    problems: str | None = shared("problems", detail="gold answers for verdicts and step labels, fields for the "
                                                     "breakdown; optional when every sample has a verdict")
    split: str | None = shared("split")
    out_dir: str = shared("out_dir", "runs/bon", "bon.md, bon.json and bon.png")
    trials: int = field(default=200, metadata={"help": "random subsets per problem and N"})
    seed: int = shared("seed", 0, "of the subsets and the bootstrap")
    bootstrap: int = field(default=1000, metadata={"help": "bootstrap resamples of the problems"})
    confidence: float = field(default=0.95, metadata={"help": "confidence level of the intervals"})
    max_n: int | None = field(default=None, metadata={"help": "largest N (default: the fewest samples of a problem)"})
    rules: str | None = field(default=None, metadata={"help": "comma-separated rule names (default: all)"})
    breakdown: str = field(default="subject,level,family", metadata={"help": "problem fields to break down by"})
    step_labels: Literal["auto", "field", "exact", "none"] = field(
        default="auto",
        metadata={"help": "wrong steps in correct-answer picks: step_labels/first_error fields, else exact labels "
                          "on synthetic/GSM8K problems (auto); fields only; exact labels; or none"},
    )
    write_verdicts: bool = field(default=False, metadata={"help": "write computed verdicts back to the samples"})
    workers: int = shared("workers", 2, "for missing verdicts")
    timeout_s: float = shared("timeout_s", 3.0)
    title: str = field(default="Best-of-N", metadata={"help": "title of the Markdown report"})
    protocol: Literal["custom", "prm800k"] = field(default="custom", metadata={
        "help": "prm800k: Let's Verify Step by Step's best-of-N protocol (400 random subsets per N, its rules: "
                "PRM min/product/last, ORM, majority, PRM-weighted vote, oracle), overriding --trials/--rules"})


CONFIG = BonCommandConfig

# "Let's Verify Step by Step" (Lightman et al. 2023): best-of-N on MATH-500 as the mean over 400 random subsets
# of size N drawn from each problem's sample pool (its section 3 / appendix); the rules it compares
PRM800K_TRIALS = 400
PRM800K_RULES = ("first", "majority", "orm", "prm_min", "prm_product", "prm_last", "prm_vote_min", "prm_vote_product",
                 "prm_vote_last", "oracle")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No positional arguments: everything is an option of ``BonCommandConfig``."""


def _names(text: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (text or "").split(",") if part.strip())


def run(config: BonCommandConfig, args: argparse.Namespace) -> int:
    from data.loaders import load_problems
    from eval.answers import AnswerClusterer
    from eval.bon import BonConfig, run_bon
    from eval.inputs import build_problems, fill_verdicts, read_samples, write_samples
    from eval.report import write_bon_report

    if not config.samples:
        logger.error("--samples is required")
        return 2
    verify_config = VerifyConfig(timeout_s=config.timeout_s)
    try:
        files = {path: read_samples(path) for path in _names(config.samples)}
        problems = load_problems(config.problems, config.split) if config.problems else None
        gold = {p.id: p.answer for p in problems or []}
        rows = [row for file_rows in files.values() for row in file_rows]
        filled = fill_verdicts(rows, gold, config.workers, verify_config)
    except (RecordError, FileNotFoundError) as error:
        logger.error("%s", error)
        return 2
    if filled and config.write_verdicts:
        for path, file_rows in files.items():
            write_samples(path, file_rows)
            logger.info("wrote verdicts back to %s", path)
    bon_problems, notes = build_problems(rows, problems, config.step_labels, AnswerClusterer(verify_config))
    prm800k = config.protocol == "prm800k"
    bon_config = BonConfig(trials=PRM800K_TRIALS if prm800k else config.trials, seed=config.seed,
                           bootstrap=config.bootstrap, confidence=config.confidence, max_n=config.max_n,
                           rules=PRM800K_RULES if prm800k else _names(config.rules) or None,
                           breakdown=_names(config.breakdown))
    if prm800k:
        notes.append(f"PRM800K protocol: {PRM800K_TRIALS} random subsets per problem and N, as in Let's Verify "
                     f"Step by Step (its MATH-500 has 500 problems; here {len(bon_problems)})")
    try:
        result = run_bon(bon_problems, bon_config)
    except ValueError as error:
        logger.error("%s: %s", config.samples, error)
        return 2
    result.notes[:0] = notes + ([f"{filled} verdicts computed with the verifier"] if filled else [])
    paths = write_bon_report(result, config.out_dir, config.title)
    sys.stdout.write(paths["markdown"].read_text(encoding="utf-8"))
    return 0
