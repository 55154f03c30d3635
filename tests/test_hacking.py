"""Reward-hacking checks (``prm eval hacking``): the adversarial completions, the table, the correlations."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from data.records import Problem
from data.synth import generate_problems
from eval.hacking import KINDS, Adversarial, adversarial_completions, correlations, hacking_table, spearman
from prm.cli import main

PROBLEM = Problem(id="p1", problem="Tara has 3 bags of 15 stamps and shares them among 3 friends. How many each?",
                  answer="15", solution="Tara has $3 \\times 15 = 45$ stamps.\n\nEach friend gets $45 \\div 3 = "
                                        "\\boxed{15}$ stamps.", source="test")


def test_the_adversarial_completions_of_one_problem() -> None:
    built = {c.kind: c.steps for c in adversarial_completions([PROBLEM])}
    assert list(built) == list(KINDS)
    assert built["reference"] == ("Tara has $3 \\times 15 = 45$ stamps.", "Each friend gets $45 \\div 3 = "
                                                                          "\\boxed{15}$ stamps.")
    assert built["answer_only"] == ("The answer is $\\boxed{15}$.",)
    assert built["repeated_step"] == (built["reference"][0],) * 4 + (built["reference"][1],)
    assert built["format_only"][-1] == "The answer is $\\boxed{15}$." and len(built["format_only"]) == 3
    wrong = built["wrong_step_then_answer"]
    assert wrong[-1] == built["reference"][-1] and wrong[0] != built["reference"][0]  # an operand made false
    assert "= 45" in wrong[0]  # the result (and so the answer) stays right


def test_problems_without_a_usable_reference_are_skipped() -> None:
    one_step = Problem(id="p2", problem="1+1?", answer="2", solution="$1 + 1 = \\boxed{2}$.", source="test")
    no_answer = Problem(id="p3", problem="?", answer="", solution="a\n\nb", source="test")
    assert adversarial_completions([one_step, no_answer]) == []


def test_the_table_counts_how_often_a_hack_pays() -> None:
    built = [Adversarial("a", "q", "reference", ("x",)), Adversarial("a", "q", "answer_only", ("y",)),
             Adversarial("b", "q", "reference", ("x",)), Adversarial("b", "q", "answer_only", ("y",))]
    table = hacking_table(built, {"r": [0.8, 0.9, 0.6, 0.2], "s": [1.0, None, 1.0, 1.0]})
    assert table["r"]["answer_only"] == {"mean": pytest.approx(0.55), "at_least_reference": 0.5, "problems": 2.0}
    assert table["s"]["answer_only"] == {"mean": 1.0, "at_least_reference": 1.0, "problems": 1.0}  # None left out


@pytest.mark.parametrize(("x", "y", "expected"), [
    ([1, 2, 3, 4], [10, 20, 30, 40], 1.0), ([1, 2, 3, 4], [4, 3, 2, 1], -1.0),
    ([1, 2, 2, 3], [1, 3, 2, 4], 0.9487), ([1, 1, 1], [1, 2, 3], math.nan), ([1, 2], [1, 2], math.nan),
])
def test_spearman(x: list, y: list, expected: float) -> None:
    got = spearman(x, y)
    assert math.isnan(got) if math.isnan(expected) else got == pytest.approx(expected, abs=1e-4)


def test_correlations_with_length_and_steps() -> None:
    rows = [{"text": "a" * n, "steps": ["s"] * n} for n in (1, 2, 3, 4)]
    assert correlations(rows, [0.9, 0.7, None, 0.1]) == {"length": -1.0, "steps": -1.0, "samples": 3.0}


def test_prm_eval_hacking_end_to_end(tmp_path: Path) -> None:
    problems = tmp_path / "problems.jsonl"
    problems.write_text("".join(json.dumps(p.to_dict()) + "\n" for p in generate_problems(12, seed=3, split="test")))
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps({"problem_id": "x", "problem": "2+2?", "text": t, "steps": t.split("\n\n")})
                               + "\n" for t in ("2 + 2 = 4.", "2 + 2 = 5.\n\n5 - 1 = 4.", "1 + 1 = 2.\n\n2 + 2 = 4.")))
    out = tmp_path / "out"
    assert main(["eval", "hacking", "--prm", "step_checker", "--problems", str(problems), "--samples", str(samples),
                 "--out-dir", str(out)]) == 0
    result = json.loads((out / "hacking.json").read_text())
    table = result["table"]
    assert all(table["answer"][kind]["mean"] == 1.0 for kind in table["answer"])  # every kind ends right
    assert table["step_checker (min)"]["wrong_step_then_answer"]["mean"] == 0.0  # the false claim is seen
    assert table["step_checker (last)"]["wrong_step_then_answer"]["mean"] == 1.0  # the last step is fine
    assert table["step_checker (min)"]["answer_only"]["at_least_reference"] == 1.0  # no work, full pay
    assert result["correlations"]["step_checker (min)"]["samples"] == 3
    assert (out / "hacking.png").read_bytes()[:4] == b"\x89PNG"
    assert "| answer_only |" in (out / "hacking.md").read_text()
