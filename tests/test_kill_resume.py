"""``kill -9`` at random points of the long commands, resumed after each kill: the output ends complete, with
nothing duplicated, and equal to an uninterrupted run's.

:func:`kill_and_resume` runs a command once uninterrupted in ``reference/`` (timing it), then again in
``killed/``, SIGKILLing its process group ``kills`` times (10) and rerunning the same command after each kill,
then once more to completion. Kill ``i`` fires at whichever comes first: a delay drawn (seeded) between 0.3 s
and the reference run's duration, or, when the job reports progress (output lines, journal rows,
checkpoints), once this attempt has added about a ``1 / (kills + 1)`` share of the job plus a random part of
one unit's time, so the kills are spread over the whole job instead of all landing in its first seconds. A
kill that finds the process already exited does not count: :class:`KillRun` records each kill (trigger, time,
progress before and after, landed or not) and the tests print the tally. :func:`assert_same_outputs` then
compares the two folders file by file: the same files, JSON and JSONL equal after dropping the fields that
measure time or the process (``TIMING_KEYS``), weights and torch pickles equal tensor for tensor, everything
else byte-equal.

One test per job: ``prm sample`` (HF backend, seeded per problem), ``prm label --method mc`` and ``--method
bisect`` (journalled per chunk, seeded per chunk), ``prm score`` (appended chunks), ``prm train`` (Trainer
checkpoints), ``prm grpo`` (its own checkpoint, metrics cut back to it, HF generation seeded per step) and
``prm search --strategy beam`` (journalled per batch of problems, HF calls seeded). Each job's files that
describe only the last process (``*_metrics.json``: rows, seconds and throughput of that run) are checked
for validity, not equality; each test's docstring says what else, if anything, is left out and why. The quick
tests cover the pieces that make resuming safe: the journal's torn-tail recovery, the checkpoint a
half-written save leaves, and a ``prm train`` rerun whose last checkpoint already holds every step.
"""

from __future__ import annotations

import fnmatch
import json
import math
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
from tiny_policy import solution_text, write_problems

from data.journal import JournalMismatch, RowJournal
from prm.train.config import TrainConfig
from prm.train.trainer import _resume_point

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


def _prm(*args: str) -> list[str]:
    return [sys.executable, "-m", "prm.cli", *args]


def _lines(path: Path) -> int:
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


# ---- quick: the pieces ---------------------------------------------------------------------------------------


