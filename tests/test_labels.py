"""Exact step labels: claims per step, the final-answer check, drop/zero after the first error, skips."""

from __future__ import annotations

import collections
from pathlib import Path

import pytest

from data.labelling.exact import (
    Unlabellable,
    exact_labels,
    label_samples,
    solution_steps,
    split_answer_line,
)
from data.records import Problem, Sample
from verifiers import VerifyConfig, verify

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"

OK1 = r"Each box holds $3 \times 12 = 36$ apples."
OK2 = r"After selling 14 she has $36 - 14 = 22$ apples left."
BAD2 = r"After selling 14 she has $36 - 14 = 24$ apples left."
OK3 = r"So the answer is $\boxed{22}$."
ANSWER_IN_CLAIM = r"After selling 14 she has $36 - 14 = \boxed{22}$ apples left."
PROSE = "Now we count what is left."

# name, steps, gold, after_error, labels, first_error
CASES = [
    ("correct solution", [OK1, OK2, OK3], "22", "drop", [1.0, 1.0, 1.0], -1),
    ("wrong step 2, drop", [OK1, BAD2, OK3], "22", "drop", [1.0, 0.0], 1),
    ("wrong step 2, zero", [OK1, BAD2, OK3], "22", "zero", [1.0, 0.0, 0.0], 1),
    ("no-claim step inherits correct", [OK1, PROSE, ANSWER_IN_CLAIM], "22", "drop", [1.0, 1.0, 1.0], -1),
    ("no-claim step after an error", [BAD2, PROSE, OK3], "22", "zero", [0.0, 0.0, 0.0], 0),
    ("right claims, wrong final answer", [OK1, OK2, OK3], "23", "drop", [1.0, 1.0, 0.0], 2),
    ("right claims, wrong answer, zero", [OK1, ANSWER_IN_CLAIM], "21", "zero", [1.0, 0.0], 1),
    ("gsm8k correct", ["Natalia sold 48/2 = <<48/2=24>>24 clips in May.",
                       "Natalia sold 48+24 = <<48+24=72>>72 clips altogether.", "#### 72"], "72", "drop",
     [1.0, 1.0], -1),
    ("gsm8k annotation wrong", ["Natalia sold 48/2 = <<48/2=24>>24 clips in May.",
                                "Natalia sold 48+24 = <<48+24=73>>73 clips altogether.", "#### 73"], "72", "zero",
     [1.0, 0.0], 1),
    ("gsm8k annotation disagrees with the number after it", ["She has 48/2 = <<48/2=24>>25 clips.",
                                                            "So 25+1 = <<25+1=26>>26.", "#### 26"], "26", "zero",
     [0.0, 0.0], 0),
    ("gsm8k wrong answer line only", ["Natalia sold 48/2 = <<48/2=24>>24 clips in May.",
                                      "Natalia sold 48+24 = <<48+24=72>>72 clips altogether.\n#### 70"], "72", "drop",
     [1.0, 0.0], 1),
]


