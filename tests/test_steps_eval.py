"""ProcessBench-style step-error evaluation: cases, predictions, metrics, threshold choice, `prm eval steps`."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from eval.steps_eval import (
    SkipCase,
    StepCase,
    case_from_row,
    choose_threshold,
    evaluate_steps,
    first_error_from_labels,
    load_cases,
    predict_first_error,
    split_dev,
    step_metrics,
    threshold_grid,
)
from prm.cli import main

HAND_CASES = [
    StepCase([0.9, 0.2, 0.8], 1),   # error at step 1
    StepCase([0.9, 0.9], -1),       # all correct
    StepCase([0.3, 0.9], 0),        # error at step 0
    StepCase([0.8, 0.7, 0.1], -1),  # all correct, but a low last step
]


@pytest.mark.parametrize(("labels", "expected"), [([1.0, 1.0, 0.0, 0.0], 2), ([1.0, 1.0], -1), ([0.0], 0),
                                                  ([1.0, 0.5, 0.0], 2)])
def test_first_error_from_labels(labels: list[float], expected: int) -> None:
    assert first_error_from_labels(labels) == expected


@pytest.mark.parametrize(("threshold", "expected"), [(0.05, -1), (0.25, 1), (0.5, 1), (0.95, 0)])
def test_predict_first_error(threshold: float, expected: int) -> None:
    assert predict_first_error([0.9, 0.2, 0.8], threshold) == expected


@pytest.mark.parametrize(("threshold", "error_acc", "correct_acc", "f1"), [
    (0.5, 1.0, 0.5, 2 / 3), (0.05, 0.0, 1.0, 0.0), (0.25, 0.5, 0.5, 0.5), (0.75, 1.0, 0.5, 2 / 3),
    (0.95, 0.5, 0.0, 0.0),
])
def test_metrics_on_hand_built_cases(threshold: float, error_acc: float, correct_acc: float, f1: float) -> None:
    metrics = step_metrics(HAND_CASES, [threshold])
    assert metrics["error_accuracy"][0] == pytest.approx(error_acc)
    assert metrics["correct_accuracy"][0] == pytest.approx(correct_acc)
    assert metrics["f1"][0] == pytest.approx(f1)


def test_vectorised_metrics_equal_per_case_predictions() -> None:
    rng = random.Random(0)
    cases = []
    for _ in range(200):
        scores = [round(rng.random(), 2) for _ in range(rng.randint(1, 6))]
        cases.append(StepCase(scores, rng.randrange(-1, len(scores))))
    grid = threshold_grid(cases)
    metrics = step_metrics(cases, grid)
    for i, t in enumerate(grid[::10]):
        wrong = [predict_first_error(c.scores, t) == c.first_error for c in cases if c.first_error >= 0]
        right = [predict_first_error(c.scores, t) == -1 for c in cases if c.first_error < 0]
        assert metrics["error_accuracy"][i * 10] == pytest.approx(np.mean(wrong))
        assert metrics["correct_accuracy"][i * 10] == pytest.approx(np.mean(right))


def test_threshold_is_the_middle_of_the_best_plateau() -> None:
    dev = [StepCase([0.9, 0.2], 1), StepCase([0.8, 0.6], -1)]  # perfect for 0.2 < t <= 0.6
    grid = threshold_grid(dev)
    threshold = choose_threshold(step_metrics(dev, grid)["f1"], grid)
    assert 0.2 < threshold <= 0.6 and threshold == pytest.approx(0.4, abs=0.01)
    result = evaluate_steps(HAND_CASES, dev, dev_source="hand")
    assert result.threshold == threshold
    assert result.test["f1"] == pytest.approx(2 / 3) and result.dev["f1"] == 1.0
    assert result.best_on_test["f1"] >= result.test["f1"]
    with pytest.raises(ValueError, match="both erroneous and correct"):
        choose_threshold(step_metrics([StepCase([0.5], 0)], grid)["f1"], grid)


def test_threshold_grid_follows_the_score_range() -> None:
    assert threshold_grid(HAND_CASES)[[0, -1]].tolist() == [0.0, 1.0]
    logits = threshold_grid([StepCase([-3.0, 2.0], 0)])
    assert logits[0] == -3.0 and logits[-1] > 2.0


def test_split_dev_is_seeded_and_stratified() -> None:
    cases = [StepCase([0.5], 0) for _ in range(10)] + [StepCase([0.5], -1) for _ in range(10)]
    dev, test = split_dev(cases, 0.3, seed=1)
    assert len(dev) == 6 and len(test) == 14
    assert sum(c.first_error >= 0 for c in dev) == 3
    again, _ = split_dev(cases, 0.3, seed=1)
    assert [id(c) for c in again] == [id(c) for c in dev]


def test_cases_from_rows() -> None:
    stepwise = {"prompt": "q", "completions": ["a", "b", "c"], "labels": [1.0, 0.0, 0.0],
                "step_scores": [0.9, 0.1, 0.2], "source": "math"}
    assert case_from_row(stepwise) == StepCase([0.9, 0.1, 0.2], 1, {"source": "math"})
    assert case_from_row({"step_scores": [0.5, 0.5], "first_error": -1}).first_error == -1
    assert case_from_row({"step_scores": [0.5], "step_labels": [1.0]}).first_error == -1
    for row, reason in [({"labels": [1.0]}, "no step_scores"), ({"step_scores": [0.5]}, "no first_error or labels"),
                        ({"step_scores": [0.5], "first_error": 3}, "first error beyond the scored steps")]:
        with pytest.raises(SkipCase, match=reason):
            case_from_row(row)
    cases, skipped = load_cases([stepwise, {"step_scores": [0.5]}])
    assert len(cases) == 1 and skipped == {"no first_error or labels": 1}


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def scored_rows(count: int, seed: int) -> list[dict]:
    """Rows whose wrong steps score low, with some noise, in two sources."""
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        steps = rng.randint(1, 5)
        first_error = rng.choice([-1, rng.randrange(steps)])
        labels = [1.0] * steps if first_error < 0 else [1.0] * first_error + [0.0] * (steps - first_error)
        scores = [rng.uniform(0.1, 0.5) if (label == 0.0 and rng.random() < 0.8) else rng.uniform(0.4, 1.0)
                  for label in labels]
        rows.append({"prompt": "q", "completions": ["s"] * steps, "labels": labels, "step_scores": scores,
                     "source": "gsm8k" if i % 2 else "math"})
    return rows


def test_prm_eval_steps_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_jsonl(tmp_path / "scored.jsonl", scored_rows(120, 0) + [{"step_scores": [0.5]}])
    out = tmp_path / "steps"
    assert main(["eval", "steps", "--data", str(data), "--out-dir", str(out)]) == 0
    assert {p.name for p in out.iterdir()} == {"steps_eval.md", "steps_eval.json", "steps_f1.png"}
    report = json.loads((out / "steps_eval.json").read_text())
    assert 0.0 < report["threshold"] < 1.0 and 0.3 < report["test"]["f1"] <= 1.0
    assert report["skipped"] == {"no first_error or labels": 1}
    assert set(report["breakdown"]["source"]) == {"gsm8k", "math"}
    assert "Threshold **" in capsys.readouterr().out
    assert (out / "steps_f1.png").read_bytes()[:4] == b"\x89PNG"

    dev = write_jsonl(tmp_path / "dev.jsonl", scored_rows(60, 1))
    assert main(["eval", "steps", "--data", str(data), "--dev", str(dev), "--out-dir", str(out)]) == 0
    report = json.loads((out / "steps_eval.json").read_text())
    assert report["dev_source"] == str(dev) and report["test"]["erroneous"] + report["test"]["correct"] == 120


def test_prm_eval_steps_needs_data(caplog: pytest.LogCaptureFixture) -> None:
    assert main(["eval", "steps"]) == 2
    assert "--data is required" in caplog.text


def test_a_dev_set_without_correct_cases_falls_back_to_a_threshold_near_one_half() -> None:
    dev = [StepCase([0.9, 0.2], 1), StepCase([0.1], 0)]  # erroneous only: F1 undefined
    result = evaluate_steps(HAND_CASES, dev, dev_source="dev")
    assert abs(result.threshold - 0.5) <= min(abs(t - 0.5) for t in result.thresholds) + 1e-12
    assert "F1 undefined" in result.dev_source
    assert result.test["error_accuracy"] == step_metrics(HAND_CASES, [result.threshold])["error_accuracy"][0]
