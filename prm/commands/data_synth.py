"""``prm data synth``: write the synthetic MATH-style task as ``train.jsonl`` and ``test.jsonl``.

Problems come from :func:`data.synth.generate_problems`: seeded, split by a hash of the problem
skeleton (so train and test never share a problem), every reference step checkable arithmetic.
Both files are written atomically; a summary table goes to stdout.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from data.records import write_records
from data.synth import FAMILIES, TEST_FRACTION, Difficulty, generate_problems
from prm.cli_contract import shared

logger = logging.getLogger(__name__)


@dataclass
class DataSynthConfig:
    out_dir: str = shared("out_dir", "runs/synth", "train.jsonl and test.jsonl")
    n_train: int = field(default=20_000, metadata={"help": "number of training problems"})
    n_test: int = field(default=500, metadata={"help": "number of test problems"})
    seed: int = shared("seed", 0, "the split itself does not depend on it")
    families: str | None = field(
        default=None, metadata={"help": f"comma-separated families (default: all of {', '.join(FAMILIES)})"}
    )
    levels: str | None = field(
        default=None, metadata={"help": "comma-separated levels 1-5 drawn per problem (default: 1,2,3)"}
    )
    steps: int | None = field(
        default=None, metadata={"help": "fixed number of solution steps, 2-5 (overrides --levels)"}
    )
    max_value: int | None = field(
        default=None, metadata={"help": "fixed bound on the numbers drawn, >= 5 (overrides --levels)"}
    )
    test_fraction: float = field(
        default=TEST_FRACTION, metadata={"help": "share of problem skeletons that belong to the test split"}
    )


CONFIG = DataSynthConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No positional arguments."""


def _csv(text: str | None) -> list[str] | None:
    return [part.strip() for part in text.split(",") if part.strip()] if text else None


def _difficulty(config: DataSynthConfig) -> Difficulty | None:
    if config.steps is None and config.max_value is None:
        return None
    default = Difficulty()
    return Difficulty(steps=config.steps if config.steps is not None else default.steps,
                      max_value=config.max_value if config.max_value is not None else default.max_value)


def run(config: DataSynthConfig, args: argparse.Namespace) -> int:
    try:
        if config.n_train < 0 or config.n_test < 0:
            raise ValueError(f"--n-train and --n-test must be >= 0, got {config.n_train} and {config.n_test}")
        difficulty = _difficulty(config)
        levels = [int(level) for level in _csv(config.levels) or []] or None
        if difficulty is not None and levels is not None:
            raise ValueError("give either --levels or --steps/--max-value, not both")
        families = _csv(config.families)
        out_dir = Path(config.out_dir)
        rows = []
        for split, n in (("train", config.n_train), ("test", config.n_test)):
            start = time.perf_counter()
            problems = generate_problems(n, seed=config.seed, split=split, families=families,
                                         difficulty=difficulty, levels=levels, test_fraction=config.test_fraction)
            seconds = time.perf_counter() - start
            path = out_dir / f"{split}.jsonl"
            write_records(path, problems)
            logger.info("wrote %d %s problems to %s in %.2f s", len(problems), split, path, seconds)
            rows.append(f"| {split} | {len(problems)} | {path} | {seconds:.2f} |")
    except ValueError as error:
        logger.error("%s", error)
        return 2
    table = ["| split | problems | file | seconds |", "|---|---:|---|---:|", *rows]
    sys.stdout.write("\n".join(table) + "\n")
    return 0