@pytest.mark.parametrize(("steps", "gold", "after_error", "labels", "first_error"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_exact_labels(steps: list[str], gold: str, after_error: str, labels: list[float], first_error: int) -> None:
    result = exact_labels(steps, gold, after_error)  # type: ignore[arg-type]
    assert result.labels == labels
    assert all(type(label) is float for label in result.labels)
    assert result.first_error == first_error
    assert len(result.steps) == len(result.labels) == len(result.reasons)
    assert not any(step.startswith("####") for step in result.steps)


def test_reasons_name_the_failing_claim_and_the_answer() -> None:
    assert "36 - 14 = 24" in exact_labels([OK1, BAD2], "22").reasons[1]
    assert "!= gold 23" in exact_labels([OK1, OK2, OK3], "23").reasons[2]


def test_missing_final_answer_is_wrong_unless_ignored() -> None:
    strict = VerifyConfig(prose_fallback=False)  # no answer marker: no answer
    assert exact_labels([OK1, OK2], "22", config=strict).labels == [1.0, 0.0]
    assert exact_labels([OK1, OK2], "22", config=strict).answer_status == "no final answer"
    assert exact_labels([OK1, OK2], "22", missing_answer="ignore", config=strict).labels == [1.0, 1.0]
    assert exact_labels(["We think.", "No numbers here."], "22").answer_status == "no final answer"


def test_the_answer_is_read_as_the_outcome_check_reads_it() -> None:
    # prose ("she has 22 apples left"), and an answer stated before a cut-off remark: labels agree with verify()
    for steps in ([OK1, OK2], [OK1, OK3, "Now"]):
        assert verify("22", "\n\n".join(steps)).is_equal
        assert exact_labels(steps, "22").labels == [1.0] * len(steps)


@pytest.mark.parametrize(("steps", "gold", "reason"), [
    ([], "1", "no steps"), (["  ", "#### 5"], "5", "no steps"), ([OK3], "  ", "empty gold answer"),
])
def test_unlabellable(steps: list[str], gold: str, reason: str) -> None:
    with pytest.raises(Unlabellable, match=reason):
        exact_labels(steps, gold)


def test_bad_after_error_value() -> None:
    with pytest.raises(ValueError, match="after_error"):
        exact_labels([OK3], "22", "keep")  # type: ignore[arg-type]


def test_split_answer_line_and_solution_steps() -> None:
    assert split_answer_line(["a", "b\n#### 5"]) == (["a", "b"], "#### 5")
    assert split_answer_line(["a", "#### 5"]) == (["a"], "#### 5")
    assert split_answer_line(["a"]) == (["a"], None)
    gsm = "A = <<1+1=2>>2.\nB = <<2+2=4>>4.\n#### 4"
    assert solution_steps(gsm, "gsm8k") == ["A = <<1+1=2>>2.", "B = <<2+2=4>>4.", "#### 4"]
    prose = r"We have $x = 2.5$. Then $2 \cdot 3 = 6$. So $\boxed{6}$ it is. Note: that was easy."
    assert solution_steps(prose, "math") == [
        "We have $x = 2.5$.", r"Then $2 \cdot 3 = 6$.", r"So $\boxed{6}$ it is. Note: that was easy."]
    assert solution_steps("one.\n\ntwo. Three.", "synthetic") == ["one.", "two. Three."]


def test_label_samples_counts_what_it_skips() -> None:
    problems = [Problem("p1", "How many apples?", "22", "synthetic"),
                Problem("g1", "Clips?", "72", "gsm8k"), Problem("m1", "2+2?", "4", "math")]
    samples = [
        Sample("p1", 0, "\n\n".join([OK1, OK2, OK3])),
        Sample("p1", 1, "", steps=[OK1, BAD2, OK3]),
        Sample("g1", 0, "Sold 48/2 = <<48/2=24>>24.\nThen 48+24 = <<48+24=72>>72.\n#### 72"),
        Sample("m1", 0, "We add. Then we check.\n\n$2+2=\\boxed{4}$"),  # samples: blank lines, not sentences
        Sample("missing", 0, OK1),
        Sample("p1", 2, "   "),
    ]
    skipped: collections.Counter = collections.Counter()
    rows = label_samples(samples, problems, "zero", skipped=skipped)
    assert [r.labels for r in rows] == [[1.0, 1.0, 1.0], [1.0, 0.0, 0.0], [1.0, 1.0], [1.0, 1.0]]
    assert [r.extra["first_error"] for r in rows] == [-1, 1, -1, -1]
    assert [r.extra["answer_correct"] for r in rows] == [True, False, True, True]  # sample 1 has no text
    assert rows[0].prompt == "How many apples?" and rows[1].extra["sample_idx"] == 1
    assert skipped == {"unknown problem_id": 1, "no steps": 1}


def test_gsm8k_train_references_label_correct() -> None:
    path = SHARED / "gsm8k" / "train.jsonl"
    if not path.exists():
        pytest.skip(f"GSM8K train not found at {path}")
    from data.loaders import load_problems

    problems = load_problems(str(path), limit=200)
    results = [exact_labels(solution_steps(p.solution or "", "gsm8k"), p.answer) for p in problems]
    correct = sum(r.first_error < 0 for r in results)
    assert correct >= 195  # a handful of GSM8K references hold a real arithmetic slip
    assert all(r.answer_status == "equal" for r in results if r.first_error < 0)
