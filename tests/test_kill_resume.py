"""``kill -9`` in the middle of the long commands, then rerun: outputs complete, nothing duplicated, and the
same content as an uninterrupted run where the command is deterministic.

Each kill waits until partial output exists (output lines, journal rows, a checkpoint), then SIGKILLs the
process group. ``prm sample`` (HF backend), ``prm label --method mc`` (journalled per chunk), ``prm train``
(Trainer checkpoints, ``--resume``) and ``prm score`` (appended chunks). The quick tests cover the pieces
that make resuming safe: the journal's torn-tail recovery and the checkpoint a half-written save leaves.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from tiny_policy import solution_text

from data.journal import JournalMismatch, RowJournal
from prm.train.config import TrainConfig
from prm.train.trainer import _resume_point

REPO = Path(__file__).resolve().parents[1]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(REPO)}


def _prm(*args: str) -> list[str]:
    return [sys.executable, "-m", "prm.cli", *args]


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    done = subprocess.run(command, env=_env(), cwd=cwd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def kill_midway(command: list[str], cwd: Path, ready: Callable[[], bool], timeout_s: float = 300) -> None:
    """Start ``command`` in its own process group, SIGKILL the group once ``ready()``; fail if it finished first."""
    with (cwd / "killed.log").open("w") as log:
        process = subprocess.Popen(command, env=_env(), cwd=cwd, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while process.poll() is None and time.monotonic() < deadline and not ready():
            time.sleep(0.05)
        finished = process.poll() is not None
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert not finished, f"the run ended before the kill: {(cwd / 'killed.log').read_text()[-2000:]}"


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


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


# ---- slow: real kills ----------------------------------------------------------------------------------------


def _problems(path: Path, count: int) -> Path:
    rows = [{"id": f"p{i:03d}", "problem": f"{1 + i % 9}+{1 + i // 9 % 9}", "answer": str(2 + i % 9 + i // 9 % 9),
             "source": "test", "solution": solution_text(1 + i % 9, 1 + i // 9 % 9)} for i in range(count)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.mark.slow
def test_sample_killed_and_resumed_equals_an_uninterrupted_run(tiny_policy: Path, tmp_path: Path) -> None:
    problems = _problems(tmp_path / "problems.jsonl", 30)
    # One problem per generate call, seeded by its position: the samples do not depend on where a run resumed.
    args = ["sample", "--backend", "hf", "--model", str(tiny_policy), "--problems", str(problems), "--n", "4",
            "--max-new-tokens", "40", "--batch-problems", "1", "--device", "cpu"]
    _run(_prm(*args, "--output", "whole.jsonl"), tmp_path)
    out = tmp_path / "killed.jsonl"
    kill_midway(_prm(*args, "--output", out.name), tmp_path, lambda: _lines(out) >= 3 * 4)
    assert 3 * 4 <= _lines(out) < 30 * 4
    _run(_prm(*args, "--output", out.name), tmp_path)
    assert out.read_bytes() == (tmp_path / "whole.jsonl").read_bytes()


@pytest.mark.slow
def test_label_mc_killed_and_resumed_equals_an_uninterrupted_run(tiny_policy: Path, tmp_path: Path) -> None:
    problems = _problems(tmp_path / "problems.jsonl", 16)
    args = ["label", "--method", "mc", "--problems", str(problems), "--model", str(tiny_policy), "--backend", "hf",
            "--k", "3", "--max-new-tokens", "30", "--mc-chunk", "2"]
    _run(_prm(*args, "--output", "whole.jsonl"), tmp_path)
    out, journal = tmp_path / "killed.jsonl", tmp_path / "killed.jsonl.partial.jsonl"
    kill_midway(_prm(*args, "--output", out.name), tmp_path, lambda: _lines(journal) >= 4)
    assert not out.exists() and 4 <= _lines(journal) < 16
    before = journal.read_bytes()
    done = _run(_prm(*args, "--output", out.name), tmp_path)
    assert "already labelled" in done.stderr
    assert out.read_bytes() == (tmp_path / "whole.jsonl").read_bytes()
    assert not journal.exists() and _lines(out) == 16 and before  # the journal is gone once the output is written


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


@pytest.mark.slow
def test_train_killed_resumes_from_its_last_checkpoint(backbone: Path, tmp_path: Path) -> None:
    data = _rows_file(tmp_path / "rows.jsonl", 64)
    args = ["train", "--data", str(data), "--model", str(backbone), "--max-steps", "30", "--save-steps", "3",
            "--batch-size", "4", "--lr", "3e-3", "--warmup-ratio", "0", "--eval-fraction", "0", "--threads", "1",
            "--save-total-limit", "3", "--logging-steps", "100"]
    out = tmp_path / "killed"
    checkpoints = out / "checkpoints"

    def has_checkpoint() -> bool:
        return any((c / "trainer_state.json").exists() for c in checkpoints.glob("checkpoint-*")) \
            if checkpoints.is_dir() else False

    kill_midway(_prm(*args, "--out-dir", str(out)), tmp_path, has_checkpoint)
    steps = [int(c.name.split("-")[1]) for c in checkpoints.glob("checkpoint-*") if (c / "trainer_state.json").exists()]
    last = max(steps)
    assert last < 30 and not (out / "model.safetensors").exists()
    (checkpoints / "checkpoint-99").mkdir()  # as if a later save had been cut short: no trainer_state.json
    (checkpoints / "checkpoint-99" / "model.safetensors").write_bytes(b"half")
    resumed = _run(_prm(*args, "--out-dir", str(out), "--resume"), tmp_path)
    assert f"resuming from {checkpoints / f'checkpoint-{last}'}" in resumed.stderr
    assert "checkpoint-99 is incomplete" in resumed.stderr
    state = json.loads((checkpoints / "checkpoint-30" / "trainer_state.json").read_text())
    assert state["global_step"] == 30 and state["max_steps"] == 30
    assert json.loads((out / "train_metrics.json").read_text())["global_step"] == 30
    assert (out / "model.safetensors").exists() and (out / "prm_config.json").exists()

    import torch
    from transformers import AutoModelForTokenClassification

    _run(_prm(*args, "--out-dir", str(tmp_path / "whole")), tmp_path)
    whole = AutoModelForTokenClassification.from_pretrained(tmp_path / "whole").state_dict()
    again = AutoModelForTokenClassification.from_pretrained(out).state_dict()
    for name, value in whole.items():
        assert torch.allclose(value, again[name], atol=1e-5), name


@pytest.mark.slow
def test_score_killed_and_resumed_matches_an_uninterrupted_run(backbone: Path, tmp_path: Path) -> None:
    from prm.model.tiny import save_tiny_prm

    prm = save_tiny_prm(tmp_path / "prm", backbone)
    samples = tmp_path / "samples.jsonl"
    rows = [{"problem_id": f"p{i // 4}", "sample_idx": i % 4, "problem": f"{i % 9}+{i % 7}",
             "text": f"add {i % 9} {i % 7}\n\nget {i % 9 + i % 7 + i % 2}\n\n\\boxed{{{i % 9 + i % 7}}}"}
            for i in range(600)]
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    args = ["score", "--samples", str(samples), "--prm", str(prm), "--chunk-rows", "8", "--batch-size", "4",
            "--device", "cpu", "--threads", "1"]
    _run(_prm(*args, "--output", "whole.jsonl"), tmp_path)
    out = tmp_path / "killed.jsonl"
    kill_midway(_prm(*args, "--output", out.name), tmp_path, lambda: _lines(out) >= 16)
    assert 16 <= _lines(out) < 600
    _run(_prm(*args, "--output", out.name), tmp_path)
    got = [json.loads(line) for line in out.read_text().splitlines()]
    want = [json.loads(line) for line in (tmp_path / "whole.jsonl").read_text().splitlines()]
    assert [(r["problem_id"], r["sample_idx"]) for r in got] == [(r["problem_id"], r["sample_idx"]) for r in want]
    for a, b in zip(got, want, strict=True):
        assert a["step_scores"] == pytest.approx(b["step_scores"], abs=1e-5)
