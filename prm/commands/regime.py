"""``prm regime --profile reduced --out-dir runs/regime``: the PRM-vs-ORM regime map, regenerated from scratch.

Draws the regime task (:mod:`data.regime`) at every cell of the profile (:data:`prm.regime.cells.PROFILES`:
``reduced`` runs in under 20 minutes on 2 cores, ``full`` within 2 hours, ``tiny`` in about one), labels
the same training solutions each verifier's way, trains every verifier with one recipe, evaluates best-of-N
in the PRM800K protocol for every N, and writes the report (:mod:`eval.regime.report`): ``regime.md``,
``regime.json`` and PNGs under ``--out-dir``. Rows go to ``OUT_DIR/rows.jsonl`` as they finish; a rerun
resumes there (other settings are refused; ``--no-resume`` starts over), and ``--report-only`` rewrites the
report from the rows. ``--processes`` (default 2) runs that many (cell, seed) units at once.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from prm.cli_contract import shared

logger = logging.getLogger(__name__)


@dataclass
class RegimeConfig:
    profile: str = field(default="reduced", metadata={
        "help": "tiny (a first look, about a minute), reduced (under 20 min on 2 cores) or full (within 2 hours)"})
    out_dir: str = shared("out_dir", "runs/regime", "rows.jsonl (resumable), regime.md/.json and the PNGs")
    seeds: int | None = field(default=None, metadata={"help": "number of seeds (default: the profile's)"})
    train_steps: int = field(default=1000, metadata={"help": "Adam steps of every verifier's training"})
    processes: int = field(default=2, metadata={
        "help": "worker processes, each running one (cell, seed) at a time on one torch thread (1: in this process)"})
    resume: bool = shared("resume", True)
    report_only: bool = field(default=False, metadata={"help": "rewrite the report from rows.jsonl; train nothing"})


CONFIG = RegimeConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No positional arguments: everything is an option of ``RegimeConfig``."""


def _context(profile_name: str, recipe: Any, seeds: int) -> tuple[list[Any], dict[str, Any]]:
    from eval.regime.report import REFERENCE_N, Point
    from prm.regime.cells import CENTRE, PROFILES, VERIFIERS, profile_cells

    profile = PROFILES[profile_name]
    cells = profile_cells(profile)
    # the flip-rate cells hold only the flipped PRM; the ORM it is compared with is the centre's (same data)
    points = [Point(sweep, value, cell.key, "prm_flip" if sweep == "eta" else f"prm_mc{value}" if sweep == "m"
                    else "prm_exact", CENTRE.key if sweep == "eta" else None) for sweep, value, cell in cells]
    centre_verifiers = {v for sweep, _, cell in cells if cell.key == CENTRE.key for v in cell.verifiers}
    budget = {cell.train_solutions: cell.key for sweep, _, cell in cells if sweep == "train_solutions"}
    if budget:
        budget.setdefault(CENTRE.train_solutions, CENTRE.key)
    knobs = ", ".join(f"{k}={v}" for k, v in CENTRE.knobs.to_dict().items())
    preamble = [
        f"`prm regime --profile {profile_name}`: {seeds} seeds, {profile.problems} test problems x {profile.pool} "
        f"pool solutions per cell; every verifier trained {recipe.steps} Adam steps (batch {recipe.batch_size}, "
        f"lr {recipe.lr}) from the same initial weights on the same solutions, only the labels differ.",
        f"Centre: {knobs}, {CENTRE.train_solutions} labelled solutions, eta={CENTRE.eta}.",
        "Verifiers: " + "; ".join(f"`{name}` {spec.about}" for name, spec in VERIFIERS.items()) + ".",
        "Each PRM is read by its weakest step (min), the ORM by its last step; accuracy is the pick's final "
        "answer, process-correct means its answer is right and no line is wrong.",
    ]
    ordered = [v for v in VERIFIERS if v in centre_verifiers]
    search = [(f"{sweep}={value}" if value is not None else sweep, cell.key) for sweep, value, cell in cells
              if (sweep, value) in profile.search]
    context = {"centre": CENTRE.key, "verifiers": ordered, "ns": profile.ns, "preamble": preamble,
               "search_points": search, "search_ns": list(profile.search_ns),
               "search_problems": profile.search_problems,
               "reference_n": min(REFERENCE_N, profile.pool),
               "budget_cells": budget, "budget_verifiers": profile.extra_verifiers.get("train_solutions", ())}
    return points, context


def run(config: RegimeConfig, args: argparse.Namespace) -> int:
    from data.journal import JournalMismatch, discard
    from data.jsonl import read_jsonl
    from eval.regime.report import write_regime_report
    from prm.regime.cells import PROFILES
    from prm.regime.run import run_profile
    from prm.regime.verifier import TrainRecipe

    if config.profile not in PROFILES:
        logger.error("unknown --profile %r; choose from %s", config.profile, ", ".join(PROFILES))
        return 2
    if config.train_steps < 1 or config.processes < 1 or (config.seeds is not None and config.seeds < 1):
        logger.error("--train-steps, --processes and --seeds must be >= 1")
        return 2
    profile = PROFILES[config.profile]
    if config.seeds is not None:
        profile = replace(profile, seeds=config.seeds)
    recipe = TrainRecipe(steps=config.train_steps)
    rows_path = Path(config.out_dir) / "rows.jsonl"
    if not config.resume and not config.report_only:
        discard(rows_path, "--no-resume")
    if not config.report_only:
        try:
            run_profile(profile, rows_path, recipe, workers=config.processes).close()
        except JournalMismatch as error:
            logger.error("%s", error)
            return 2
    if not rows_path.exists():
        logger.error("%s does not exist: run without --report-only first", rows_path)
        return 2
    points, context = _context(config.profile, recipe, profile.seeds)
    paths = write_regime_report([row for _, row in read_jsonl(rows_path)], points, context, config.out_dir)
    sys.stdout.write(paths["markdown"].read_text(encoding="utf-8"))
    return 0
