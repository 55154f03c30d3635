"""Decontamination (data.decontaminate): training problems that are evaluation problems, by exact and by
normalised text, on hand-made overlaps and on the real PRM800K rows against the local MATH-500 copy; and the
warning ``prm data build`` and ``prm train`` log."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from conftest import SHARED_DATASETS, read_jsonl

from data import decontaminate
from data.build import build_dataset
from data.decontaminate import Overlap, check_overlaps, find_overlaps, load_eval_problems, normalise_problem
from data.stepwise import load_stepwise

PRM800K = SHARED_DATASETS / "real_schema_samples" / "prm800k.jsonl"
MATH500 = SHARED_DATASETS / "math500" / "test.jsonl"
needs_real = pytest.mark.skipif(not PRM800K.exists() or not MATH500.exists(),
                                reason=f"real PRM800K sample or MATH-500 not found in {SHARED_DATASETS}")


@pytest.mark.parametrize(("text", "normalised"), [
    ("What is $2+3$?", "what is 2+3?"),
    ("Find  $x$\n if\t$x^2 = 4$ .", "find x if x^2=4."),
    ("Compute $\\left( \\frac {1} {2} \\right)^2$.", "compute(\\frac{1}{2})^2."),
    ("It costs \\$1.24; $200,\\!000$ and $a\\,b\\;c\\:d\\ e~f\\quad g\\qquad h$",
     "it costs 1.24;200,000 and a b c d e f g h"),
    ("$\\leftarrow$ and $\\rightarrow$ stay", "\\leftarrow and\\rightarrow stay"),
    ("Is a", "is a"),
])  # fmt: skip
def test_normalise_problem(text: str, normalised: str) -> None:
    assert normalise_problem(text) == normalised


def test_find_overlaps_hand_made() -> None:
    evaluation = [("e1", "What is $\\left(1+2\\right)$?"), ("e2", "How many seconds are in 7.8 minutes?"),
                  ("e3", "Solve $x$.")]
    train = [("t1", "How many seconds are in 7.8 minutes?"), ("t2", "what is $( 1 + 2 )$ ?"),
             ("t3", "How many seconds are in 7.8 minutes?"), ("t4", "Solve $y$."), ("t5", "WHAT IS (1+2)?")]
    report = find_overlaps(train, evaluation, "held-out")
    assert report.overlaps == [Overlap("t1", "e2", "How many seconds are in 7.8 minutes?", True, 2),
                               Overlap("t2", "e1", "what is $( 1 + 2 )$ ?", False, 1),
                               Overlap("t5", "e1", "WHAT IS (1+2)?", False, 1)]
    assert (report.train_problems, report.eval_problems, report.exact, report.rows) == (4, 3, 1, 4)
    assert report.summary(1) == (
        "3 of 4 training problems (4 rows) are held-out problems (1 identical text, 2 after normalisation): "
        "training on them inflates results on held-out; e.g. t1 = held-out e2 (exact): "
        "'How many seconds are in 7.8 minutes?'")
    assert find_overlaps(train[3:4], evaluation).overlaps == []


@needs_real
def test_real_prm800k_rows_against_math500(caplog: pytest.LogCaptureFixture) -> None:
    """The sample's MATH problems: lines 1, 2, 4, 5 are MATH-500 problems (test-file rows: PRM800K's test split
    is MATH-500), line 3 is MATH train/prealgebra/476 (a PRM800K training problem), line 6 a screening question."""
    by_text = {r["problem"]: r["unique_id"] for r in read_jsonl(MATH500)}
    raw = read_jsonl(PRM800K)
    assert [by_text.get(r["question"]["problem"]) for r in raw] == [
        "test/algebra/2743.json", "test/counting_and_probability/159.json", None, "test/prealgebra/996.json",
        "test/geometry/711.json", None]
    rows = load_stepwise(PRM800K)
    train = [(f"line {i}", r.prompt) for i, r in enumerate(rows, 1)]
    with caplog.at_level(logging.INFO, logger="data.decontaminate"):
        report = check_overlaps(train, "math500")
    assert report is not None and report.eval_source == "math500 [test]" and report.eval_problems == 500
    assert [(o.train_id, o.eval_id, o.exact) for o in report.overlaps] == [
        ("line 1", "test/algebra/2743.json", True), ("line 2", "test/counting_and_probability/159.json", True),
        ("line 4", "test/prealgebra/996.json", True), ("line 5", "test/geometry/711.json", True)]
    (record,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert record.getMessage().startswith("decontamination: 4 of 6 training problems (4 rows) are math500 [test] "
                                          "problems (4 identical text, 0 after normalisation)")
    assert "line 1 = math500 [test] test/algebra/2743.json (exact)" in record.getMessage()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="data.decontaminate"):
        clean = check_overlaps([train[2], train[5]], "math500")  # the rows a training file would hold
    assert clean is not None and clean.overlaps == [] and not [r for r in caplog.records if r.levelno >= 30]


@needs_real
def test_normalised_overlap_with_math500() -> None:
    pencils = read_jsonl(MATH500)
    problem = next(r["problem"] for r in pencils if r["unique_id"] == "test/algebra/2743.json")
    reworded = problem.replace("$\\$1.24$", "\\$1.24").upper().replace(" ", "  ")  # other dollars, case, spacing
    report = check_overlaps([("mine", reworded)], "math500")
    assert report is not None and [(o.eval_id, o.exact) for o in report.overlaps] == [("test/algebra/2743.json", False)]


def test_unloadable_hub_set_is_skipped(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    def offline(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("no network")

    monkeypatch.setattr(decontaminate, "load_problems_with_report", offline)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    caplog.set_level(logging.INFO, logger="data.decontaminate")
    assert check_overlaps([("t", "x")], "someone/eval-set") is None
    assert ("decontamination check skipped: evaluation problems 'someone/eval-set' could not be loaded "
            "(ConnectionError: no network)") in caplog.text
    assert load_eval_problems("none") is None and load_eval_problems(None) is None
    monkeypatch.setattr(decontaminate, "load_problems_with_report", None)  # not even tried when the hub is off
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert check_overlaps([("t", "x")], "someone/eval-set") is None
    assert "no local copy of 'someone/eval-set' and the hub is off" in caplog.text


def test_a_missing_local_file_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        load_eval_problems(str(tmp_path / "eval.jsonl"))


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_build_warns_on_a_hand_made_overlap(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    shepherd = write_jsonl(tmp_path / "ms.jsonl", [
        {"input": "What is 2 + 3? Step 1: 2 + 3 = 5. The answer is: 5 ки", "label": "What is 2 + 3? Step 1: 2 + 3 "
         "= 5. The answer is: 5 +", "task": "GSM8K"},
        {"input": "What is 4 + 4? Step 1: 4 + 4 = 9. The answer is: 9 ки", "label": "What is 4 + 4? Step 1: 4 + 4 "
         "= 9. The answer is: 9 -", "task": "GSM8K"}])
    evaluation = write_jsonl(tmp_path / "eval.jsonl", [{"problem": "What is $2+3$?", "answer": "5"},
                                                       {"problem": "What is 7 + 1?", "answer": "8"}])
    with caplog.at_level(logging.WARNING, logger="data.decontaminate"):
        report = build_dataset(tmp_path / "o.jsonl", n_synthetic=0, gsm8k=0, math=0, math_shepherd=str(shepherd),
                               eval_problems=str(evaluation))
    assert report.overlaps is not None
    assert [(o.eval_id, o.text, o.exact) for o in report.overlaps.overlaps] == [("eval/all/0", "What is 2 + 3?", False)]
    assert "1 of 2 training problems (1 rows) are eval [all] problems (0 identical text, 1 after normalisation)" \
        in caplog.text
    assert report.rows == 2  # a warning, not a filter


def test_train_warns_on_a_hand_made_overlap(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from prm.train.config import TrainConfig
    from prm.train.data import load_training_rows

    data = write_jsonl(tmp_path / "rows.jsonl", [
        {"prompt": "What is 2 + 3?", "completions": ["2 + 3 = 5"], "labels": [1.0], "problem_id": "p7"},
        {"prompt": "What is 6 + 1?", "completions": ["6 + 1 = 7"], "labels": [1.0]}])
    evaluation = write_jsonl(tmp_path / "eval.jsonl", [{"problem": "What is 2 + 3?", "answer": "5"}])
    config = TrainConfig(data=str(data), out_dir=str(tmp_path / "prm"), eval_problems=str(evaluation),
                         eval_fraction=0.0)
    with caplog.at_level(logging.WARNING, logger="data.decontaminate"):
        train, _ = load_training_rows(config)
    assert len(train) == 2
    (record,) = caplog.records
    assert "1 of 2 training problems (1 rows) are eval [all] problems (1 identical text" in record.getMessage()
    assert "e.g. p7 = eval [all] eval/all/0 (exact): 'What is 2 + 3?'" in record.getMessage()
