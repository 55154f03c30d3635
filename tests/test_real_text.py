"""Regression tests on a real pretrained LM's own outputs (tests/fixtures/smollm2_outputs.jsonl): SmolLM2-135M-Instruct
samples of easy synthetic arithmetic problems, drawn through the project's sampler from the GGUF file in
../shared/models (temperature 0.7, 128-200 new tokens). Each row keeps the problem, its gold answer, the text exactly
as sampled, and what the project reads from it; ``why`` names what the row pins.

Real text broke three things that the project's own policy never wrote:
- "The answer is the number of" (a generation cut off after the marker) was extracted as the answer
  "the number of"; a phrase ending in an article, preposition or conjunction now states no answer;
- numbered steps on single lines ("1. ...\\n2. ...") were one step under blank-line segmentation, so a PRM
  scored the whole list once; the ``auto`` segmentation cuts one step per item;
- exact step labels judged the answer in the last step only: "So, the answer is: 120" followed by a cut-off
  "Now", or an answer in prose, was labelled a wrong last step while the outcome check called it right.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from data.labelling.exact import exact_labels
from data.segment import split_steps
from verifiers import extract_answer, verify

ROWS = [json.loads(line) for line in (Path(__file__).parent / "fixtures" / "smollm2_outputs.jsonl").read_text(
    encoding="utf-8").splitlines()]


@pytest.mark.parametrize("row", ROWS, ids=[f"{i}-{row['why']}" for i, row in enumerate(ROWS)])
def test_what_the_project_reads_from_real_model_text(row: dict) -> None:
    assert extract_answer(row["text"]) == row["answer"]
    assert (verify(row["gold"], row["text"]).status.value == "equal") == row["correct"]
    assert len(split_steps(row["text"], "blank_line")) == row["steps_blank_line"]
    assert len(split_steps(row["text"], "auto")) == row["steps_auto"]


def test_a_cut_off_answer_phrase_is_not_an_answer() -> None:
    (row,) = [r for r in ROWS if r["why"] == "cut-off answer phrase"]
    assert row["text"].endswith("The answer is the number of")
    assert extract_answer("The answer is the number of") is None
    assert extract_answer(row["text"]) != "the number of"  # the earlier marker's answer, if any


def test_numbered_steps_on_single_lines_are_steps() -> None:
    numbered = [r for r in ROWS if r["why"] == "numbered steps on single lines"]
    assert len(numbered) == 2
    for row in numbered:
        steps = split_steps(row["text"], "auto")
        assert row["steps_blank_line"] == 1 and len(steps) >= 5
        assert all(step[:1].isdigit() for step in steps)  # each step is one item of the list


@pytest.mark.parametrize("row", [r for r in ROWS if "exact_labels" in r], ids=lambda r: r["why"])
def test_exact_labels_agree_with_the_outcome_check(row: dict) -> None:
    """A right answer with no arithmetic slip is labelled right in every step, wherever the text states it (an
    answer followed by a cut-off "Now", or in prose): the labeller reads the answer as verify() does."""
    steps = split_steps(row["text"], "auto")
    assert row["correct"]
    assert exact_labels(steps, row["gold"], "zero").labels == row["exact_labels"] == [1.0] * len(steps)