def test_journal_recovers_a_torn_tail_and_refuses_other_settings(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with RowJournal(path, key=lambda r: r["key"], meta={"k": 4}) as journal:
        journal.append([{"key": "a", "v": 1}, {"key": "b", "v": 2}])
        with pytest.raises(ValueError, match="already"):
            journal.append([{"key": "a", "v": 3}])
    intact = path.read_bytes()
    with path.open("ab") as handle:  # a kill inside the next write
        handle.write(b'{"key": "c", "v"')
    with RowJournal(path, key=lambda r: r["key"], meta={"k": 4}) as journal:
        assert list(journal.rows) == ["a", "b"] and path.read_bytes() == intact
        assert journal.done("b") and not journal.done("c")
        journal.append([{"key": "c", "v": 3}])
    assert [json.loads(line)["key"] for line in path.read_text().splitlines()] == ["a", "b", "c"]
    with pytest.raises(JournalMismatch, match="k: 4 -> 8"):
        RowJournal(path, key=lambda r: r["key"], meta={"k": 8})
    path.write_text('{"key": "a"}\n{"key": "a"}\n')
    with pytest.raises(JournalMismatch, match="twice"):
        RowJournal(path, key=lambda r: r["key"])


def test_resume_skips_a_half_written_checkpoint(tmp_path: Path) -> None:
    folder = tmp_path / "prm" / "checkpoints"
    for step, complete in ((2, True), (4, True), (6, False)):
        (folder / f"checkpoint-{step}").mkdir(parents=True)
        (folder / f"checkpoint-{step}" / "model.safetensors").write_bytes(b"weights")
        if complete:
            (folder / f"checkpoint-{step}" / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    (folder / "checkpoint-8").mkdir()
    (folder / "checkpoint-8" / "trainer_state.json").write_text('{"global_st')  # killed while writing it
    config = TrainConfig(data="d", out_dir=str(tmp_path / "prm"), resume=True)
    assert _resume_point(config) == str(folder / "checkpoint-4")
    assert sorted(p.name for p in folder.iterdir()) == ["checkpoint-2", "checkpoint-4"]
    config.resume = False
    assert _resume_point(config) is None


def test_rerunning_a_finished_train_trains_no_more_steps(backbone: Path, tmp_path: Path,
                                                         torch_one_thread: None) -> None:
    """A kill between ``prm train``'s last checkpoint and its final save leaves a checkpoint holding every step;
    the Trainer resumed from it would train one step more (checkpoint-7 of a 6-step run, unless the steps end an
    epoch), so the rerun stops before any step and saves the checkpoint's weights. Rerunning a finished run is
    the same case."""
    from prm.cli import main

    out = tmp_path / "prm"
    argv = ["train", "--data", str(_rows_file(tmp_path / "rows.jsonl", 16)), "--model", str(backbone), "--max-steps",
            "6", "--save-steps", "3", "--batch-size", "4", "--lr", "3e-3", "--warmup-ratio", "0", "--eval-fraction",
            "0", "--eval-problems", "none", "--threads", "1", "--device", "cpu", "--out-dir", str(out)]
    assert main(argv) == 0
    weights = (out / "model.safetensors").read_bytes()
    (out / "model.safetensors").unlink()  # as if killed before the final save
    assert main(argv) == 0
    assert _checkpoint_steps(out / "checkpoints") == [3, 6]
    assert (out / "model.safetensors").read_bytes() == weights
    metrics = json.loads((out / "train_metrics.json").read_text())
    assert metrics["global_step"] == 6 and math.isnan(metrics["train_loss"])  # no step trained by this process


# ---- slow: real kills, 10 per job ---------------------------------------------------------------------------


def _problems(path: Path, count: int, wrong_every: int = 0) -> Path:
    """``count`` addition problems with reference solutions; with ``wrong_every`` every such solution has a
    wrong sum (for ``--method bisect``, which only searches solutions whose answer is wrong)."""
    rows = []
    for i in range(count):
        a, b = 1 + i % 9, 1 + i // 9 % 9
        solution = solution_text(a, b)
        if wrong_every and i % wrong_every == 0:
            solution = solution.replace(f"get {a + b}", f"get {a + b + 1}").replace(f"{{{a + b}}}", f"{{{a + b + 1}}}")
        rows.append({"id": f"p{i:03d}", "problem": f"{a}+{b}", "answer": str(a + b), "source": "test",
                     "solution": solution})
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.mark.slow
def test_sample_killed_10_times_equals_an_uninterrupted_run(tiny_policy: Path, tmp_path: Path) -> None:
    """``prm sample --backend hf``: one problem per generate call, seeded by its position, so the samples do not
    depend on where a run resumed; the output is byte-equal. (vLLM's engine is seeded once, so a resumed vLLM
    run is complete and valid but not equal; that backend needs a GPU and is not run here.)"""
    problems = _problems(tmp_path / "problems.jsonl", 30)
    command = _prm("sample", "--backend", "hf", "--model", str(tiny_policy), "--problems", str(problems), "--n", "4",
                   "--max-new-tokens", "40", "--batch-problems", "1", "--device", "cpu", "--output", "samples.jsonl")
    run = kill_and_resume("sample", command, tmp_path, lambda folder: _lines(folder / "samples.jsonl") // 4)
    rows = read_rows(run.killed / "samples.jsonl")
    assert len(rows) == 30 * 4 and {row["problem_id"] for row in rows} == {f"p{i:03d}" for i in range(30)}
    assert_unique(rows, lambda row: (row["problem_id"], row["sample_idx"]))
    assert_same_outputs(run, per_run=["samples_metrics.json"])
    assert run.landed >= 5


def _label(method: str, problems: Path, policy: Path) -> list[str]:
    return _prm("label", "--method", method, "--problems", str(problems), "--model", str(policy), "--backend", "hf",
                "--k", "3", "--max-new-tokens", "30", "--mc-chunk", "2", "--output", "labels.jsonl")


def _labelled(folder: Path) -> int:
    """Solutions labelled: the journal's rows until the output is written (and the journal removed)."""
    out = folder / "labels.jsonl"
    return _lines(out) if out.exists() else _lines(folder / "labels.jsonl.partial.jsonl")


@pytest.mark.slow
@pytest.mark.parametrize("method", ["mc", "bisect"])
def test_label_killed_10_times_equals_an_uninterrupted_run(tiny_policy: Path, tmp_path: Path, method: str) -> None:
    """``prm label --method mc|bisect``: each chunk of 2 solutions is journalled when labelled and its rollouts
    are seeded by the chunk's position, so the labels do not depend on where a run resumed; the output is
    byte-equal and the journal is gone. For bisect every second reference solution has a wrong answer, so
    half the solutions are searched (1-2 rounds of rollouts each)."""
    problems = _problems(tmp_path / "problems.jsonl", 16 if method == "mc" else 24, wrong_every=2)
    run = kill_and_resume(f"label {method}", _label(method, problems, tiny_policy), tmp_path, _labelled)
    rows = read_rows(run.killed / "labels.jsonl")
    assert len(rows) == (16 if method == "mc" else 24)
    assert_unique(rows, lambda row: row["problem_id"])
    if method == "bisect":
        assert sum(row["rollouts"] > 0 for row in rows) == 12
    assert_same_outputs(run)  # labels.jsonl.partial.jsonl: in neither folder
    assert run.landed >= 5


@pytest.mark.slow
def test_score_killed_10_times_equals_an_uninterrupted_run(backbone: Path, tmp_path: Path) -> None:
    """``prm score``: chunks of 8 rows appended and fsync'd; a resumed run starts at a chunk boundary, so its
    batches are the same as an uninterrupted run's and the scores byte-equal."""
    from prm.model.tiny import save_tiny_prm

    prm = save_tiny_prm(tmp_path / "prm", backbone)
    samples = tmp_path / "samples.jsonl"
    rows = [{"problem_id": f"p{i // 4}", "sample_idx": i % 4, "problem": f"{i % 9}+{i % 7}",
             "text": f"add {i % 9} {i % 7}\n\nget {i % 9 + i % 7 + i % 2}\n\n\\boxed{{{i % 9 + i % 7}}}"}
            for i in range(400)]
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    command = _prm("score", "--samples", str(samples), "--prm", str(prm), "--chunk-rows", "8", "--batch-size", "4",
                   "--device", "cpu", "--threads", "1", "--output", "scored.jsonl")
    run = kill_and_resume("score", command, tmp_path, lambda folder: _lines(folder / "scored.jsonl") // 8)
    got = read_rows(run.killed / "scored.jsonl")
    assert [(r["problem_id"], r["sample_idx"]) for r in got] == [(r["problem_id"], r["sample_idx"]) for r in rows]
    assert_same_outputs(run, per_run=["scored_metrics.json"])
    assert run.landed >= 5


def _rows_file(path: Path, count: int) -> Path:
    rows = []
    for i in range(count):
        a, b = 1 + i % 9, 1 + i // 9 % 9
        wrong = i % 3 == 0
        rows.append({"prompt": f"{a}+{b}", "completions": [f"add {a} {b}", f"get {a + b + wrong}",
                                                            f"\\boxed{{{a + b + wrong}}}"],
                     "labels": [1.0, 0.0 if wrong else 1.0, 0.0 if wrong else 1.0], "problem_id": f"p{i}"})
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def backbone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from prm.model.tiny import save_tiny_backbone

    texts = [f"{a}+{b}\nadd {a} {b}\n\nget {a + b}\n\n\\boxed{{{a + b}}}" for a in range(1, 10) for b in range(1, 10)]
    return save_tiny_backbone(tmp_path_factory.mktemp("backbone"), texts)


def _checkpoint_steps(folder: Path) -> list[int]:
    """The steps of the complete Trainer checkpoints in ``folder`` (``trainer_state.json`` is written last)."""
    steps = []
    for checkpoint in folder.glob("checkpoint-*"):
        try:
            json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        steps.append(int(checkpoint.name.split("-")[1]))
    return sorted(steps)


@pytest.mark.slow
def test_train_killed_10_times_equals_an_uninterrupted_run(backbone: Path, tmp_path: Path) -> None:
    """``prm train``: a rerun resumes from the last complete Trainer checkpoint (weights, optimizer, scheduler,
    RNG and data position restored). Every checkpoint and the final model are byte-equal to an uninterrupted
    run's, and so is everything else but two numbers the Hugging Face Trainer derives from the losses of its
    own process (it keeps no running loss sum in a checkpoint):

    - ``train_metrics.json``'s ``train_loss`` (the Trainer's ``train_loss``) is the mean loss of the steps the
      last process trained, not of the run (NaN when the last rerun found every step in its checkpoint): left
      out;
    - ``trainer_state.json``'s ``log_history`` loss averages the steps since the previous log, or since the
      resume when a log window straddles the checkpoint resumed from: logging at the checkpoint steps
      (``--logging-steps`` = ``--save-steps``) keeps every logged loss equal, so it is compared.

    440 steps are not a whole number of epochs (16 steps each): a kill after the last checkpoint then made the
    rerun train a step 441 before ``StopWhenTrained`` (see the quick test above)."""
    data = _rows_file(tmp_path / "rows.jsonl", 64)
    command = _prm("train", "--data", str(data), "--model", str(backbone), "--max-steps", "440", "--save-steps",
                   "40", "--logging-steps", "40", "--save-total-limit", "2", "--batch-size", "4", "--lr", "3e-3",
                   "--warmup-ratio", "0", "--eval-fraction", "0", "--eval-problems", "none", "--threads", "1",
                   "--device", "cpu", "--out-dir", "prm")

    def saved(folder: Path) -> int:
        steps = _checkpoint_steps(folder / "prm" / "checkpoints")
        return steps[-1] // 40 if steps else 0

    run = kill_and_resume("train", command, tmp_path, saved)
    assert "resuming from prm/checkpoints/checkpoint-" in (tmp_path / "killed.log").read_text()
    assert _checkpoint_steps(run.killed / "prm" / "checkpoints") == [400, 440]
    state = json.loads((run.killed / "prm" / "checkpoints" / "checkpoint-440" / "trainer_state.json").read_text())
    assert state["global_step"] == 440 and [e["step"] for e in state["log_history"]] == list(range(40, 441, 40))
    assert json.loads((run.killed / "prm" / "train_metrics.json").read_text())["global_step"] == 440
    assert_same_outputs(run, drop={"train_loss"})
    assert run.landed >= 5


@pytest.mark.slow
def test_grpo_killed_10_times_equals_an_uninterrupted_run(tiny_policy: Path, tmp_path: Path) -> None:
    """``prm grpo`` (HF generation): a rerun continues from ``out/checkpoint`` (weights, optimizer, counters,
    torch RNG), ``metrics.jsonl`` is cut back to the checkpoint's step, the prompts of a step are a pure function
    of (seed, step) and each step's generation is seeded with seed + step. So every file equals an uninterrupted
    run's but for the fields that measure time: the final policy and the checkpoint (weights, optimizer state,
    counters, torch RNG) tensor for tensor, ``metrics.jsonl`` line for line (each step once), the held-out
    evaluations at start and end. Kills after the last step land in the final evaluation or save."""
    problems = write_problems(tmp_path / "problems.jsonl", 12)
    command = _prm("grpo", "--model", str(tiny_policy), "--problems", str(problems), "--eval-data", str(problems),
                   "--eval-problems", "4", "--eval-samples", "2", "--max-steps", "12", "--checkpoint-steps", "2",
                   "--group-size", "4", "--prompts-per-step", "2", "--max-new-tokens", "24", "--micro-batch", "8",
                   "--rewards", "answer:1.0,length:0.5", "--lr", "3e-3", "--threads", "1", "--device", "cpu",
                   "--out-dir", "grpo")
    run = kill_and_resume("grpo", command, tmp_path, lambda folder: _lines(folder / "grpo" / "metrics.jsonl"))
    assert "resuming from grpo/checkpoint" in (tmp_path / "killed.log").read_text()
    lines = read_rows(run.killed / "grpo" / "metrics.jsonl")
    assert [line["step"] for line in lines] == list(range(1, 13))
    assert_same_outputs(run)
    assert run.landed >= 5


@pytest.mark.slow
def test_search_killed_10_times_equals_an_uninterrupted_run(tiny_policy: Path, tmp_path: Path) -> None:
    """``prm search --strategy beam --backend hf``: each problem (``--batch-problems 1``) is journalled when
    searched and its generate calls are seeded from its position, so the rows equal an uninterrupted run's
    except ``compute.wall_s``."""
    problems = write_problems(tmp_path / "problems.jsonl", 8)
    command = _prm("search", "--strategy", "beam", "--model", str(tiny_policy), "--prm", "step_checker",
                   "--problems", str(problems), "--backend", "hf", "--device", "cpu", "--threads", "1", "--n", "4",
                   "--beam-width", "2", "--max-new-tokens", "48", "--max-iterations", "6", "--batch-problems", "1",
                   "--workers", "1", "--output", "search.jsonl")
    run = kill_and_resume("search", command, tmp_path, lambda folder: _lines(folder / "search.jsonl"))
    rows = read_rows(run.killed / "search.jsonl")
    assert [row["problem_id"] for row in rows] == [f"p{i:03d}" for i in range(8)]
    assert_same_outputs(run, per_run=["search_metrics.json"])
    assert run.landed >= 5
