"""Error injection: exact first errors on GSM8K/MATH/synthetic references, determinism, the build and commands."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from data.build import build_dataset
from data.labelling.exact import exact_labels, solution_steps
from data.labelling.perturb import NoCorruption, corrupt, perturb_problems
from data.records import Problem, StepwiseRow, write_records
from data.synth import generate_problems
from prm.cli import main
from verifiers import check_steps

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"

GSM_SOLUTION = ("She bakes 3*4 = <<3*4=12>>12 cakes.\nShe sells 12-5 = <<12-5=7>>7 cakes.\n"
                "Each costs $2, so she earns 7*2 = $<<7*2=14>>14.\n#### 14")
GSM = Problem("g1", "Ann bakes 3 trays of 4 cakes and sells 5 at $2 each. How much does she earn?", "14", "gsm8k",
              GSM_SOLUTION)


def _shared(name: str) -> Path:
    path = SHARED / name / "train.jsonl"
    if not path.exists():
        pytest.skip(f"{name} train not found at {path}")
    return path


def _check_rows(rows: list[StepwiseRow]) -> tuple[int, int]:
    """Every negative's first error is its corrupted step; every original labels all 1.0."""
    positives = negatives = 0
    for row in rows:
        first = row.extra["first_error"]
        assert all(type(x) is float for x in row.labels)
        if row.extra["perturbation"] == "none":
            positives += 1
            assert first == -1 and row.labels == [1.0] * len(row.completions)
            continue
        negatives += 1
        assert row.labels == [1.0] * first + [0.0] and len(row.completions) == first + 1
        assert all(check_steps(step).ok is not False for step in row.completions[:first])
        if row.extra["perturbation"] != "drop_step":
            failing = check_steps(row.completions[first]).failures
            assert failing
            if row.extra["source"] == "gsm8k":  # the corrupted step is one with a calculator annotation
                assert "<<" in row.completions[first]
            assert exact_labels(row.completions, row.extra.get("gold", "0"), "zero").first_error == first
    return positives, negatives


def test_result_corruption_propagates_to_later_steps_and_answer() -> None:
    steps, answer = GSM_SOLUTION.split("\n")[:3], "#### 14"
    found = corrupt(steps, answer, "result", random.Random(3))
    k = found.first_error
    assert check_steps(found.steps[k]).ok is False
    assert found.steps[:k] == steps[:k]
    assert exact_labels(found.steps + [found.answer_line or ""], "14", "zero").first_error == k
    if k < 2:  # the wrong value is carried into the next step
        assert found.steps[k + 1] != steps[k + 1]


def test_operand_and_drop_step() -> None:
    steps = GSM_SOLUTION.split("\n")[:3]
    operand = corrupt(steps, None, "operand", random.Random(0))
    assert check_steps(operand.steps[operand.first_error]).ok is False
    dropped = corrupt(steps, None, "drop_step", random.Random(0), GSM.problem)
    assert len(dropped.steps) == 2 and "uses" in dropped.detail
    with pytest.raises(NoCorruption, match="no checkable claim"):
        corrupt(["We think hard.", "So it is five."], None, "result", random.Random(0))


def test_perturb_is_seeded_and_deterministic() -> None:
    problems = [GSM, Problem("g2", "Q", "10", "gsm8k", "He has 2+3 = <<2+3=5>>5.\nSo 5*2 = <<5*2=10>>10.\n#### 10")]
    first, _ = perturb_problems(problems, seed=1, negatives=2)
    again, _ = perturb_problems(list(reversed(problems)), seed=1, negatives=2)
    key = sorted(json.dumps(r.to_dict(), sort_keys=True) for r in first)
    assert key == sorted(json.dumps(r.to_dict(), sort_keys=True) for r in again)
    rows, report = perturb_problems(problems, seed=1, negatives=2, after_error="zero")
    assert report.tried == 2 and report.positives == 2
    negatives = [r for r in rows if r.extra["perturbation"] != "none"]
    assert len(negatives) == 4  # two distinct corruptions per reference
    for row in negatives:
        first = row.extra["first_error"]
        assert row.labels == [1.0] * first + [0.0] * (len(row.completions) - first)


