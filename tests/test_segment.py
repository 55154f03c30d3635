"""Step segmentation: every mode, exact offsets, and text rebuilt byte for byte."""

from __future__ import annotations

import pytest

from data.segment import SEGMENTERS, split_steps, step_spans

SOLUTION = "First, $3 \\times 4 = 12$.\n\nThen $12 + 1 = 13$.\n  \n\n\nSo the answer is $\\boxed{13}$.\n"


@pytest.mark.parametrize(("mode", "text", "steps"), [
    ("blank_line", SOLUTION, ["First, $3 \\times 4 = 12$.", "Then $12 + 1 = 13$.", "So the answer is $\\boxed{13}$."]),
    ("blank_line", "one step only", ["one step only"]),
    ("blank_line", "\n\n  \n", []),
    ("blank_line", "a\nb\n\nc", ["a\nb", "c"]),
    ("newline", "a\nb\n\nc", ["a", "b", "c"]),
    ("step_marker", "Step 1: add.\nStep 2: multiply.\n\nmore of step 2\nstep 3) done", [
        "Step 1: add.", "Step 2: multiply.\n\nmore of step 2", "step 3) done"]),
    ("step_marker", "Intro line.\nStep 1: go.", ["Intro line.", "Step 1: go."]),
    ("step_marker", "no markers\n\nat all", ["no markers", "at all"]),
    ("auto", "1. Add: 2 + 3 = 5.\n2. Double: 10.\n3) Done.\n\nThe answer is 10.", [
        "1. Add: 2 + 3 = 5.", "2. Double: 10.", "3) Done.", "The answer is 10."]),
    ("auto", "Let's go.\nStep 1: a = 2\n**Step 2:** b = 3", ["Let's go.", "Step 1: a = 2", "**Step 2:** b = 3"]),
    ("auto", "Two cases:\n1. only one item here", ["Two cases:\n1. only one item here"]),  # one item: no list
    ("auto", "Values:\n3.5 is big\n4.25 is small", ["Values:\n3.5 is big\n4.25 is small"]),  # decimals
    ("auto", SOLUTION, ["First, $3 \\times 4 = 12$.", "Then $12 + 1 = 13$.", "So the answer is $\\boxed{13}$."]),
])
def test_modes(mode: str, text: str, steps: list[str]) -> None:
    assert split_steps(text, mode) == steps


@pytest.mark.parametrize("mode", list(SEGMENTERS))
@pytest.mark.parametrize("text", [SOLUTION, "Step 1: a\n\nStep 2: b", "x\n\n\ny\nz", "", "  lone  ", "é\n\n😀\n\nz",
                                  "1. a\n2. b  \n\n3. c\n4) d\n"])
def test_spans_rebuild_the_text_exactly(mode: str, text: str) -> None:
    spans = step_spans(text, mode)
    assert all(a < b for a, b in spans) and all(b1 <= a2 for (_, b1), (a2, _) in zip(spans, spans[1:], strict=False))
    if spans:
        inner = [text[b:a] for (_, b), (a, _) in zip(spans, spans[1:], strict=False)]
        gaps = [text[: spans[0][0]], *inner, text[spans[-1][1]:]]
        pieces = [gaps[0]] + [p for (a, b), gap in zip(spans, gaps[1:], strict=False) for p in (text[a:b], gap)]
        assert "".join(pieces) == text
        assert all(not gap.strip() or mode == "step_marker" for gap in gaps)
    assert [text[a:b].strip() for a, b in spans] == split_steps(text, mode)


def test_unknown_mode_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown step segmentation 'sentences'"):
        split_steps("a", "sentences")
