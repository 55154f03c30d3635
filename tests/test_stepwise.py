"""Stepwise converters: PRM800K, Math-Shepherd and stepwise JSONL fixtures, malformed rows, hub ids, round trips."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from data.jsonl import RecordError
from data.records import StepwiseRow, from_dataset, to_dataset
from data.stepwise import detect_stepwise_format, load_stepwise, load_stepwise_with_report

FIXTURES = Path(__file__).resolve().parent / "fixtures"
PRM800K = FIXTURES / "prm800k.jsonl"
SHEPHERD = FIXTURES / "math_shepherd.jsonl"
STEPWISE = FIXTURES / "stepwise.jsonl"


def fixture_rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


# Fixture rows: 1 correct with a neutral first step; 2 phase-2 found_error at step 3 (chosen null);
# 3 phase-1 human completion; 4 a chosen -1 step then more steps; 5 bad_problem (always skipped).
@pytest.mark.parametrize(("options", "labels", "skipped"), [
    ({}, [[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 0.0], [1.0, 1.0, 1.0], [1.0, 0.0]], {"finish_reason 'bad_problem'": 1}),
    ({"neutral": 0.0}, [[0.0, 1.0, 1.0, 1.0], [1.0, 1.0, 0.0], [1.0, 1.0, 1.0], [1.0, 0.0]], None),
    ({"neutral": 0.5}, [[0.5, 1.0, 1.0, 1.0], [1.0, 1.0, 0.0], [1.0, 1.0, 1.0], [1.0, 0.0]], None),
    ({"neutral": None}, [[1.0, 1.0, 0.0], [1.0, 1.0, 1.0], [1.0, 0.0]],
     {"finish_reason 'bad_problem'": 1, "neutral (0) rated step, and neutral=None drops such samples": 1}),
    ({"keep_after_error": True}, [[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 0.0], [1.0, 1.0, 1.0], [1.0, 0.0, 0.0, 0.0]], None),
    ({"skip_finish_reasons": ()}, [[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 0.0], [1.0, 1.0, 1.0], [1.0, 0.0], [1.0]], {}),
])  # fmt: skip
def test_prm800k_labels(options: dict[str, Any], labels: list[list[float]], skipped: dict[str, int] | None) -> None:
    rows, report = load_stepwise_with_report(PRM800K, **options)
    assert [r.labels for r in rows] == labels
    assert all(isinstance(x, float) for r in rows for x in r.labels)
    assert all(len(r.completions) == len(r.labels) for r in rows)
    if skipped is not None:
        assert dict(report.skipped) == skipped


def test_prm800k_follows_the_labelled_trajectory() -> None:
    raw = fixture_rows(PRM800K)
    rows = load_stepwise(PRM800K)
    assert [r.prompt for r in rows] == [raw[i]["question"]["problem"] for i in range(4)]
    assert rows[0].completions == raw[0]["question"]["pre_generated_steps"]
    # found_error: the trajectory ends at the pre-generated step rated -1, not at an alternative
    assert rows[1].completions == raw[1]["question"]["pre_generated_steps"][:3]
    # phase 1: the labeller's own step replaces the -1 completions
    assert rows[2].completions[1] == raw[2]["label"]["steps"][1]["human_completion"]["text"]
    assert rows[3].completions[1].endswith("= 840$.")


def test_prm800k_error_step_matches_pre_generated_text(tmp_path: Path) -> None:
    row = copy.deepcopy(fixture_rows(PRM800K)[1])
    options = row["label"]["steps"][2]["completions"]
    options.insert(0, options.pop())  # an alternative -1 completion now comes first
    rows = load_stepwise(write_jsonl(tmp_path / "p.jsonl", [row]), fmt="prm800k")
    assert rows[0].completions[-1] == row["question"]["pre_generated_steps"][2] and rows[0].labels[-1] == 0.0
    del row["question"]["pre_generated_steps"]  # phase 1: no pre-generated text, the first -1 is taken
    rows = load_stepwise(write_jsonl(tmp_path / "p.jsonl", [row]), fmt="prm800k")
    assert rows[0].completions[-1] == options[0]["text"]


def test_prm800k_stops_without_a_chosen_step(tmp_path: Path) -> None:
    row = copy.deepcopy(fixture_rows(PRM800K)[0])
    row["label"]["steps"][2]["chosen_completion"] = None  # no chosen, no human, no -1: the labeller stopped
    row["label"]["finish_reason"] = "give_up"
    rows, report = load_stepwise_with_report(write_jsonl(tmp_path / "p.jsonl", [row]))
    assert rows[0].labels == [1.0, 1.0] and report.notes
    row["label"]["steps"] = []
    rows, report = load_stepwise_with_report(write_jsonl(tmp_path / "p.jsonl", [row]))
    assert rows == [] and dict(report.skipped) == {"no labelled steps": 1}


def _broken(path: str, value: Any) -> dict[str, Any]:
    row = copy.deepcopy(fixture_rows(PRM800K)[0])
    *parents, last = path.split(".")
    target = row
    for key in parents:
        target = target[int(key)] if key.isdigit() else target[key]
    key: Any = int(last) if last.isdigit() else last
    if value is None:
        del target[key]
    else:
        target[key] = value
    return row


@pytest.mark.parametrize(("row", "match"), [
    (_broken("label.steps.1.completions.0.rating", 2), r"field 'label.steps\[1\].completions\[0\].rating' should be"),
    (_broken("label.steps.0.chosen_completion", 3), r"field 'label.steps\[0\].chosen_completion' should index"),
    (_broken("label.steps.0.completions.0.text", 7), r"field 'label.steps\[0\].completions\[0\].text' should be str"),
    (_broken("question.problem", None), r"missing field 'question.problem'"),
    (_broken("label.steps", {"0": 1}), r"field 'label.steps' should be list, got dict"),
    (_broken("label.steps.1", "step"), r"field 'label.steps\[1\]' should be an object"),
])  # fmt: skip
def test_prm800k_malformed(tmp_path: Path, row: dict[str, Any], match: str) -> None:
    path = write_jsonl(tmp_path / "p.jsonl", [fixture_rows(PRM800K)[1], row])
    with pytest.raises(RecordError, match=r"p\.jsonl line 2: " + match):
        load_stepwise(path)


def test_math_shepherd_fixture() -> None:
    raw = fixture_rows(SHEPHERD)
    rows = load_stepwise(SHEPHERD)
    assert [r.labels for r in rows] == [[1.0, 1.0, 1.0, 1.0], [1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]
    assert rows[0].prompt == raw[0]["input"].split(" Step 1:")[0]
    assert rows[1].completions[1] == "Step 2: She uses 3 + 4 = 8 eggs every day."
    assert rows[2].completions[0] == "Step 1: The quadratic factors as $(x - 2)(x - 3) = 0$."  # +/- in the maths
    assert [r.extra["task"] for r in rows] == ["GSM8K", "GSM8K", "MATH"]
    assert all("ки" not in step for r in rows for step in [r.prompt, *r.completions])


def shepherd_row(question: str, steps: list[str], signs: str) -> dict[str, str]:
    text = question + " " + "\n".join(f"{s} ки" for s in steps)
    label = question + " " + "\n".join(f"{s} {g}" for s, g in zip(steps, signs, strict=True))
    return {"input": text, "label": label}


@pytest.mark.parametrize(("row", "prompt", "labels", "notes"), [
    (shepherd_row("What is 1+1?", ["Step 1: 1+1=2.", "Step 2: The answer is: 2"], "+-"), "What is 1+1?", [1.0, 0.0], 0),
    (shepherd_row("What is 2-1?", ["step 1: 2-1=1. The answer is: 1"], "+"), "What is 2-1?", [1.0], 0),
    # no "Step 1:" marker: the problem ends at its only "?"
    (shepherd_row("What is 3*3?", ["3*3=9.", "The answer is: 9"], "++"), "What is 3*3?", [1.0, 1.0], 0),
    # a stray tag inside the problem text (a known annotation error): its label is ignored, and noted
    ({"input": "Let x = 2. ки What is x+x? Step 1: x+x=4. ки\nStep 2: The answer is: 4 ки",
      "label": "Let x = 2. - What is x+x? Step 1: x+x=4. +\nStep 2: The answer is: 4 +"},
     "Let x = 2. What is x+x?", [1.0, 1.0], 1),
])  # fmt: skip
def test_math_shepherd_edge_cases(tmp_path: Path, row: dict[str, str], prompt: str, labels: list[float], notes: int):
    rows, report = load_stepwise_with_report(write_jsonl(tmp_path / "s.jsonl", [row]))
    assert (rows[0].prompt, rows[0].labels, sum(report.notes.values())) == (prompt, labels, notes)


@pytest.mark.parametrize(("row", "match"), [
    ({"input": "Q? Step 1: a ки", "label": "Q? Step 1: a ?"}, r"field 'label' should have '\+' or '-' where"),
    ({"input": "Q? Step 1: a ки", "label": "Q? Step 1: b +"}, r"field 'label' is not field 'input'"),
    ({"input": "Q? Step 1: a ки\nStep 2: b ки", "label": "Q? Step 1: a +"}, r"field 'label' should have"),
    ({"input": "Q? Step 1: a", "label": "Q? Step 1: a"}, r"field 'input' has no step tag"),
    ({"input": "Q? Step 1: a ки ки", "label": "Q? Step 1: a + +"}, r"field 'completions\[1\]' is an empty step"),
    ({"input": "Q? Step 1: a ки"}, r"missing field 'label'"),
])  # fmt: skip
def test_math_shepherd_malformed(tmp_path: Path, row: dict[str, str], match: str) -> None:
    with pytest.raises(RecordError, match=r"s\.jsonl line 1: " + match):
        load_stepwise(write_jsonl(tmp_path / "s.jsonl", [row]), fmt="math_shepherd")


def test_math_shepherd_unsplittable_problem_is_skipped(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "s.jsonl", [shepherd_row("Add 1 and 1.", ["2"], "+")])
    rows, report = load_stepwise_with_report(path)
    assert rows == [] and report.total_skipped == 1


def test_stepwise_fixture_keeps_soft_labels_as_floats() -> None:
    rows = load_stepwise(STEPWISE)
    assert [r.labels for r in rows] == [[1.0, 1.0], [0.875, 0.125, 0.0], [1.0, 1.0], [0.0, 0.0]]
    assert all(type(x) is float for r in rows for x in r.labels)  # bools and ints became floats, never ints


GOOD = {"prompt": "P", "completions": ["a", "b"], "labels": [1.0, 0.5]}


@pytest.mark.parametrize(("row", "match"), [
    ('{"prompt": "P", "completions": ["a", "b"], "labels": [1.0, NaN]}', r"field 'labels\[1\]' .* got nan"),
    ({"prompt": "P", "completions": ["a", "b"], "labels": [1.0]}, r"2 completions but 1 labels"),
    ({"prompt": "P", "completions": ["a", "  "], "labels": [1.0, 1.0]}, r"field 'completions\[1\]' is an empty step"),
    ({"prompt": "P", "completions": [], "labels": []}, r"field 'completions' is empty"),
    ({"prompt": "", "completions": ["a"], "labels": [1.0]}, r"field 'prompt' is empty"),
    ({"prompt": "P", "completions": ["a"], "labels": [1.5]}, r"field 'labels\[0\]' should be in \[0, 1\]"),
    ({"prompt": "P", "completions": ["a"], "labels": ["1"]}, r"field 'labels\[0\]' should be float or int, got str"),
    ({"prompt": "P", "completions": "a", "labels": [1.0]}, r"field 'completions' should be list"),
    ({"prompt": "P", "completions": ["a"]}, r"missing field 'labels'"),
])  # fmt: skip
def test_stepwise_malformed(tmp_path: Path, row: Any, match: str) -> None:
    path = write_jsonl(tmp_path / "w.jsonl", [GOOD, row])
    with pytest.raises(RecordError, match=r"w\.jsonl line 2: " + match):
        load_stepwise(path, fmt="stepwise")


@pytest.mark.parametrize(("columns", "fmt"), [
    (["labeler", "timestamp", "generation", "question", "label"], "prm800k"),
    (["input", "label", "task"], "math_shepherd"),
    (["prompt", "completions", "labels"], "stepwise"),
])  # fmt: skip
def test_format_detection(columns: list[str], fmt: str) -> None:
    assert detect_stepwise_format(columns) == fmt


def test_bad_format_and_options(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot tell the stepwise format"):
        load_stepwise(write_jsonl(tmp_path / "x.jsonl", [{"text": "T"}]))
    with pytest.raises(ValueError, match="unknown format 'prm900k'"):
        load_stepwise(STEPWISE, fmt="prm900k")
    with pytest.raises(ValueError, match="neutral should be"):
        load_stepwise(PRM800K, neutral=1.5)
    with pytest.raises(RecordError, match="missing field 'input'"):
        load_stepwise(STEPWISE, fmt="math_shepherd")


def test_hub_stepwise_with_bool_labels(monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    calls = []
    rows = [{"prompt": "P", "completions": ["a", "b"], "labels": [True, False]}]

    def fake_load_dataset(path: str, name: str | None = None, split: str | None = None) -> Any:
        calls.append((path, name, split))
        return datasets.Dataset.from_list(rows)

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    loaded = load_stepwise("trl-lib/math_shepherd", split="train", limit=1)
    assert calls == [("trl-lib/math_shepherd", None, "train")]
    assert loaded == [StepwiseRow("P", ["a", "b"], [1.0, 0.0])]


@pytest.mark.parametrize("path", [PRM800K, SHEPHERD, STEPWISE])
def test_dataset_round_trip_keeps_float_labels(path: Path) -> None:
    rows = load_stepwise(path)
    dataset = to_dataset(rows)
    assert dataset.features["labels"].feature.dtype == "float64"
    back = from_dataset(dataset, StepwiseRow)
    assert back == rows
    assert all(type(x) is float for r in back for x in r.labels)
