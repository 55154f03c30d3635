"""The kill-and-resume harness of ``tests/test_kill_resume.py``: run a ``prm`` command once uninterrupted, then
again with SIGKILLs at seeded points and a rerun after each, and compare the two output folders.

:func:`kill_and_resume` runs a command once uninterrupted in ``reference/`` (timing it), then again in
``killed/``, SIGKILLing its process group ``kills`` times (10) and rerunning the same command after each kill,
then once more to completion. Kill ``i`` fires at whichever comes first: a delay drawn (seeded) between 0.3 s
and the reference run's duration, or, when the job reports progress (output lines, journal rows,
checkpoints), once this attempt has added about a ``1 / (kills + 1)`` share of the job plus a random part of
one unit's time, so the kills are spread over the whole job instead of all landing in its first seconds. A
kill that finds the process already exited does not count: :class:`KillRun` records each kill (trigger, time,
progress before and after, landed or not). :func:`assert_same_outputs` then compares the two folders file by
file: the same files, JSON and JSONL equal after dropping the fields that measure time or the process
(``TIMING_KEYS``), weights and torch pickles equal tensor for tensor, everything else byte-equal.
"""

from __future__ import annotations

import fnmatch
import json
import os
import random
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]

# Fields that measure time, speed or the process that wrote them: a resumed run cannot repeat them.
TIMING_KEYS = frozenset({
    "seconds", "wall_s", "elapsed_s", "train_seconds", "tokens_per_s", "tokens_per_second", "rows_per_s",
    "peak_memory_mb", "train_runtime", "train_samples_per_second", "train_steps_per_second",
    "train_tokens_per_second",
})
TIMING_PREFIXES = ("time/",)  # prm grpo's metrics.jsonl: time/generation_s, time/update_share, ...


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(REPO)}


def prm_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "prm.cli", *args]


def count_lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def untimed(value: Any, drop: frozenset[str] = TIMING_KEYS) -> Any:
    """``value`` with every dict entry named in ``drop`` (or starting with ``TIMING_PREFIXES``) dropped."""
    if isinstance(value, dict):
        return {k: untimed(v, drop) for k, v in value.items()
                if k not in drop and not (isinstance(k, str) and k.startswith(TIMING_PREFIXES))}
    if isinstance(value, list):
        return [untimed(v, drop) for v in value]
    return value


def read_rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def assert_unique(rows: Iterable[dict[str, Any]], key: Callable[[dict[str, Any]], Hashable]) -> None:
    seen: set[Hashable] = set()
    for row in rows:
        assert key(row) not in seen, f"{key(row)!r} is in the output twice"
        seen.add(key(row))


# ---- the kill-and-resume driver -------------------------------------------------------------------------------


@dataclass
class Kill:
    """One kill attempt: what fired it, when (seconds after that attempt started), the job's progress before the
    attempt and after the kill, and whether it landed (the process was still running and died of SIGKILL)."""

    trigger: str  # "time", "progress", or "exited" (the attempt finished before either fired)
    at_s: float
    before: int | None
    after: int | None
    landed: bool


@dataclass
class KillRun:
    name: str
    reference: Path
    killed: Path
    reference_s: float
    unit_s: float | None  # the reference run's seconds per unit of progress
    total: int | None  # the reference run's final progress
    kills: list[Kill] = field(default_factory=list)
    runs: int = 0  # processes started in killed/, the last one uninterrupted
    wall_s: float = 0.0
    cpu_s: float = 0.0  # user + system seconds of every process started, the reference's included

    @property
    def landed(self) -> int:
        return sum(kill.landed for kill in self.kills)

    def summary(self) -> str:
        moved = sum(k.landed and k.before is not None and k.after is not None and k.after > k.before
                    for k in self.kills)
        triggers = ", ".join(f"{k.trigger}@{k.at_s:.1f}s{'' if k.landed else ' (missed)'}"
                             + (f" {k.before}->{k.after}" if k.before is not None else "") for k in self.kills)
        return (f"KILLS {self.name}: {self.landed}/{len(self.kills)} landed ({moved} after new progress), "
                f"{self.runs} runs, reference {self.reference_s:.1f} s, total {self.wall_s:.1f} s "
                f"({self.cpu_s:.1f} CPU s); {triggers}")


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _finish(process: subprocess.Popen, log: Path, timeout_s: float) -> None:
    try:
        code = process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        pytest.fail(f"still running after {timeout_s} s: {log.read_text()[-3000:]}")
    assert code == 0, f"exit {code}: {log.read_text()[-3000:]}"


