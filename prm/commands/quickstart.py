"""``prm quickstart``: the main job — policy, verifier LM, samples, step labels, PRM and ORM, best-of-N, step errors.

On a CPU-only machine with no network it builds everything from scratch on the synthetic arithmetic
task (:mod:`prm.quickstart.stages` lists the stages) and writes ``runs/quickstart/report.md`` with
PRM vs learned ORM vs majority vote vs oracle, first-error detection, and each stage's time and
command. Finished stages are reused on the next run and a killed run resumes (``--no-resume`` redoes
everything).
On a GPU machine the same command takes real models and data::

    prm quickstart --model Qwen/Qwen2.5-Math-1.5B-Instruct --prm runs/my-prm --orm runs/my-orm \\
        --problems math500 --test-problems 500 --n 64

``--profile smollm`` runs a real pretrained LM through every stage on a CPU (:mod:`prm.quickstart.profiles`)::

    prm quickstart --profile smollm --model ../shared/models/SmolLM2-135M-Instruct.Q4_1.gguf
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import time
from pathlib import Path

from prm.pipeline import StageFailed, run_stages
from prm.quickstart.profiles import PROFILES
from prm.quickstart.report import extra_report_lines, write_report
from prm.quickstart.stages import QuickstartConfig, QuickstartPaths, build_stages

logger = logging.getLogger(__name__)

CONFIG = QuickstartConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--profile``: a named set of defaults (:mod:`prm.quickstart.profiles`); the rest is ``QuickstartConfig``."""
    parser.add_argument("--profile", choices=sorted(PROFILES), default=None,
                        help="named defaults, overridden by --config and the options given: smollm (a real "
                             "pretrained LM through every stage; give --model its GGUF file offline)")


def _clear(paths: QuickstartPaths) -> None:
    """``--no-resume``: delete a previous quickstart's outputs (only a folder that holds one, or an empty one)."""
    root = paths.root
    if not root.exists():
        return
    if not paths.state.is_dir() and any(root.iterdir()):
        raise ValueError(f"--no-resume would delete {root}, which does not hold a quickstart run; pick another "
                         "--out-dir")
    logger.warning("--no-resume: deleting %s", root)
    shutil.rmtree(root)


def _setup(config: QuickstartConfig, paths: QuickstartPaths) -> str:
    """One line: which model sampled, which LM the reward models start from, and their head."""
    policy = f"`{config.model}`" if config.model else f"`{paths.policy}` ({config.policy_steps} steps from scratch)"
    if config.verifier:
        verifier = f"`{config.verifier}`"
    elif config.model:
        verifier = f"`{config.model}` (the policy)"
    else:
        verifier = f"`{paths.verifier}` (the policy trained {config.verifier_steps} steps further)"
    head = "" if config.prm and config.orm else f", reward-model head `{config.prm_head}`"
    return f"Samples from {policy}; reward models trained here start from the verifier LM {verifier}{head}."


def run(config: QuickstartConfig, args: argparse.Namespace) -> int:
    paths = QuickstartPaths.under(Path(config.out_dir))
    start = time.perf_counter()
    try:
        stages = build_stages(config)
        if not config.resume:
            _clear(paths)
        results = run_stages(stages, paths.state)
    except (StageFailed, ValueError) as error:
        logger.error("%s", error)
        return 1
    rms = [("PRM (exact step labels)", config.prm or str(paths.prm)),
           ("ORM (final-answer labels)", config.orm or str(paths.orm))]
    report = write_report(paths, results, rms, wall_seconds=time.perf_counter() - start, setup=[_setup(config, paths)],
                          extra=extra_report_lines(paths, config))
    sys.stdout.write(report.read_text(encoding="utf-8"))
    return 0
