"""``kill -9`` at random points of the long commands, resumed after each kill: the output ends complete, with
nothing duplicated, and equal to an uninterrupted run's.

:func:`kill_harness.kill_and_resume` runs each command once uninterrupted and once with 10 SIGKILLs at seeded
points, resumed after each; :func:`kill_harness.assert_same_outputs` compares the two output folders (see
``tests/kill_harness.py``); the tests print each kill's tally.

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

import json
import math
from pathlib import Path

import pytest
from kill_harness import assert_same_outputs, assert_unique, kill_and_resume, read_rows
from kill_harness import count_lines as _lines
from kill_harness import prm_command as _prm
from tiny_policy import solution_text, write_problems

from data.journal import JournalMismatch, RowJournal
from prm.train.config import TrainConfig
from prm.train.trainer import _resume_point

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
