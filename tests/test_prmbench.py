"""``prm eval prmbench``: PRMBench rows in the published schema, the PRMScore checked against a hand-computed
example, and the real 400-item subset in ../shared read end to end with the step checker (no model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.benchmarks.prmbench import load_samples, prmbench_result
from prm.cli import main
from prm.model.step_checker import StepCheckerScorer

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "prmbench"


def _row(kind: str, idx: str, modified: list[str], errors: list[int], original: list[str] | None = None) -> dict:
    return {"original_question": f"orig {idx}", "modified_question": f"mod {idx}",
            "original_process": original or ["1 + 1 = 2."], "modified_process": modified,
            "modified_steps": errors, "error_steps": errors, "reason": "", "idx": idx, "question": f"q {idx}",
            "classification": kind}


# step checker scores: A [1, 0, 1], A's original [1, 1], B [1, 0, 1], C [1], D [0, 1, 1]
ROWS = [
    _row("redundency", "i1", ["1 + 1 = 2.", "2 + 2 = 5.", "So 5."], [2, 3], ["1 + 1 = 2.", "2 + 2 = 4."]),  # A
    _row("redundency", "i1", ["anything"], [1]),  # the same (class, idx) again: the first row wins
    _row("circular", "i2", ["3 * 3 = 9.", "9 + 1 = 11.", "So 11."], [1]),  # B
    _row("multi_solutions", "i3", ["5 - 2 = 3."], []),  # C
    _row("confidence", "i4", ["4 / 2 = 3.", "ok", "ok"], [1, 7]),  # D: step 7 of 3 is ignored, as published
]


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_prmscore_on_a_hand_computed_example(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["eval", "prmbench", "--prm", "step_checker", "--data", str(_write(tmp_path / "p.jsonl", ROWS)),
                 "--out-dir", str(out)]) == 0
    result = json.loads((out / "prmbench.json").read_text())
    assert result["samples"] == 5  # A, correct_i1, B, C, D
    overall = result["overall"]  # pooled over A, B, C, D: TP 5, FP 2, TN 2, FN 1
    assert [overall[k] for k in ("TP", "FP", "TN", "FN")] == [5, 2, 2, 1]
    assert overall["f1"] == pytest.approx(10 / 13) and overall["negative_f1"] == pytest.approx(4 / 7)
    assert overall["prm_score"] == pytest.approx((10 / 13 + 4 / 7) / 2)
    classes = result["classes"]
    assert classes["redundency"]["prm_score"] == pytest.approx(2 / 3)  # F1 2/3, negative F1 2/3
    assert classes["circular"]["prm_score"] == pytest.approx(1 / 4)  # F1 1/2, negative F1 0 (none found)
    assert classes["multi_solutions"]["prm_score"] == 1.0  # the F1 alone
    assert classes["confidence"]["prm_score"] == 1.0 and classes["correct"]["f1"] == 1.0
    assert result["categories"] == pytest.approx({"simplicity": 11 / 24, "soundness": 1.0, "sensitivity": 1.0})
    first = result["first_error"]  # A found, B flagged late, D found; correct_i1 and C unflagged
    assert (first["error_accuracy"], first["correct_accuracy"]) == (pytest.approx(2 / 3), 1.0)
    assert first["f1"] == pytest.approx(0.8)
    assert "**PRMScore: 67.0**" in (out / "prmbench.md").read_text()
    assert (out / "prmbench_classes.png").stat().st_size > 0


@pytest.mark.parametrize(("change", "message"), [
    ({"error_steps": "2"}, "line 1: field 'error_steps' should be a list of 1-based step numbers"),
    ({"error_steps": [0]}, "line 1: field 'error_steps' should be a list of 1-based step numbers"),
    ({"modified_process": "text"}, "line 1: field 'modified_process' should be a list of strings"),
    ({"classification": None}, "line 1: field 'classification' should be a string, got NoneType"),
    ({"idx": ""}, "line 1: missing field 'idx'"),
])
def test_bad_rows_are_named(tmp_path: Path, change: dict, message: str) -> None:
    with pytest.raises(Exception, match=message):
        load_samples(_write(tmp_path / "p.jsonl", [{**ROWS[0], **change}]))


def test_scores_must_fit_the_steps() -> None:
    samples = [s for s in load_samples_from(ROWS) if s.key == "circular_i2"]
    with pytest.raises(ValueError, match="circular_i2: 2 step scores for 3 steps"):
        prmbench_result(samples, {"circular_i2": [0.9, 0.1]})


def load_samples_from(rows: list[dict]) -> list:
    from eval.benchmarks.prmbench import samples_from_rows

    return samples_from_rows((f"row {i}", row) for i, row in enumerate(rows))


@pytest.mark.skipif(not (SHARED / "subset400.jsonl").exists(), reason="shared PRMBench subset not found")
def test_the_real_subset_with_the_step_checker() -> None:
    samples = load_samples(SHARED / "subset400.jsonl")
    kinds = {s.classification for s in samples}
    assert len(samples) == 394 + 48  # every row, plus one all-correct sample per redundancy row's idx
    assert kinds == {"correct", "multi_solutions", "redundency", "circular", "counterfactual", "step_contradiction",
                     "domain_inconsistency", "confidence", "missing_condition", "deception"}
    scorer = StepCheckerScorer()
    scores = {s.key: row for s, row in zip(samples, scorer.score_batch([(s.problem, list(s.steps))
                                                                         for s in samples]), strict=True)}
    result = prmbench_result(samples, scores)
    # arithmetic checks find few of PRMBench's errors (most are not arithmetic slips) and flag few valid steps
    assert result["overall"]["f1"] > 0.85 and result["overall"]["negative_f1"] < 0.2
    assert 0.4 < result["overall"]["prm_score"] < 0.6
    assert result["classes"]["correct"]["f1"] > 0.95
