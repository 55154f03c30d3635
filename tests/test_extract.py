"""Tests for verifiers.extract: final-answer extraction, table-driven by theme."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest

from verifiers.extract import boxed_contents, extract_answer, last_boxed

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
MATH500 = DATASETS / "math500" / "test.jsonl"
GSM8K = DATASETS / "gsm8k" / "test.jsonl"


def _check(text: str, expected: str | None) -> None:
    assert extract_answer(text) == expected


BOXED = [
    ("\\boxed{5}", "5"),
    ("so $x = \\boxed{\\frac{1}{2}}$.", "\\frac{1}{2}"),
    ("$\\boxed{\\frac{\\sqrt{3}}{2}}$", "\\frac{\\sqrt{3}}{2}"),
    ("\\boxed{a{b{c{d}}}e}", "a{b{c{d}}}e"),
    ("\\boxed {42}", "42"),
    ("\\boxed\n{42}", "42"),
    ("\\boxed{ 3 }", "3"),
    ("\\boxed 5", "5"),
    ("so $x = \\boxed 5$.", "5"),
    ("the total is \\boxed 12.", "12"),
    ("\\boxed\\pi", "\\pi"),
    ("\\fbox{7}", "7"),
    ("\\fbox {x+1}", "x+1"),
    ("\\boxed{\\{1,2\\}}", "\\{1,2\\}"),
    ("\\boxed{\\left\\{ x \\mid x > 0 \\right\\}}", "\\left\\{ x \\mid x > 0 \\right\\}"),
    ("\\boxed{\\text{(A)}}", "\\text{(A)}"),
    ("\\boxed{\\boxed{9}}", "9"),
    ("\\boxed{ \\fbox{ 9 } }", "9"),
    ("\\boxed{\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}}", "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}"),
    ("\\boxed{a}\\boxed{b}", "b"),
    ("a stray { before \\boxed{6}", "6"),
    ("\\boxed{6} and a stray } after", "6"),
    ("\\boxedfoo{5}", None),
]


@pytest.mark.parametrize(("text", "expected"), BOXED)
def test_boxed_forms(text: str, expected: str | None) -> None:
    _check(text, expected)


LAST_BOXED = [
    ("\\boxed{1} then \\boxed{2}", "2"),
    ("\\boxed{1} then \\fbox{2}", "2"),
    ("\\boxed{a{b}c}", "a{b}c"),
    ("\\boxed{\\boxed{9}}", "\\boxed{9}"),
    ("\\boxed{4} and then \\boxed{4", "4"),
    ("\\boxed{}", ""),
    ("\\boxed{ x }", "x"),
    ("no box here", None),
    ("\\boxed{", None),
    ("", None),
]


@pytest.mark.parametrize(("text", "expected"), LAST_BOXED)
def test_last_boxed(text: str, expected: str | None) -> None:
    assert last_boxed(text) == expected


BOXED_CONTENTS = [
    ("\\boxed{1}, \\fbox{2} and \\boxed 3", ["1", "2", "3"]),
    ("\\boxed{\\boxed{1}} \\boxed{2", ["\\boxed{1}"]),
    ("\\boxed{} \\boxed{x}", ["", "x"]),
    ("nothing", []),
    ("", []),
]


@pytest.mark.parametrize(("text", "expected"), BOXED_CONTENTS)
def test_boxed_contents(text: str, expected: list[str]) -> None:
    assert boxed_contents(text) == expected


MULTIPLE = [
    ("The answer is 5. Wait, that's wrong... The answer is \\boxed{7}", "7"),
    ("So \\boxed{7}. Hmm, no. The answer is 8.", "8"),
    ("First \\boxed{3}, then on reflection \\boxed{4}.", "4"),
    ("The answer is 6.\n#### 7", "7"),
    ("#### 7\nThe answer is 6", "6"),
    ("The answer is 2.\nAnswer: 3", "3"),
    ("Final Answer: 3\n\nLet me double-check... \\boxed{", "3"),
    ("\\boxed{4} and later \\boxed{}", "4"),
    ("\\boxed{\\text{the answer is 5}}", "\\text{the answer is 5}"),
    ("\\boxed{2} and \\boxed{3}", "2, 3"),
    ("\\boxed{2}, \\boxed{3}, and \\boxed{4}.", "2, 3, 4"),
    ("$\\boxed{2}$ and $\\boxed{3}$", "2, 3"),
    ("$\\boxed{2}$, $\\boxed{-1}$", "2, -1"),
    ("\\boxed{1}\\text{ and }\\boxed{2}", "1, 2"),
    ("The roots are \\boxed{2} and \\boxed{3} as required.", "2, 3"),
    ("The answer is \\boxed{2} and \\boxed{3}", "2, 3"),
    ("\\boxed{1} or \\boxed{2}", "1, 2"),  # alternatives are a list (and a hedge matches no single answer)
    ("$x=\\boxed{2}$ and $y=\\boxed{3}$", "x = 2, y = 3"),  # labelled boxes keep their labels
    ("\\boxed{1} so the second one is \\boxed{2}", "2"),
    ("\\boxed{2} and \\boxed{3}. Actually the answer is 4.", "4"),
]


# Boxes that each give a different name a value form one answer, labels kept; with no connective between
# them, a repeated name is a correction (the last box wins).
LABELLED_BOXES = [
    ("x = \\boxed{2}, \\quad y = \\boxed{3}", "x = 2, y = 3"),
    ("$x=\\boxed{2}$\n$y=\\boxed{3}$", "x = 2, y = 3"),
    ("\\boxed{x = 2}\n\\boxed{y = 3}", "x = 2, y = 3"),
    ("\\begin{align} x &= \\boxed{2} \\\\ y &= \\boxed{3} \\end{align}", "x = 2, y = 3"),
    ("AB = \\boxed{5}, BC = \\boxed{7}", "AB = 5, BC = 7"),
    ("$x = \\boxed{2}$ and $x = \\boxed{3}$", "x = 2, x = 3"),  # "and": two roots
    ("\\boxed{x = 2}\n\\boxed{x = 3}", "x = 3"),
    ("So $x = \\boxed{2}$. Then $y = 2x + 1 = \\boxed{5}$", "5"),
    ("The area is $A = \\boxed{12}$ and the perimeter is $P = \\boxed{14}$", "14"),
    ("$\\boxed{2}$\n$\\boxed{3}$", "3"),
]


@pytest.mark.parametrize(("text", "expected"), LABELLED_BOXES)
def test_labelled_boxes(text: str, expected: str | None) -> None:
    _check(text, expected)


@pytest.mark.parametrize(("text", "expected"), MULTIPLE)
def test_multiple_answers_and_retractions(text: str, expected: str | None) -> None:
    _check(text, expected)


GSM8K_MARKERS = [
    ("#### 72", "72"),
    ("She makes 9 * 2 = $<<9*2=18>>18 every day.\n#### 18", "18"),
    ("#### 1,000", "1,000"),
    ("####72", "72"),
    ("#### -3\n", "-3"),
    ("#### 5\nsome trailing text", "5"),
    ("#### 0.5", "0.5"),
    ("##### 5", None),
    ("####", None),
    ("#### \n", None),
]


@pytest.mark.parametrize(("text", "expected"), GSM8K_MARKERS)
def test_gsm8k_hashes(text: str, expected: str | None) -> None:
    _check(text, expected)


PHRASES = [
    ("The answer is 42", "42"),
    ("So the answer is 42.", "42"),
    ("THE ANSWER IS 42", "42"),
    ("The answer is: 10", "10"),
    ("The final answer is 3.5.", "3.5"),
    ("Hence the final answer is 8. I hope so.", "8"),
    ("Final answer is 8", "8"),
    ("Final Answer: 12", "12"),
    ("final answer: x = 2", "x = 2"),
    ("Answer: 7", "7"),
    ("answer : 7", "7"),
    ("Some work.\nAnswer: 7", "7"),
    ("Some work. Answer: 7", "7"),
    ("**Final Answer:** 9", "9"),
    ("**Final Answer**: 9", "9"),
    ("**Answer:** 9", "9"),
    ("### Answer: 9", "9"),
    ("#### Answer: 9", "9"),
    ("The answer is **14**.", "14"),
    ("The answer is 3.5. Next sentence", "3.5"),
    ("The answer is 1, 2, \\ldots, 10. Done", "1, 2, \\ldots, 10"),
    ("The answer is 1, 2, ..., 10. Done", "1, 2, ..., 10"),
    ("The answer is 5\nMore text", "5"),
    ("The answer is 5.\r\n", "5"),
    ("The answer is 5!", "5!"),
    ("So the answer is \\boxed{5}.", "5"),
    ("The answer is $\\boxed{12}$.", "12"),
    ("We may check our answer: 17*44 = 748", None),
]


@pytest.mark.parametrize(("text", "expected"), PHRASES)
def test_phrase_markers(text: str, expected: str | None) -> None:
    _check(text, expected)


MINERVA = [
    ("Final Answer: The final answer is $5$. I hope it is correct.", "5"),
    ("Final Answer: The final answer is $\\frac{3}{4}$. I hope it is correct.", "\\frac{3}{4}"),
    ("Work.\n\nFinal Answer: The final answer is $(1,2)$. I hope it is correct.", "(1,2)"),
    ("Final Answer: The final answer is 3.14. I hope it is correct.", "3.14"),
    ("Final Answer: The final answer is $3.5$. I hope it is correct.", "3.5"),
    ("x=\\boxed{4}.\nFinal Answer: The final answer is $4$. I hope it is correct.", "4"),
    ("Final Answer: The final answer is $\\text{Mon}$. I hope it is correct.", "\\text{Mon}"),
]


# "Answer" with no colon, before inline math that ends its line; "Final Answer:" before a sentence; chat tokens.
ANSWER_WORD_SENTENCES_AND_TOKENS = [
    ("Answer $5$", "5"), ("Answer \\(5\\)", "5"), ("Answer \\[5\\]", "5"), ("Answer $$5$$", "5"),
    ("**Final answer** \\(x = 2\\).", "x = 2"), ("Answer\n\\[\n4\n\\]", "4"), ("Work.\nANSWER $7$", "7"),
    ("We may check our answer $17$ again", None), ("Answer $5$ is what we tried first", None),
    ("Final Answer: The probability that both are red is $\\frac{1}{3}$.", "\\frac{1}{3}"),
    ("Final Answer: There are 12 apples left in the basket.", "12"),
    ("Final Answer: 12 apples, since each of the 3 boxes holds 4.", "12"),
    ("The answer is 25% of the whole.", "25%"), ("Answer: $\\frac12$ of the cake is left", "\\frac12"),
    ("Final Answer: Alice wins the game", "Alice wins the game"), ("The answer is 3,5.", "3,5"),
    ("Final Answer: The length is 3,5 cm.", "The length is 3,5 cm"),
    ("\\boxed{5}<|im_end|>", "5"), ("The answer is 3.<end_of_turn>", "3"), ("#### 12<|endoftext|>", "12"),
    ("Answer: 3<｜end▁of▁sentence｜>", "3"), ("The answer is 2<|reserved_special_token_3|>", "2"),
]


@pytest.mark.parametrize(("text", "expected"), ANSWER_WORD_SENTENCES_AND_TOKENS)
def test_answer_word_sentences_and_tokens(text: str, expected: str | None) -> None:
    _check(text, expected)


@pytest.mark.parametrize(("text", "expected"), MINERVA)
def test_minerva_format(text: str, expected: str | None) -> None:
    _check(text, expected)


DELIMITERS = [
    ("The answer is $5$.", "5"),
    ("The answer is $$5$$", "5"),
    ("The answer is \\(5\\).", "5"),
    ("The answer is \\[ 5 \\]", "5"),
    ("The answer is \\(\\frac{1}{2}\\)", "\\frac{1}{2}"),
    ("The answer is \\$18.90.", "\\$18.90"),
    ("The answer is $x = 2$ or $x = 3$.", "x = 2 or x = 3"),
    ("Answer: **$7$**", "7"),
    ("The answer is $\\frac{1}{2}$,", "\\frac{1}{2}"),
    ("The answer is $-3.$", "-3"),
    ("#### $18", "18"),
]


@pytest.mark.parametrize(("text", "expected"), DELIMITERS)
def test_delimiter_stripping(text: str, expected: str | None) -> None:
    _check(text, expected)


NONE_FOUND = [
    "",
    "   \n\t ",
    "no answer here",
    "The answer is",
    "The answer is .",
    "The answer is $ $",
    "The answer is **.**",
    "Answer:\n5",
    "\\boxed{",
    "\\boxed{3",
    "\\boxed{}",
    "\\boxed{  }",
    "\\boxed",
    "$\\boxed$",
    "\\boxed \\boxed",
    "The answer is \\boxed{",
    "The answer is \\boxed{5",
    "}}}{{{",
    "\\{ 5 \\}",
]


@pytest.mark.parametrize("text", NONE_FOUND)
def test_none_found(text: str) -> None:
    _check(text, None)


ANY = object()
ADVERSARIAL = [
    ("unclosed boxes", "\\boxed{" * 20_000, None),
    ("unclosed boxes after an answer", "\\boxed{1}" + "\\boxed{" * 20_000, "1"),
    ("nested 10k deep", "\\boxed{" * 10_000 + "x" + "}" * 10_000, "x"),
    ("braces nested 50k deep", "\\boxed{" + "{" * 50_000 + "}" * 50_000 + "}", "{" * 50_000 + "}" * 50_000),
    ("open braces", "{" * 100_000, None),
    ("close braces", "}" * 100_000, None),
    ("backslashes", "\\" * 100_001, None),
    ("dollars", "$" * 100_000, None),
    ("hashes", "#" * 100_000, None),
    ("periods", "." * 100_000, None),
    ("spaces", " " * 100_000, None),
    ("phrase then dollars", "The answer is " + "$" * 100_000, None),
    ("phrase then commas", "The answer is " + "," * 100_000 + "x", ANY),
    ("phrases with open boxes", "Answer: \\boxed{" * 5_000, None),
    ("repeated phrase", "The answer is " * 7_000, ANY),
    ("repeated empty phrases", "The answer is .\n" * 6_000, None),
    ("bare box commands", "\\boxed " * 15_000, None),
    ("long joined run", "\\boxed{2} and " * 5_000 + "\\boxed{3}", ", ".join(["2"] * 5_000 + ["3"])),
    ("long prose then box", "a" * 100_000 + "\\boxed{5}", "5"),
    ("answer then whitespace", "answer" + " " * 100_000 + "x", None),
    ("the then whitespace", "the" + " " * 100_000 + "answer is 4", "4"),
    ("final then tabs", "final" + "\t" * 100_000, None),
    ("bold then whitespace", "**Answer" + " " * 50_000 + "**" + " " * 50_000, None),
    ("long gsm8k line", "#### " + "1," * 50_000, ANY),
    ("box with long token", "\\boxed " + "9" * 100_000, "9" * 100_000),
]


@pytest.mark.parametrize(
    ("text", "expected"), [(t, e) for _, t, e in ADVERSARIAL], ids=[name for name, _, _ in ADVERSARIAL]
)
def test_adversarial_inputs_are_fast(text: str, expected: object) -> None:
    t0 = time.perf_counter()
    got = extract_answer(text)
    boxed_contents(text)
    last_boxed(text)
    elapsed = time.perf_counter() - t0
    assert elapsed < 2.0, f"took {elapsed:.2f} s"
    if expected is ANY:
        assert got is None or isinstance(got, str)
    else:
        assert got == expected


def test_random_strings_never_raise() -> None:
    pieces = ["\\boxed", "\\fbox", "{", "}", "\\{", "\\}", "\\\\", "$", "$$", "\\(", "\\)", "\\[", "\\]",
              "####", "#", "The answer is ", "Final Answer:", "Answer:", "answer", "**", ".", "...",
              ",", " and ", " ", "\n", "\t", "5", "3.5", "x", "\\ldots", "\\text{", "é", "\x00", "\ud800"]
    rng = random.Random(1234)
    t0 = time.perf_counter()
    for _ in range(2_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 60)))
        got = extract_answer(text)
        assert got is None or (isinstance(got, str) and got == got.strip() and got)
        assert isinstance(boxed_contents(text), list)
        lb = last_boxed(text)
        assert lb is None or isinstance(lb, str)
    assert time.perf_counter() - t0 < 10.0


def _read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


# Measured on the shared copy of MATH-500: every reference answer equals the last box of its
# solution once spaces are removed.
MATH500_ROWS = 500
MATH500_EXACT = 500


@pytest.mark.skipif(not MATH500.is_file(), reason=f"MATH-500 data not found at {MATH500}")
def test_math500_last_boxed_matches_reference_answer() -> None:
    rows = _read_jsonl(MATH500)
    assert len(rows) == MATH500_ROWS
    boxed = [last_boxed(r["solution"]) for r in rows]
    assert all(b is not None for b in boxed)
    exact = sum(b.replace(" ", "") == r["answer"].replace(" ", "") for b, r in zip(boxed, rows, strict=True))
    assert exact == MATH500_EXACT
    extracted = sum(
        (extract_answer(r["solution"]) or "").replace(" ", "") == r["answer"].replace(" ", "") for r in rows
    )
    assert extracted == MATH500_EXACT


@pytest.mark.skipif(not GSM8K.is_file(), reason=f"GSM8K test data not found at {GSM8K}")
def test_gsm8k_reference_answers() -> None:
    rows = _read_jsonl(GSM8K)
    assert len(rows) == 1319
    for r in rows:
        expected = r["answer"].rsplit("####", 1)[1].strip()
        assert extract_answer(r["answer"]) == expected, r["answer"][-200:]
