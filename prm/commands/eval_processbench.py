"""``prm eval processbench --prm PRM``: ProcessBench's first-error F1 of a PRM, by the published protocol.

Reads ``--data`` (the hub id ``Qwen/ProcessBench``, or a local folder of ``<split>.json`` files) for each of
``--splits``, scores every item's steps with ``--prm`` (any format ``prm score`` reads, or ``step_checker``),
keeping the scores in ``OUT_DIR/step_scores.jsonl`` (a rerun rescores nothing), and writes
``processbench.md``, ``processbench.json`` and ``processbench_sweep.png``: per split the accuracy on erroneous
and on correct items and their F1 at ``--threshold`` (0.5, as published), the mean F1 over the splits, and the
F1 over a threshold sweep, reported apart (:mod:`eval.benchmarks.processbench`).
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass, field

from data.jsonl import RecordError
from prm.cli_contract import shared
from prm.commands.benchmark_common import BenchmarkConfig, report, score_benchmark

logger = logging.getLogger(__name__)


@dataclass
class EvalProcessBenchConfig(BenchmarkConfig):
    data: str = field(default="Qwen/ProcessBench", metadata={
        "help": "hub id, or a local folder of <split>.json / <split>.jsonl files in the published schema"})
    splits: str = field(default="gsm8k,math,olympiadbench,omnimath", metadata={"help": "comma-separated"})
    out_dir: str = shared("out_dir", "runs/processbench", "the report and the step scores")


CONFIG = EvalProcessBenchConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No positional arguments: everything is an option of ``EvalProcessBenchConfig``."""


def run(config: EvalProcessBenchConfig, args: argparse.Namespace) -> int:
    from eval.benchmarks.processbench import load_split, processbench_result, to_cases
    from eval.benchmarks.render import processbench_markdown, write_processbench_report

    splits = [s.strip() for s in config.splits.split(",") if s.strip()]
    if not splits:
        logger.error("--splits is empty")
        return 2
    try:
        items = {split: load_split(config.data, split)[: config.limit] for split in splits}
        scores = score_benchmark(config, [item for part in items.values() for item in part], config.out_dir,
                                 "processbench")
        result = processbench_result({split: to_cases(part, scores) for split, part in items.items()},
                                     config.threshold)
    except (RecordError, OSError, ValueError) as error:
        logger.error("%s", error)
        return 2
    return report(result, config, write_processbench_report, processbench_markdown)
