"""The synthetic task: deterministic, split-disjoint, every reference step checkable, knobs that bite."""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from data.records import Problem, read_records
from data.segment import split_steps
from data.synth import (
    FAMILIES,
    LEVELS,
    Difficulty,
    answer_type,
    check_reference,
    generate_problems,
    level_of,
    split_of,
)
from data.synth.generate import skeleton
from prm.cli import main
from verifiers import check_steps, verify


def test_deterministic_for_a_seed() -> None:
    first = [p.to_dict() for p in generate_problems(300, seed=7)]
    assert first == [p.to_dict() for p in generate_problems(300, seed=7)]
    assert first != [p.to_dict() for p in generate_problems(300, seed=8)]
    assert len({p["id"] for p in first}) == 300


def test_records_look_like_problems() -> None:
    for problem in generate_problems(40, seed=1):
        assert problem.source == "synthetic" and problem.subject in FAMILIES and problem.level in LEVELS
        assert re.fullmatch(rf"synth/{problem.subject}/[0-9a-f]{{12}}", problem.id)
        assert Problem.from_dict(json.loads(json.dumps(problem.to_dict()))) == problem


def test_train_and_test_never_share_a_problem() -> None:
    train = generate_problems(4000, seed=0, split="train")
    test = generate_problems(400, seed=0, split="test")
    train_text = {p.problem for p in train}
    assert len(train_text) == 4000 and len({p.problem for p in test}) == 400
    assert train_text.isdisjoint(p.problem for p in test)
    # stronger: problems that differ only in names or items land in the same split
    assert {skeleton(p.problem) for p in train}.isdisjoint(skeleton(p.problem) for p in test)
    assert all(split_of(p.problem) == "train" for p in train) and all(split_of(p.problem) == "test" for p in test)
    # a test set drawn with another seed is still disjoint from this train set
    assert train_text.isdisjoint(p.problem for p in generate_problems(400, seed=99, split="test"))


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_reference_step_verifies(family: str) -> None:
    for level, knobs in LEVELS.items():
        for problem in generate_problems(30, seed=level, families=[family], levels=[level]):
            result = check_reference(problem)
            assert result.steps == knobs.steps, problem.solution
            assert all(n >= 1 for n in result.claims_per_step), problem.solution
            assert all(result.steps_ok), problem.solution
            assert result.answer_ok, (problem.answer, problem.solution)
            assert problem.solution.count("\\boxed{") == 1 and "\\boxed{" in split_steps(problem.solution)[-1]


def _corrupt(step: str) -> str | None:
    """Change the last number on the right of the step's first equation by one."""
    claim = next((c for c in check_steps(step).claims if c.relation == "="), None)
    if claim is None:
        return None
    numbers = list(re.finditer(r"\d+", claim.rhs))
    rhs_at = step.index(claim.text, claim.start) + len(claim.text) - len(claim.rhs)
    target = numbers[-1]
    value = int(target.group()) + 1
    return step[:rhs_at + target.start()] + str(value) + step[rhs_at + target.end():]


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_a_corrupted_result_is_caught(family: str) -> None:
    for problem in generate_problems(10, seed=3, families=[family], levels=[1, 3, 5]):
        for step in split_steps(problem.solution or ""):
            bad = _corrupt(step)
            assert bad is not None and bad != step
            assert check_steps(bad).ok is False, (step, bad)


def test_a_wrong_boxed_answer_fails_its_claim() -> None:
    problem = generate_problems(1, families=["arithmetic"])[0]
    boxed = re.search(r"\\boxed\{(\d+)\}", problem.solution or "")
    assert boxed is not None
    wrong = (problem.solution or "").replace(boxed.group(0), f"\\boxed{{{int(boxed.group(1)) + 1}}}")
    assert check_steps(split_steps(wrong)[-1]).ok is False
    assert not verify(problem.answer, wrong).is_equal


def _numbers(problem: Problem) -> list[int]:
    return [int(n) for n in re.findall(r"\d+", problem.problem)]


def test_difficulty_knobs_change_steps_and_number_sizes() -> None:
    for steps in (2, 3, 4, 5):
        for problem in generate_problems(50, seed=steps, difficulty=Difficulty(steps=steps, max_value=30)):
            assert len(split_steps(problem.solution or "")) == steps
    for family in FAMILIES:
        small = generate_problems(60, seed=1, families=[family], difficulty=Difficulty(steps=3, max_value=10))
        large = generate_problems(60, seed=1, families=[family], difficulty=Difficulty(steps=3, max_value=200))
        size = [statistics.fmean(max(_numbers(p)) for p in batch) for batch in (small, large)]
        assert size[1] > size[0], (family, size)


def test_levels_map_to_knobs() -> None:
    assert [Difficulty.for_level(level).steps for level in range(1, 6)] == [2, 2, 3, 4, 5]
    assert level_of(Difficulty(steps=4, max_value=30)) == 4 and level_of(Difficulty(2, 10)) == 1
    with pytest.raises(ValueError, match="steps"):
        Difficulty(steps=6)
    with pytest.raises(ValueError, match="unknown synthetic family"):
        generate_problems(5, families=["calculus"])


def test_answer_types_cover_the_kinds() -> None:
    kinds = {answer_type(p.answer) for p in generate_problems(400, seed=2, levels=[1, 2, 3, 4, 5])}
    assert {"integer", "negative", "fraction", "negative fraction", "tuple", "expression"} <= kinds


def test_synth_and_stats_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "synth"
    assert main(["data", "synth", "--out-dir", str(out), "--n-train", "200", "--n-test", "30", "--seed", "1"]) == 0
    train = list(read_records(out / "train.jsonl", Problem))
    test = list(read_records(out / "test.jsonl", Problem))
    assert len(train) == 200 and len(test) == 30
    assert {p.problem for p in train}.isdisjoint(p.problem for p in test)
    assert "| train | 200 |" in capsys.readouterr().out
    assert main(["data", "stats", str(out / "train.jsonl")]) == 0
    report = capsys.readouterr().out
    assert "| **all** | 200 | 2 |" in report and report.count("100.0%") >= 22
    assert "| tuple |" in report and "## Answer types" in report


def test_synth_command_knobs_and_errors(tmp_path: Path) -> None:
    out = tmp_path / "hard"
    argv = ["data", "synth", "--out-dir", str(out), "--n-train", "40", "--n-test", "10",
            "--families", "fractions,ratio", "--steps", "4", "--max-value", "30"]
    assert main(argv) == 0
    problems = list(read_records(out / "train.jsonl", Problem))
    assert {p.subject for p in problems} == {"fractions", "ratio"}
    assert {len(split_steps(p.solution or "")) for p in problems} == {4}
    assert main(["data", "synth", "--out-dir", str(out), "--families", "nope"]) == 2
    assert main(["data", "synth", "--out-dir", str(out), "--steps", "3", "--levels", "1,2"]) == 2


def test_stats_on_stepwise_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "rows.jsonl"
    rows = [{"prompt": "p", "completions": ["a", "b"], "labels": [1.0, 0.0]}, {"prompt": "q", "completions": ["c"],
                                                                                 "labels": [1.0]}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert main(["data", "stats", str(path)]) == 0
    assert "| 2 | 1 | 1.50 | 2 | 66.7% | 50.0% |" in capsys.readouterr().out


def test_synth_imports_without_torch() -> None:
    code = ("import sys, data.synth, prm.commands.data_synth, prm.commands.data_stats\n"
            "assert not [m for m in ('torch', 'transformers') if m in sys.modules]\n")
    subprocess.run([sys.executable, "-c", code], check=True)
