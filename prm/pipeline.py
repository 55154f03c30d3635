"""A cached, resumable pipeline of ``prm`` commands: what ``prm quickstart`` is made of.

A :class:`Stage` is one ``prm`` command line and the files it produces. :func:`run_stages` runs the
stages in order, each in its own Python process (``python -m prm.cli ...``), so a stage's memory,
threads and vLLM engine go away with it. Stages that share a ``group`` run at the same time (say,
two trainings of one thread each on a 2-core machine); their output goes to a log file each.

A finished stage leaves a marker ``<state_dir>/<slug>.json`` holding its command line, duration and
finishing time. On the next run a stage is skipped when its marker matches its command line, its outputs
all exist, and no stage it reads from finished after it (:func:`reads_from`: one of its arguments is one of
that stage's outputs, lies under one, or is the folder one sits in; retraining a model reruns what scored
with it). A stage rerun for a newer input starts over (a long job gets ``--no-resume``, so it does not keep
rows scored by the old model); any other stage runs again and resumes its partial outputs (``prm sample``,
``prm score`` and training checkpoints), so a killed pipeline loses little. To redo a stage, delete its
marker; to redo everything, delete the outputs too (``prm quickstart --no-resume``).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from prm.cli_contract import LONG_JOBS

__all__ = ["Stage", "StageFailed", "StageResult", "command_line", "process_argv", "reads_from", "run_stages"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stage:
    """One ``prm`` command (``argv`` without the leading ``prm``) and the paths it writes."""

    name: str
    argv: tuple[str, ...]
    outputs: tuple[str, ...]
    group: str | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-")


@dataclass
class StageResult:
    name: str
    seconds: float
    cached: bool
    command: str


class StageFailed(RuntimeError):
    """A stage's command exited non-zero; the message names the stage, its exit code and log."""


def command_line(stage: Stage) -> str:
    """The stage as a shell command a person can paste."""
    env = " ".join(f"{key}={shlex.quote(value)}" for key, value in stage.env.items())
    return " ".join(part for part in (env, "prm", shlex.join(stage.argv)) if part)


def _marker(stage: Stage, state_dir: Path) -> Path:
    return state_dir / f"{stage.slug}.json"


def _record(stage: Stage, state_dir: Path) -> dict | None:
    """The marker of ``stage`` when it is done with the same command line and its outputs exist, else None."""
    marker = _marker(stage, state_dir)
    if not marker.exists():
        return None
    try:
        record = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if record.get("argv") != list(stage.argv) or not all(Path(p).exists() for p in stage.outputs):
        return None
    return record


def _finished_at(record: dict) -> float:
    """When the marker's stage finished (epoch seconds); older markers have only the formatted time."""
    if "finished_at" in record:
        return float(record["finished_at"])
    try:
        return time.mktime(time.strptime(record.get("finished", ""), "%Y-%m-%d %H:%M:%S"))
    except ValueError:
        return 0.0


def _paths_in(arg: str) -> list[str]:
    """The paths an argument may name: itself, and in a list (``A,B``) each item and the path after a label
    (``beam=runs/x.jsonl``)."""
    items = arg.split(",")
    return [arg, *items, *(item.split("=", 1)[1] for item in items if "=" in item)]


def reads_from(stage: Stage, earlier: Stage) -> bool:
    """Whether one of ``stage``'s arguments is one of ``earlier``'s outputs, lies under one, or is the folder
    an output sits in (a model folder whose ``train_metrics.json`` marks it done); an argument that lists
    paths (comma-separated, ``LABEL=PATH``) reads each of them."""
    outputs = [out.rstrip("/") for out in earlier.outputs]
    return any(arg == out or arg.startswith(out + "/") or str(Path(out).parent) == arg.rstrip("/")
               for out in outputs for given in stage.argv for arg in _paths_in(given))


def process_argv(stage: Stage, fresh: bool) -> list[str]:
    """The command line a stage runs with: ``--no-resume`` added when it must start over and can resume."""
    resumable = bool(stage.argv) and (stage.argv[0] in LONG_JOBS or " ".join(stage.argv[:2]) in LONG_JOBS)
    return [*stage.argv, "--no-resume"] if fresh and resumable else list(stage.argv)


