"""``prm eval processbench``: the published schema read from a local folder, the published metric checked
against a hand-computed example, the scores kept for reruns, and bad items named."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from eval.benchmarks.processbench import THRESHOLD, Item, load_split, processbench_result, to_cases
from eval.steps_eval import StepCase
from prm.cli import main

# gsm8k, scored by the step checker (0 where a claim is false): predictions 1, -1, 0, 1, 0
GSM8K = [
    {"id": "gsm8k-0", "generator": "g", "problem": "p0", "steps": ["2 + 3 = 5.", "5 * 2 = 11."], "label": 1,
     "final_answer_correct": False},  # found
    {"id": "gsm8k-1", "generator": "g", "problem": "p1", "steps": ["4 + 4 = 8.", "8 - 1 = 7."], "label": -1,
     "final_answer_correct": True},  # nothing flagged: right
    {"id": "gsm8k-2", "generator": "g", "problem": "p2", "steps": ["3 * 3 = 10.", "10 + 1 = 11."], "label": 0,
     "final_answer_correct": False},  # found
    {"id": "gsm8k-3", "generator": "g", "problem": "p3", "steps": ["We add them.", "2 + 2 = 5."], "label": 0,
     "final_answer_correct": False},  # flagged too late: wrong
    {"id": "gsm8k-4", "generator": "g", "problem": "p4", "steps": ["6 / 2 = 4.", "So 4."], "label": -1,
     "final_answer_correct": True},  # a correct item flagged: wrong
]
MATH = [
    {"id": "math-0", "generator": "g", "problem": "q0", "steps": ["1 + 1 = 2.", "2 + 2 = 5."], "label": 1,
     "final_answer_correct": False},
    {"id": "math-1", "generator": "g", "problem": "q1", "steps": ["7 - 2 = 5."], "label": -1,
     "final_answer_correct": True},
]


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "processbench"
    folder.mkdir()
    (folder / "gsm8k.json").write_text(json.dumps(GSM8K))  # the published files: one JSON array per split
    (folder / "math.jsonl").write_text("".join(json.dumps(row) + "\n" for row in MATH))
    return folder


def test_the_published_metric_on_a_hand_computed_example(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["eval", "processbench", "--prm", "step_checker", "--data", str(_folder(tmp_path)), "--splits",
                 "gsm8k,math", "--out-dir", str(out)]) == 0
    result = json.loads((out / "processbench.json").read_text())
    gsm8k = result["splits"]["gsm8k"]
    assert (gsm8k["erroneous"], gsm8k["correct"]) == (3, 2)
    assert gsm8k["error_accuracy"] == pytest.approx(2 / 3) and gsm8k["correct_accuracy"] == pytest.approx(1 / 2)
    assert gsm8k["f1"] == pytest.approx(4 / 7)  # 2 * (2/3) * (1/2) / (2/3 + 1/2)
    assert result["splits"]["math"]["f1"] == pytest.approx(1.0)
    assert result["mean_f1"] == pytest.approx((4 / 7 + 1) / 2)
    assert result["threshold"] == THRESHOLD == 0.5
    assert "Mean F1: 78.6" in (out / "processbench.md").read_text()
    assert (out / "processbench_sweep.png").stat().st_size > 0
    stored = [json.loads(line) for line in (out / "step_scores.jsonl").read_text().splitlines()]
    assert {row["id"]: row["step_scores"] for row in stored}["gsm8k/gsm8k-3"] == [1.0, 0.0]


def test_a_rerun_reads_the_stored_scores_and_no_resume_rescored(tmp_path: Path) -> None:
    folder, out = _folder(tmp_path), tmp_path / "out"
    args = ["eval", "processbench", "--prm", "step_checker", "--data", str(folder), "--splits", "gsm8k",
            "--out-dir", str(out)]
    assert main(args) == 0
    store = out / "step_scores.jsonl"
    rows = [json.loads(line) for line in store.read_text().splitlines()]
    rows[3]["step_scores"] = [0.1, 0.9]  # as if the PRM had found gsm8k-3's error: the rerun must use this
    store.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(args) == 0
    assert json.loads((out / "processbench.json").read_text())["splits"]["gsm8k"]["error_accuracy"] == 1.0
    assert main([*args, "--no-resume"]) == 0  # scored again by the step checker
    assert json.loads((out / "processbench.json").read_text())["splits"]["gsm8k"]["error_accuracy"] == \
        pytest.approx(2 / 3)
    assert main([*args[:-4], "--prm-format", "step_checker", "--prm-options", "segmentation=newline",
                 "--splits", "gsm8k", "--out-dir", str(out)]) == 2  # other settings: refused, not mixed


def test_metric_cases_and_the_sweep_reported_apart() -> None:
    cases = {"a": [StepCase([0.9, 0.2], 1), StepCase([0.8, math.inf], -1), StepCase([0.45, 0.2], 1)]}
    result = processbench_result(cases, 0.5)
    assert result["splits"]["a"]["error_accuracy"] == 0.5 and result["splits"]["a"]["correct_accuracy"] == 1.0
    assert result["mean_f1"] == pytest.approx(2 / 3)
    sweep = result["sweep"]
    assert 0.5 in sweep["thresholds"] and len(sweep["f1"]["a"]) == len(sweep["thresholds"])
    assert sweep["best_mean_f1_on_test"] == pytest.approx(1.0)  # 0.2 < t <= 0.45 gets all three; never the result
    assert sweep["best_threshold_on_test"] == pytest.approx(0.25)


def test_none_scores_are_never_flagged() -> None:
    item = Item("x", "s", "p", ("a", "b"), -1)
    assert to_cases([item], {"s/x": [0.9, None]})[0].scores == [0.9, math.inf]
    with pytest.raises(ValueError, match="1 step scores for 2 steps"):
        to_cases([item], {"s/x": [0.9]})


@pytest.mark.parametrize(("change", "message"), [
    ({"label": 5}, "item 1: field 'label' is 5; it should be -1 or a step index below 2"),
    ({"label": True}, "item 1: field 'label' should be int, got bool"),
    ({"steps": "one text"}, "item 1: field 'steps' should be list, got str"),
    ({"steps": ["ok", 3]}, r"item 1: field 'steps\[1\]' should be str, got int"),
    ({"problem": None}, "item 1: field 'problem' should be str, got NoneType"),
    ({"id": "gsm8k-0"}, "item id 'gsm8k-0' appears twice"),
])
def test_bad_items_are_named(tmp_path: Path, change: dict, message: str) -> None:
    folder = tmp_path / "pb"
    folder.mkdir()
    (folder / "gsm8k.json").write_text(json.dumps([GSM8K[0], {**GSM8K[1], **change}]))
    with pytest.raises(Exception, match=message):
        load_split(folder, "gsm8k")


def test_missing_files_and_fields_are_named(tmp_path: Path) -> None:
    folder = tmp_path / "pb"
    folder.mkdir()
    with pytest.raises(Exception, match="no olympiadbench.json or olympiadbench.jsonl"):
        load_split(folder, "olympiadbench")
    (folder / "gsm8k.json").write_text(json.dumps([{k: v for k, v in GSM8K[0].items() if k != "label"}]))
    with pytest.raises(Exception, match="gsm8k.json item 0: missing field 'label'"):
        load_split(folder, "gsm8k")
    (folder / "math.json").write_text("{not json")
    assert main(["eval", "processbench", "--prm", "step_checker", "--data", str(folder), "--splits", "math",
                 "--out-dir", str(tmp_path / "o")]) == 2
