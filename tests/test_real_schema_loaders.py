"""The PRM800K and Math-Shepherd converters on the real raw rows in ``shared/datasets/real_schema_samples``.

Every expected value below was read by hand from the files (line numbers are 1-based). PRM800K: the labelled
trajectory is the chosen completion at each step, else the labeller's own ``human_completion`` (+1), else the
-1 rated completion (phase 2's found error, the pre-generated one); ratings 1 -> 1.0, 0 -> 1.0 (neutral
default), -1 -> 0.0. Math-Shepherd: the problem is the text before "Step 1:", one step per ``ки``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from conftest import SHARED_DATASETS, read_jsonl

from data.build import build_dataset
from data.stepwise import load_stepwise, load_stepwise_with_report, prm800k_phase
from prm.cli import main
from prm.model.tags import is_complete, outcome_labels

SAMPLES = SHARED_DATASETS / "real_schema_samples"
PRM800K = SAMPLES / "prm800k.jsonl"
SHEPHERD = SAMPLES / "math_shepherd.jsonl"

pytestmark = pytest.mark.skipif(not PRM800K.exists() or not SHEPHERD.exists(),
                                reason=f"real-schema samples not found in {SAMPLES}")

# line: (problem, steps (index -> exact text; -1 the last), number of steps, labels, gold answer, final answer,
#        phase (generation null -> 1, a number -> 2))
PRM800K_ROWS: dict[int, tuple[str, dict[int, str], int, list[float], str | None, str | None, int]] = {
    1: ("Three pencils and a jumbo eraser cost $\\$1.24$. Five pencils and a jumbo eraser cost $\\$1.82$. "
        "No prices include tax. In cents, what is the cost of a pencil?",
        {0: "Let's call the price of a pencil p and the price of a jumbo eraser e. Then we can write two equations.",
         1: "We have $3p+e=1.24$ and $5p+e=1.82$.",  # step 2: all five completions -1, the human's own step
         3: "$5p+e-3p-e=1.82-1.24$.",
         -1: "That means a pencil costs 29 cents.\n\n# Answer\n\n29"},  # chosen_completion 4 of 5
        6, [1.0] * 6, "29", "29", 1),
    2: ("A Senate committee has 5 Democrats, 5 Republicans, and 1 Independent.  In how many ways can they sit "
        "around a circular table if all the members of each party all sit next to each other?  (Two seatings are "
        "considered equivalent if one is a rotation of the other.)",
        {1: "I wonder how many ways I can arrange these groups around the circle, ignoring the order within each "
            "group for now.",  # rated 0: neutral -> 1.0
         -1: "For the Democrats, there are 5! ways to order them in a line, but only half of them are distinct "
             "around a circle, since reversing the order gives the same seating."},  # found_error: the -1 one
        7, [1.0] * 6 + [0.0], "28800", None, 2),
    3: ("How many seconds are in 7.8 minutes?",
        {0: "7.8 minutes is the same as 7 minutes and 0.8 minutes.",
         -1: "Exactly.\n\n# Answer\n\n468"},  # chosen_completion 1 of 7; completion 0 (rated 0) not taken
        5, [1.0] * 5, "468", "468", 1),
    4: ("Thirty-five students attend a math club meeting. The number of girls at the meeting is a multiple of 13, "
        "and there are more girls than boys attending the meeting. How many boys are at the meeting?",
        {5: "Since there are more girls than boys, g is 26 and b is 9.",  # chosen 3 of 7, three of them -1
         -1: "Right. So the number of boys is 9.\n\n# Answer\n\n9"},
        7, [1.0] * 7, "9", "9", 1),
    5: ("Let $ABCD$ be a regular tetrahedron with side length 2. The plane parallel to edges $AB$ and $CD$ and "
        "lying halfway between them cuts $ABCD$ into two pieces. Find the surface area of one of these pieces.",
        {2: "The side length is 2, so the area of one face is $\\dfrac{4\\sqrt{3}}{4} = \\sqrt{3}$.",
         -1: "By symmetry, we have that the intersection of the plane with the tetrahedron is a square of side $1$. "
             "So, we have to add this area."},  # give_up: a human step, then a step with completions null
        8, [1.0] * 8, "1+2\\sqrt{3}", None, 1),
    6: ("Solve over the integers: $$2^a+4^b+8^c=328.$$",
        {4: "I start with the largest power of 2 that is less than 328, which is 256.",
         -1: "I get: $$\\begin{aligned} a&=8 \\\\ b&=3 \\\\ c&=1 \\end{aligned}$$\n\n# Answer\n\n8, 3, 1"},
        12, [1.0] * 12, None, "8, 3, 1", 2),  # generation -1: an initial screening question, no ground truth
}


@pytest.fixture(scope="module")
def prm800k_loaded() -> tuple[list[Any], Any]:
    return load_stepwise_with_report(PRM800K)  # format detected from the columns, as prm train --data does


@pytest.mark.parametrize("line", sorted(PRM800K_ROWS))
def test_prm800k_real_row(prm800k_loaded: tuple[list[Any], Any], line: int) -> None:
    problem, steps, n_steps, labels, gold, final, phase = PRM800K_ROWS[line]
    row = prm800k_loaded[0][line - 1]
    assert row.prompt == problem
    assert len(row.completions) == n_steps
    for index, text in steps.items():
        assert row.completions[index] == text
    assert row.labels == labels and all(type(x) is float for x in row.labels)
    assert row.extra == {"answer": gold, "final_answer": final, "complete": final is not None, "phase": phase}


def test_prm800k_real_report(prm800k_loaded: tuple[list[Any], Any]) -> None:
    rows, report = prm800k_loaded
    assert (report.loaded, dict(report.skipped)) == (6, {})
    assert dict(report.notes) == {"trajectory ends at a step with no chosen, human or -1 rated completion": 1}
    assert report.examples["trajectory ends at a step with no chosen, human or -1 rated completion"] == [
        f"{PRM800K} line 5"]


def test_prm800k_real_phase_signal() -> None:
    raw = read_jsonl(PRM800K)
    assert [r["generation"] for r in raw] == [None, 6, None, None, None, -1]
    assert [prm800k_phase(r, f"line {i}") for i, r in enumerate(raw, 1)] == [1, 2, 1, 1, 1, 2]
    assert ["pre_generated_steps" in r["question"] for r in raw] == [False, True, False, False, False, True]
    assert [r["is_initial_screening_question"] for r in raw] == [False] * 5 + [True]


@pytest.mark.parametrize(("options", "labels_line2", "skipped"), [
    ({"neutral": 0.0}, [1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0], {}),
    ({"neutral": None}, None, {"neutral (0) rated step, and neutral=None drops such samples": 1}),
    ({"keep_after_error": True}, [1.0] * 6 + [0.0], {}),  # phase 2 stops at the error: nothing after it
])  # fmt: skip
def test_prm800k_real_rows_options(options: dict[str, Any], labels_line2: list[float] | None,
                                   skipped: dict[str, int]) -> None:
    rows, report = load_stepwise_with_report(PRM800K, **options)
    assert dict(report.skipped) == skipped
    by_prompt = {r.prompt: r for r in rows}
    senate = PRM800K_ROWS[2][0]
    assert (by_prompt[senate].labels if senate in by_prompt else None) == labels_line2


def test_outcome_labels_of_real_rows() -> None:
    """Bug fixed: PRM800K ends with '# Answer', never \\boxed, so every row used to look unfinished and the
    outcome RM (prm train --outcome) got 0.0 for all; ``complete`` now says which trajectories finished."""
    rows = load_stepwise(PRM800K)
    outcomes = [outcome_labels(r.labels, is_complete(r.completions, r.extra))[-1] for r in rows]
    assert outcomes == [1.0, 0.0, 1.0, 1.0, 0.0, 1.0]
    assert [is_complete(r.completions) for r in rows] == [False] * 6  # what the \boxed rule alone says


# line: (problem, steps (all, exact), labels, final answer)
SHEPHERD_ROWS: dict[int, tuple[str, list[str], list[float], str]] = {
    1: ("Janet pays $40/hour for 3 hours per week of clarinet lessons and $28/hour for 5 hours a week of piano "
        "lessons. How much more does she spend on piano lessons than clarinet lessons in a year?",
        ["Step 1: Janet spends 3 hours + 5 hours = <<3+5=8>>8 hours per week on music lessons.",
         "Step 2: She spends 40 * 3 = <<40*3=120>>120 on clarinet lessons per week.",
         "Step 3: She spends 28 * 5 = <<28*5=140>>140 on piano lessons per week.",
         "Step 4: Janet spends 120 + 140 = <<120+140=260>>260 on music lessons per week.",
         "Step 5: She spends 260 * 52 = <<260*52=13520>>13520 on music lessons in a year. The answer is: 13520"],
        [1.0, 1.0, 1.0, 1.0, 0.0], "13520"),
    2: ("Val cuts a single watermelon into 40 slices, and each slice has 20 black seeds and 20 white seeds. What is "
        "the total number of seeds in a watermelon?",
        ["Step 1: There are 20 x 40 = <<20*40=8000>>8000 black seeds.",
         "Step 2: There are 20 x 40 = <<20*40=8000>>8000 white seeds.",
         "Step 3: So, the total number of seeds is 8000 + 8000 = <<8000+8000=16000>>16000. The answer is: 16000"],
        [0.0, 0.0, 0.0], "16000"),
    5: ("If Buzz bought a pizza with 78 slices at a restaurant and then decided to share it with the waiter in the "
        "ratio of 5:8, with Buzz's ratio being 5, what's twenty less the number of slices of pizza that the waiter "
        "ate?",
        ["Step 1: The total ratio representing the pizza is 5+8 = <<5+8=13>>13.",
         "Step 2: The waiter ate 13 x 8 / 13 = <<13*8/13=6>>6 slices of the pizza.",
         "Step 3: Buzz ate 78 - 6 = <<78-6=72>>72 slices of the pizza.",
         "Step 4: The waiter ate 20 less than the number of slices that Buzz ate which is 72 - 20 = 52.",
         "Step 5: The waiter ate 52 slices of the pizza. The answer is: 52"],
        [1.0, 0.0, 0.0, 0.0, 0.0], "52"),
    6: ("Marly has ten $20 bills, eight $10 bills, and four $5 bills. If she wants to change her bills to $100 "
        "bills, how many pieces of $100 bills will she have?",
        ["Step 1: Marly has a total of ten $20 bills + eight $10 bills + four $5 bills = $<<10+8+4=220>>220",
         "Step 2: If she wants to change all of the money to $100 bills, she will have 220 / 100 = "
         "<<220/100=2.2>>2.2 pieces of $100 bills The answer is: 2.2"],
        [0.0, 0.0], "2.2"),
}


@pytest.mark.parametrize("line", sorted(SHEPHERD_ROWS))
def test_math_shepherd_real_row(line: int) -> None:
    problem, steps, labels, final = SHEPHERD_ROWS[line]
    rows, report = load_stepwise_with_report(SHEPHERD)
    assert (report.loaded, dict(report.skipped), dict(report.notes)) == (7, {}, {})
    row = rows[line - 1]
    assert (row.prompt, row.completions, row.labels) == (problem, steps, labels)
    assert row.extra == {"task": "GSM8K", "final_answer": final, "complete": True}


def test_math_shepherd_real_labels_all_rows() -> None:
    rows = load_stepwise(SHEPHERD)
    assert [r.labels for r in rows] == [[1.0, 1.0, 1.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0],
                                        [0.0] * 5, [1.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0], [0.0, 0.0, 0.0]]
    assert [r.extra["final_answer"] for r in rows] == ["13520", "16000", "40", "900", "52", "2.2", "210"]


def test_data_build_adds_the_real_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       caplog: pytest.LogCaptureFixture) -> None:
    """``prm data build --prm800k --math-shepherd``: the rows as loaded, tagged with their source; the
    sample's MATH-500 problems (it mixes PRM800K test-file rows in) are flagged."""
    out = tmp_path / "rows.jsonl"
    argv = ["data", "build", "--n-synthetic", "0", "--gsm8k", "0", "--math", "0", "--prm800k", str(PRM800K),
            "--math-shepherd", str(SHEPHERD), "--output", str(out)]
    with caplog.at_level(logging.INFO):
        assert main(argv) == 0
    written = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(written) == 13
    by_source = {s: [w for w in written if w["source"] == s] for s in ("prm800k", "math_shepherd")}
    assert {w["label_method"] for w in by_source["prm800k"]} == {"human"}
    assert {w["label_method"] for w in by_source["math_shepherd"]} == {"monte_carlo"}
    assert sorted(w["prompt"] for w in by_source["prm800k"]) == sorted(p[0] for p in PRM800K_ROWS.values())
    pencils = next(w for w in by_source["prm800k"] if w["prompt"] == PRM800K_ROWS[1][0])
    assert pencils["labels"] == [1.0] * 6 and pencils["answer"] == "29" and pencils["complete"] is True
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "4 of 13 training problems (4 rows) are math500 [test] problems" in warnings[0]
    assert "| prm800k | 6 | 5 | 1 | 16.7% |" in capsys.readouterr().out  # only line 2 has a 0.0 label


def test_build_dataset_real_rows_without_eval_check(tmp_path: Path) -> None:
    report = build_dataset(tmp_path / "o.jsonl", n_synthetic=0, gsm8k=0, math=0, prm800k=str(PRM800K))
    assert report.overlaps is None and report.rows == 6
    assert (report.by_source["prm800k"].positives, report.by_source["prm800k"].negatives) == (5, 1)