def kill_and_resume(name: str, command: list[str], tmp_path: Path, progress: Callable[[Path], int] | None = None,
                    kills: int = 10, seed: int = 0, min_delay_s: float = 0.3, timeout_s: float = 600) -> KillRun:
    """Run ``command`` (cwd: the run's folder, so give it relative output paths) uninterrupted in
    ``tmp_path/reference``, then in ``tmp_path/killed`` with ``kills`` SIGKILLs of its process group at random
    points, rerunning it after each, then once more to completion. ``progress(folder)`` counts the job's finished
    units there (output lines, journal rows, checkpoints); without it the kills are timed only."""
    rng = random.Random(seed)
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    reference.mkdir()
    killed.mkdir()
    began, cpu = time.monotonic(), _children_cpu_s()

    # the reference, timed; with progress, the time of its first and last unit too
    log = tmp_path / "reference.log"
    with log.open("w") as handle:
        process = subprocess.Popen(command, env=_env(), cwd=reference, stdout=handle, stderr=handle,
                                   start_new_session=True)
        first: float | None = None
        last, seen = 0.0, 0
        while process.poll() is None and time.monotonic() - began < timeout_s:
            if progress is not None and (now := progress(reference)) > seen:
                last, seen = time.monotonic() - began, now
                first = last if first is None else first
            time.sleep(0.05)
        _finish(process, log, max(1.0, timeout_s - (time.monotonic() - began)))
    reference_s = time.monotonic() - began
    total = progress(reference) if progress is not None else None
    unit_s = (last - first) / (seen - 1) if first is not None and seen > 1 else None
    run = KillRun(name, reference, killed, reference_s, unit_s, total)
    assert total is None or total > 1, f"{name}: the reference made no measurable progress ({total})"

    log = tmp_path / "killed.log"
    finished = False
    for _ in range(kills):
        delay = rng.uniform(min_delay_s, max(min_delay_s, reference_s))
        share = max(1, round((total or 0) * rng.uniform(0.5, 1.5) / (kills + 1)))
        jitter = rng.uniform(0, unit_s or 0)
        before = progress(killed) if progress is not None else None
        target = None if before is None else before + share
        with log.open("a") as handle:
            handle.write(f"\n==== run {run.runs + 1}: kill at {delay:.2f} s or at progress {target} + {jitter:.2f} s\n")
            handle.flush()
            start = time.monotonic()
            process = subprocess.Popen(command, env=_env(), cwd=killed, stdout=handle, stderr=handle,
                                       start_new_session=True)
            run.runs += 1
            reached, trigger = None, "exited"
            while process.poll() is None:
                now = time.monotonic() - start
                if now >= delay:
                    trigger = "time"
                    break
                if reached is None and target is not None and progress(killed) >= target:
                    reached = now
                if reached is not None and now >= reached + jitter:
                    trigger = "progress"
                    break
                time.sleep(0.02)
            at = time.monotonic() - start
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:  # the whole group had already exited
                pass
            code = process.wait()
        landed = code == -signal.SIGKILL
        run.kills.append(Kill(trigger if landed else "exited", at, before,
                              progress(killed) if progress is not None else None, landed))
        if not landed:
            assert code == 0, f"{name}: run {run.runs} exited {code}: {log.read_text()[-3000:]}"
            finished = True  # the job completed before this kill: there is nothing left to interrupt
            break
    if not finished:
        with log.open("a") as handle:
            handle.write(f"\n==== run {run.runs + 1}: to the end\n")
            handle.flush()
            process = subprocess.Popen(command, env=_env(), cwd=killed, stdout=handle, stderr=handle,
                                       start_new_session=True)
            run.runs += 1
            _finish(process, log, timeout_s)
    run.wall_s, run.cpu_s = time.monotonic() - began, _children_cpu_s() - cpu
    print(run.summary())
    return run