def test_gsm8k_train_negatives_have_exact_first_errors() -> None:
    from data.loaders import load_problems

    problems = load_problems(str(_shared("gsm8k")), limit=300)
    rows, report = perturb_problems(problems, seed=0)
    for row in rows:
        row.extra["gold"] = next(p.answer for p in problems if p.id == row.extra["problem_id"])
    positives, negatives = _check_rows(rows)
    assert report.tried == 300 and positives == report.positives >= 280
    assert negatives >= 0.95 * positives
    assert set(report.negatives) == {"result", "operand", "drop_step"}


def test_math_train_negatives_have_exact_first_errors() -> None:
    from data.loaders import load_problems

    problems = load_problems(str(_shared("math")), limit=150)
    rows, report = perturb_problems(problems, seed=0)
    for row in rows:
        row.extra["gold"] = next(p.answer for p in problems if p.id == row.extra["problem_id"])
    positives, negatives = _check_rows(rows)
    assert report.skipped["no checkable claim"] > 0  # prose solutions are skipped and counted
    assert positives >= 50 and negatives >= 0.9 * positives


def test_synthetic_reference_steps_all_verify() -> None:
    problems = generate_problems(200, seed=0, split="train")
    steps = [s for p in problems for s in solution_steps(p.solution or "", p.source)]
    assert sum(check_steps(s).ok is True for s in steps) == len(steps)  # 100%: every step has claims, all hold
    assert all(exact_labels(solution_steps(p.solution or "", p.source), p.answer).first_error == -1 for p in problems)
    rows, report = perturb_problems(problems, seed=0)
    assert report.positives == 200 and sum(report.negatives.values()) >= 190


def test_build_loads_with_datasets(tmp_path: Path) -> None:
    _shared("gsm8k")
    _shared("math")
    out = tmp_path / "stepwise.jsonl"
    report = build_dataset(out, n_synthetic=0, gsm8k=40, math=40, seed=0)
    assert report.rows == report.by_source["total"].rows > 60
    import datasets

    loaded = datasets.load_dataset("json", data_files=str(out), split="train", cache_dir=str(tmp_path / "cache"))
    assert loaded.num_rows == report.rows
    assert {"prompt", "completions", "labels", "source", "perturbation", "first_error"} <= set(loaded.column_names)
    assert loaded.features["labels"].feature.dtype == "float64"
    assert set(loaded["source"]) == {"gsm8k", "math"}


def test_commands_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    problems = tmp_path / "problems.jsonl"
    write_records(problems, [GSM, Problem("s1", "Apples?", "22", "synthetic",
                                          "Each box holds $3 \\times 12 = 36$ apples.\n\n"
                                          "She has $36 - 14 = \\boxed{22}$ left.")])
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps(r) + "\n" for r in [
        {"problem_id": "s1", "sample_idx": 0, "text": "Each box holds $3 \\times 12 = 36$.\n\nSo $36 - 14 = 23$."},
        {"problem_id": "nope", "sample_idx": 0, "text": "1+1=2"},
    ]), encoding="utf-8")
    out = tmp_path / "exact.jsonl"
    assert main(["label", "--method", "exact", "--problems", str(problems), "--samples", str(samples),
                 "--output", str(out), "--after-error", "zero"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["labels"] for r in rows] == [[1.0, 0.0]]
    assert "| unknown problem_id | 1 |" in capsys.readouterr().out
    assert main(["label", "--method", "exact", "--problems", str(problems), "--output", str(out)]) == 0
    assert [json.loads(line)["labels"] for line in out.read_text().splitlines()] == [[1.0, 1.0, 1.0], [1.0, 1.0]]
    assert main(["label", "--method", "perturb", "--problems", str(problems), "--output", str(out)]) == 0
    kinds = [json.loads(line)["perturbation"] for line in out.read_text().splitlines()]
    assert kinds.count("none") == 2 and len(kinds) == 4
    assert main(["label", "--method", "nope", "--problems", str(problems), "--output", str(out)]) == 2
    if (SHARED / "gsm8k" / "train.jsonl").exists() and (SHARED / "math" / "train.jsonl").exists():
        built = tmp_path / "built.jsonl"
        argv = ["data", "build", "--output", str(built), "--n-synthetic", "0", "--gsm8k", "20", "--math", "20"]
        assert main(argv) == 0
        assert "| total |" in capsys.readouterr().out and built.exists()
