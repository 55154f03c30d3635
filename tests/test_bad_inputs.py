"""Hostile input (``tests/fixtures/badinput.py``) through every loader, command and the scorer: a clear error
naming the file and line (or the item / pair) or a status, never a crash, an unclear error or a hang.

``bench/bad_inputs.py`` runs the same corpus and prints the tally; the default run covers the loaders, the
verifier, the scorer and ``prm verify`` on every case and the other commands on the structural cases; the
slow test runs every target on every case.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import pytest
from fixtures.badinput import bad_files

from data.jsonl import RecordError, read_jsonl

pytestmark = pytest.mark.usefixtures("torch_one_thread")

_SPEC = importlib.util.spec_from_file_location("bad_inputs", Path(__file__).resolve().parents[1] / "bench" /
                                               "bad_inputs.py")
bench = importlib.util.module_from_spec(_SPEC)  # type: ignore[arg-type]
sys.modules["bad_inputs"] = bench
_SPEC.loader.exec_module(bench)  # type: ignore[union-attr]

QUICK_TARGETS = {"read_jsonl", "read_records:Problem", "read_records:Sample", "read_records:StepwiseRow",
                 "load_problems", "load_stepwise", "verify", "verify_many", "PRMScorer.score_batch", "cli_verify"}
STRUCTURAL = ("empty_file", "truncated_mid_object", "binary_garbage_line", "json_array_line", "deeply_nested_json",
              "huge_integer", "sample_steps_with_numbers", "stepwise_label_yes", "sample_lone_surrogate",
              "sample_text_100k", "stepwise_labels_nan_inf")


def _failures(results: list) -> list[str]:
    return [f"{r.outcome} {r.target} {r.case}: {r.detail}" for r in results if r.outcome in ("unclear", "crash",
                                                                                           "hang")]


def test_corpus_loaders_verifier_scorer_and_verify_command(tmp_path: Path) -> None:
    results = bench.run_corpus(tmp_path, QUICK_TARGETS, timeout_s=60)
    table = bench.tally(results)
    assert set(table) == QUICK_TARGETS | {"total"}
    assert not _failures(results)
    total = table["total"]
    assert total["tried"] >= 500 and total["clear"] >= 200 and total["status"] >= 40
    assert total["crash"] == total["hang"] == 0


def test_structural_cases_through_the_other_commands(tmp_path: Path) -> None:
    files = {name: data for name, data in bad_files().items() if name in STRUCTURAL}
    targets = {"cli_score", "cli_label_references", "cli_label_samples", "cli_bon"}
    results = bench.run_corpus(tmp_path, targets, timeout_s=60, files=files)
    assert len(results) == len(files) * len(targets) and not _failures(results)


@pytest.mark.slow
def test_every_target_on_every_case(tmp_path: Path) -> None:
    results = bench.run_corpus(tmp_path, None, timeout_s=120)
    assert {r.target for r in results} >= set(bench.FILE_TARGETS) | {"verify", "verify_many", "PRMScorer.score_batch"}
    assert not _failures(results)


MESSAGES = [  # case -> what the reader's error must say (line and field)
    ("truncated_mid_object", "line 2: not valid JSON"),
    ("binary_garbage_line", "line 2: not UTF-8 text (byte 0xff"),
    ("deeply_nested_json", "line 1: not usable JSON (nested too deeply)"),
    ("huge_integer", "line 1: not usable JSON"),
    ("json_array_line", "line 1: expected a JSON object, got list"),
    ("sample_lone_surrogate", "line 1: field 'steps'[0] holds an unpaired surrogate"),
]


@pytest.mark.parametrize("case,message", MESSAGES, ids=[m[0] for m in MESSAGES])
def test_read_jsonl_names_line_and_problem(tmp_path: Path, case: str, message: str) -> None:
    path = tmp_path / f"{case}.jsonl"
    path.write_bytes(bad_files()[case])
    with pytest.raises(RecordError) as error:
        list(read_jsonl(path))
    assert str(error.value) == f"{path} {message}" or str(error.value).startswith(f"{path} {message}")


@pytest.mark.parametrize("case,rows", [("bom_prefixed", 1), ("crlf_line_endings", 2), ("blank_lines_only", 0)])
def test_bom_crlf_and_blank_lines_are_read(tmp_path: Path, case: str, rows: int) -> None:
    path = tmp_path / "f.jsonl"
    path.write_bytes(bad_files()[case])
    records = list(read_jsonl(path))
    assert len(records) == rows and all(r["id"] == "p0" for _, r in records)


def test_harness_reports_crashes_unclear_errors_and_hangs(tmp_path: Path) -> None:
    """The tally can fail: a KeyError is a crash, a ValueError that names nothing is unclear, a sleeper hangs."""
    env = bench.Env(tmp_path)

    def key_error(payload: object, env: object) -> tuple[str, str]:
        raise KeyError("x")

    def vague(payload: object, env: object) -> tuple[str, str]:
        raise ValueError("something is wrong")

    def sleeper(payload: object, env: object) -> tuple[str, str]:
        time.sleep(3)
        return "ok", ""

    assert bench.run_one("t", "c", None, key_error, env, ("f.jsonl",), 5).outcome == "crash"
    assert bench.run_one("t", "c", None, vague, env, ("f.jsonl",), 5).outcome == "unclear"
    assert bench.run_one("t", "c", None, sleeper, env, ("f.jsonl",), 0.2).outcome == "hang"