def _start(stage: Stage, log_path: Path | None, fresh: bool) -> subprocess.Popen:
    env = {**os.environ, **stage.env}
    out = log_path.open("w", encoding="utf-8") if log_path else None
    try:
        return subprocess.Popen([sys.executable, "-m", "prm.cli", *process_argv(stage, fresh)], env=env, stdout=out,
                                stderr=subprocess.STDOUT if out else None)
    finally:
        if out:
            out.close()


def _finish(stage: Stage, process: subprocess.Popen, started: float, state_dir: Path,
            log_path: Path | None) -> StageResult:
    code = process.wait()
    seconds = time.perf_counter() - started
    if code != 0:
        where = f"; its log: {log_path}" if log_path else ""
        raise StageFailed(f"stage {stage.name!r} failed with exit code {code}{where}\n  {command_line(stage)}")
    missing = [p for p in stage.outputs if not Path(p).exists()]
    if missing:
        raise StageFailed(f"stage {stage.name!r} finished but did not write {', '.join(missing)}")
    record = {"argv": list(stage.argv), "seconds": seconds, "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
              "finished_at": time.time()}
    _marker(stage, state_dir).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    logger.info("stage %s done in %.1f s", stage.name, seconds)
    return StageResult(stage.name, seconds, False, command_line(stage))


def _run_group(stages: Sequence[Stage], state_dir: Path, position: str, fresh: set[str]) -> list[StageResult]:
    """Run ``stages`` at once (a group) or alone; a lone stage writes to the console, a group to logs. Stages
    named in ``fresh`` (slugs) start over."""
    together = len(stages) > 1
    running = []
    for stage in stages:
        log_path = state_dir / f"{stage.slug}.log" if together else None
        logger.info("%s stage %s: %s%s", position, stage.name, command_line(stage),
                    f" (log: {log_path})" if log_path else "")
        running.append((stage, _start(stage, log_path, stage.slug in fresh), time.perf_counter(), log_path))
    try:
        return [_finish(stage, process, started, state_dir, log) for stage, process, started, log in running]
    finally:
        for _, process, _, _ in running:
            if process.poll() is None:
                process.kill()


def _groups(stages: Sequence[Stage]) -> list[list[Stage]]:
    """Consecutive stages sharing a non-None ``group`` form one group; every other stage is alone."""
    groups: list[list[Stage]] = []
    for stage in stages:
        if groups and stage.group is not None and groups[-1][0].group == stage.group:
            groups[-1].append(stage)
        else:
            groups.append([stage])
    return groups


def run_stages(stages: Sequence[Stage], state_dir: str | Path) -> list[StageResult]:
    """Run (or skip, when cached) every stage in order; raises :class:`StageFailed` on the first failure."""
    state = Path(state_dir)
    state.mkdir(parents=True, exist_ok=True)
    names = [stage.slug for stage in stages]
    if len(set(names)) != len(names):
        raise ValueError(f"stage names must be distinct: {names}")
    results: list[StageResult] = []
    finished: dict[str, float] = {}  # slug -> when the stage (cached or run now) finished
    fresh: set[str] = set()  # stages that start over: an input was rebuilt after them
    done = 0
    for group in _groups(stages):
        todo = []
        for stage in group:
            record = _record(stage, state)
            if record is not None and (newer := _newer_input(stage, stages, finished, _finished_at(record))):
                logger.info("stage %s: its input from stage %s is newer; running it again from scratch",
                            stage.name, newer)
                fresh.add(stage.slug)
                record = None
            if record is None:
                todo.append(stage)
                continue
            done += 1
            finished[stage.slug] = _finished_at(record)
            seconds = float(record.get("seconds", 0.0))
            logger.info("[%d/%d] stage %s: cached (took %.1f s)", done, len(stages), stage.name, seconds)
            results.append(StageResult(stage.name, seconds, True, command_line(stage)))
        if todo:
            position = f"[{done + 1}{f'-{done + len(todo)}' if len(todo) > 1 else ''}/{len(stages)}]"
            results.extend(_run_group(todo, state, position, fresh))
            finished.update({stage.slug: time.time() for stage in todo})
            done += len(todo)
    return results


def _newer_input(stage: Stage, stages: Sequence[Stage], finished: dict[str, float], own: float) -> str | None:
    """The name of an earlier stage ``stage`` reads from that finished after ``own``, else None."""
    for earlier in stages[: stages.index(stage)]:
        if earlier.slug in finished and finished[earlier.slug] > own and reads_from(stage, earlier):
            return earlier.name
    return None
