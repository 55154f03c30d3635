"""``prm eval prmbench --prm PRM --data FILE|FOLDER|HUB_ID``: PRMBench's PRMScore of a PRM, per error category.

Reads PRMBench items in the published schema (default the hub data set ``hitsmy/PRMBench_Preview``; the
shared copy ``../shared/datasets/prmbench/subset400.jsonl`` works offline), scores every sample's steps with
``--prm`` (or ``step_checker``), keeping the scores in ``OUT_DIR/step_scores.jsonl`` (a rerun rescores
nothing), and writes ``prmbench.md``, ``prmbench.json`` and ``prmbench_classes.png``: the overall PRMScore,
the simplicity / soundness / sensitivity averages, each error class, and a ProcessBench-style first-error
block (:mod:`eval.benchmarks.prmbench`).
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
class EvalPRMBenchConfig(BenchmarkConfig):
    data: str = field(default="hitsmy/PRMBench_Preview", metadata={
        "help": "hub id, or a local JSONL file or folder of them in the published schema"})
    out_dir: str = shared("out_dir", "runs/prmbench", "the report and the step scores")


CONFIG = EvalPRMBenchConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No positional arguments: everything is an option of ``EvalPRMBenchConfig``."""


def _limited(samples: list, limit: int | None) -> list:
    if limit is None:
        return samples
    kept: dict[str, int] = {}
    out = []
    for sample in samples:
        if kept.get(sample.classification, 0) < limit:
            kept[sample.classification] = kept.get(sample.classification, 0) + 1
            out.append(sample)
    return out


def run(config: EvalPRMBenchConfig, args: argparse.Namespace) -> int:
    from eval.benchmarks.prmbench import load_samples, prmbench_result
    from eval.benchmarks.render import prmbench_markdown, write_prmbench_report

    try:
        samples = _limited(load_samples(config.data), config.limit)
        scores = score_benchmark(config, samples, config.out_dir, "prmbench")
        result = prmbench_result(samples, scores, config.threshold)
    except (RecordError, OSError, ValueError) as error:
        logger.error("%s", error)
        return 2
    return report(result, config, write_prmbench_report, prmbench_markdown)