def _files(folder: Path) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file()}


def _same(x: Any, y: Any, where: str, atol: float, drop: frozenset[str] = TIMING_KEYS) -> None:
    """``x == y`` for what ``torch.load`` returns (dicts, sequences, tensors, arrays), dict entries named in
    ``drop`` left out; tensors within ``atol``."""
    import numpy as np
    import torch

    if isinstance(x, dict):
        x, y = untimed(x, drop), untimed(y, drop)
        assert x.keys() == y.keys(), f"{where}: keys {sorted(map(str, x))} != {sorted(map(str, y))}"
        for key in x:
            _same(x[key], y[key], f"{where}.{key}", atol, drop)
    elif isinstance(x, (list, tuple)):
        assert type(x) is type(y) and len(x) == len(y), where
        for i, (a, b) in enumerate(zip(x, y, strict=True)):
            _same(a, b, f"{where}[{i}]", atol, drop)
    elif isinstance(x, torch.Tensor):
        assert isinstance(y, torch.Tensor) and x.shape == y.shape and x.dtype == y.dtype, where
        if not torch.equal(x, y):
            assert x.is_floating_point() and torch.allclose(x, y, atol=atol, rtol=0), \
                f"{where} differs by {float((x.double() - y.double()).abs().max()):.3g}"
    elif isinstance(x, np.ndarray):
        assert np.array_equal(x, y), where
    else:
        assert x == y or (x != x and y != y), f"{where}: {x!r} != {y!r}"  # NaN == NaN


def assert_same_outputs(run: KillRun, per_run: Iterable[str] = (), atol: float = 0.0,
                        drop: Iterable[str] = ()) -> None:
    """The killed-and-resumed folder holds the reference's files and no others, each equal to it: JSON and
    JSONL after :func:`untimed` (``drop``: more fields to leave out), safetensors and torch pickles (``.pt``,
    ``.pth``, ``.bin``) tensor by tensor (within ``atol``, where not byte-equal), the rest byte for byte. Files
    matching ``per_run`` (globs) describe only the last process that did some work: valid JSON where present
    (absent when the last rerun found everything done), not compared."""
    keys, per_run = TIMING_KEYS | frozenset(drop), tuple(per_run)

    def last_run_only(name: str) -> bool:
        return any(fnmatch.fnmatch(name, pattern) for pattern in per_run)

    want, got = _files(run.reference), _files(run.killed)
    missing = {name for name in want - got if not last_run_only(name)}  # a last run with nothing to do writes none
    assert not missing and got <= want, f"{run.name}: missing {sorted(missing)}, extra {sorted(got - want)}"
    for name in sorted(got):
        a, b = run.reference / name, run.killed / name
        if last_run_only(name):
            json.loads(b.read_text(encoding="utf-8"))
        elif name.endswith(".jsonl"):
            _same(read_rows(b), read_rows(a), f"{run.name}: {name}", atol, keys)
        elif name.endswith(".json"):
            _same(json.loads(b.read_text()), json.loads(a.read_text()), f"{run.name}: {name}", atol, keys)
        elif a.read_bytes() == b.read_bytes():
            continue
        elif name.endswith(".safetensors"):
            from safetensors.torch import load_file

            _same(load_file(str(a)), load_file(str(b)), f"{run.name}: {name}", atol, keys)
        elif name.endswith((".pt", ".pth", ".bin")):
            import torch

            _same(torch.load(a, weights_only=False), torch.load(b, weights_only=False), f"{run.name}: {name}", atol,
                  keys)
        else:
            pytest.fail(f"{run.name}: {name} differs")
