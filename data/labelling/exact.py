"""Exact step labels from arithmetic checks and the final-answer check.

:func:`exact_labels` labels a list of solution steps without any model:

- every step is checked with :func:`verifiers.check_steps`; a step whose arithmetic claims all hold is
  correct (1.0), a step with a failing claim is wrong (0.0), and a step with no claim at all inherits
  "correct" (conservative: prose cannot be checked, so it is not blamed);
- the final answer (a GSM8K ``#### N`` line, else the solution's answer as :func:`verifiers.extract_answer`
  reads the whole text: the last marker wins) is compared with the gold answer by :func:`verifiers.verify`;
  a wrong or missing answer marks the LAST step wrong when no earlier step was;
- after the first wrong step the row is truncated (``after_error="drop"``, the default, as in
  Qwen's and PRM800K's first-error data) or the later steps are labelled 0.0 (``"zero"``).

GSM8K solutions are labelled line by line: the calculator annotations ``<<48/2=24>>`` are the claims
and the final ``#### N`` line is the answer, never a step. :func:`label_samples` applies this to
:class:`~data.records.Sample` records joined to their problems, :func:`label_references` to the
problems' own reference solutions; records that cannot be labelled are skipped and counted by reason,
never silently.
"""

from __future__ import annotations

import collections
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from data.records import Problem, Sample, StepwiseRow
from data.segment import split_steps
from verifiers import Status, VerifyConfig, check_steps, extract_answer, verify
from verifiers.extract import prose_answer

__all__ = [
    "AfterError",
    "LabelResult",
    "Unlabellable",
    "MissingAnswer",
    "exact_labels",
    "judged_steps",
    "label_references",
    "label_samples",
    "make_row",
    "reference_steps",
    "solution_steps",
    "split_answer_line",
]

logger = logging.getLogger(__name__)

AfterError = Literal["drop", "zero"]
MissingAnswer = Literal["wrong", "ignore"]
AFTER_ERROR_CHOICES: tuple[str, ...] = ("drop", "zero")

_ANSWER_LINE = re.compile(r"^[ \t]*####(?!#)[ \t]*(.*)$", re.M)
# A sentence ends at ". ", "? " or "! " outside math, before a capital letter, a "$" or a LaTeX command.
_SENTENCE_END = re.compile(r"(?<=[a-z0-9)}\]%$])[.?!](?=\s+[A-Z$\\])")
_MATH_TOKEN = re.compile(r"\\\[|\\\]|\\\(|\\\)|\$\$|(?<!\\)\$|\\begin\{|\\end\{")


class Unlabellable(ValueError):
    """A record that cannot be labelled; the message is the reason it is counted under."""


@dataclass
class LabelResult:
    """Exact labels of one solution (already truncated after the first error under ``drop``)."""

    steps: list[str]
    labels: list[float]
    first_error: int  # index of the first wrong step, -1 if none
    reasons: list[str] = field(default_factory=list)  # one short reason per labelled step
    answer_status: str = ""  # "equal", "not_equal", "no final answer", or "not checked" (earlier error)


def split_answer_line(steps: list[str]) -> tuple[list[str], str | None]:
    """Take a GSM8K ``#### N`` line out of the last step: (steps without it, the answer line or None)."""
    if not steps:
        return [], None
    *head, last = steps
    matches = list(_ANSWER_LINE.finditer(last))
    if not matches:
        return list(steps), None
    answer = matches[-1]
    rest = (last[: answer.start()] + last[answer.end():]).strip()
    return head + ([rest] if rest else []), answer.group(0).strip()


def judged_steps(steps: list[str]) -> tuple[list[str], str | None]:
    """The steps :func:`exact_labels` judges (blank ones left out, a ``#### N`` line taken out) and that line."""
    return split_answer_line([s for s in steps if s.strip()])


def _step_verdict(step: str) -> tuple[bool, str]:
    """(wrong?, reason) for one step from its arithmetic claims."""
    check = check_steps(step)
    if not check.claims:
        return False, "no claims (inherits correct)"
    failures = check.failures
    if failures:
        return True, f"claim fails: {failures[0].text}"
    return False, f"{len(check.claims)} claim(s) hold"


def _answer_verdict(gold: str, pred: str, config: VerifyConfig | None) -> tuple[str, str]:
    """(status, reason) of the final answer in ``pred`` against ``gold``, read exactly as the outcome check
    (``verify``, its prose fallback included) reads it, so a label never contradicts ``answer_correct``; raises
    Unlabellable."""
    prose = (config or VerifyConfig()).prose_fallback
    if extract_answer(pred) is None and (not prose or prose_answer(pred) is None):
        return "no final answer", "no final answer in the solution"
    verdict = verify(gold, pred, config)
    if verdict.status is Status.UNPARSABLE and verdict.unparsable_side == "gold":
        raise Unlabellable("unparsable gold")
    if verdict.status is Status.TIMEOUT:
        raise Unlabellable("answer check timed out")
    if verdict.status is Status.EQUAL:
        return "equal", f"final answer {verdict.pred} equals gold"
    if verdict.status is Status.UNPARSABLE:
        return "no final answer", f"final answer unparsable ({verdict.reason})"
    return "not_equal", f"final answer {verdict.pred} != gold {verdict.gold}"


def exact_labels(
    steps: list[str],
    gold: str,
    after_error: AfterError = "drop",
    *,
    missing_answer: MissingAnswer = "wrong",
    config: VerifyConfig | None = None,
) -> LabelResult:
    """Label ``steps`` exactly: 1.0 up to the first wrong step, 0.0 there, then drop or zero the rest.

    ``missing_answer`` says what a last step with no final answer is: ``"wrong"`` (the default: a
    solution that never states an answer is not a correct solution) or ``"ignore"``. Raises
    :class:`Unlabellable` for no steps, an empty gold answer, and, when the final answer has to be
    checked (no earlier step failed), an unparsable gold answer or an answer-check timeout.
    """
    if after_error not in AFTER_ERROR_CHOICES:
        raise ValueError(f"after_error should be one of {AFTER_ERROR_CHOICES}, got {after_error!r}")
    if not str(gold).strip():
        raise Unlabellable("empty gold answer")
    steps, answer_line = judged_steps(steps)
    if not steps:
        raise Unlabellable("no steps")
    reasons, first_error = [], -1
    for index, step in enumerate(steps):
        wrong, reason = _step_verdict(step)
        reasons.append(reason)
        if wrong:
            first_error = index
            break
    answer_status = "not checked (earlier error)"
    if first_error < 0:
        # the solution's answer, read as the outcome check reads it: a real model often states it and goes on
        # ("So, the answer is: 120" then "Now", cut off), which is no wrong step
        answer_status, reason = _answer_verdict(gold, answer_line or "\n\n".join(steps), config)
        if answer_status == "not_equal" or (answer_status == "no final answer" and missing_answer == "wrong"):
            first_error = len(steps) - 1
            reasons[-1] = f"{reasons[-1]}; {reason}"
    if first_error < 0:
        return LabelResult(list(steps), [1.0] * len(steps), -1, reasons, answer_status)
    labels = [1.0] * first_error + [0.0]
    if after_error == "drop":
        return LabelResult(list(steps[: first_error + 1]), labels, first_error, reasons, answer_status)
    tail = len(steps) - first_error - 1
    reasons += ["after the first error"] * tail
    return LabelResult(list(steps), labels + [0.0] * tail, first_error, reasons, answer_status)


def _split_sentences(paragraph: str) -> list[str]:
    """Sentences of a prose paragraph, never cut inside ``$...$``, ``\\[...\\]`` or an environment."""
    cuts, depth, start = [], 0, 0
    events = sorted([(m.start(), "math", m.group()) for m in _MATH_TOKEN.finditer(paragraph)]
                    + [(m.end(), "end", "") for m in _SENTENCE_END.finditer(paragraph)])
    inline = False
    for pos, kind, token in events:
        if kind == "end":
            if depth == 0 and not inline:
                cuts.append(paragraph[start:pos].strip())
                start = pos
        elif token in ("$", "$$"):
            inline = not inline
        elif token in ("\\[", "\\(", "\\begin{"):
            depth += 1
        else:
            depth = max(depth - 1, 0)
    cuts.append(paragraph[start:].strip())
    return [c for c in cuts if c]


def solution_steps(text: str, source: str = "", mode: str = "auto") -> list[str]:
    """The steps of a solution text.

    ``mode="auto"`` follows the source's convention: GSM8K solutions are cut into lines (the
    ``#### N`` line stays, :func:`exact_labels` takes it out); MATH solutions, mostly one paragraph,
    are cut at blank lines and then into sentences outside math (remarks after the last ``\\boxed``
    answer stay in its step, so the last step states the answer); anything else at blank lines. Any
    other mode is a :data:`data.segment.SEGMENTERS` name, or ``"sentence"``.
    """
    source = source.lower()
    if mode == "auto":
        mode = "newline" if "gsm8k" in source else "sentence" if source.startswith("math") else "blank_line"
    if mode != "sentence":
        return split_steps(text, mode)
    steps = [s for p in split_steps(text, "blank_line") for s in _split_sentences(p)]
    boxed = [i for i, step in enumerate(steps) if "\\boxed" in step or "\\fbox" in step]
    if boxed and boxed[-1] < len(steps) - 1:  # remarks after the boxed answer join its step
        steps[boxed[-1]:] = [" ".join(steps[boxed[-1]:])]
    return steps


def reference_steps(problem: Problem, split_mode: str = "auto") -> list[str]:
    """The steps of ``problem``'s reference solution (see :func:`solution_steps`); Unlabellable if it has none."""
    if not (problem.solution or "").strip():
        raise Unlabellable("no reference solution")
    return solution_steps(problem.solution or "", problem.source, split_mode)


def make_row(prompt: str, result: LabelResult, **meta: object) -> StepwiseRow:
    """A :class:`StepwiseRow` of a labelled solution; ``meta`` (source, ids ...) goes to ``extra``."""
    extra = {**meta, "first_error": result.first_error}
    return StepwiseRow(prompt=prompt, completions=list(result.steps), labels=[float(x) for x in result.labels],
                       extra=extra)


def log_skipped(what: str, skipped: collections.Counter, total: int) -> None:
    """One log line with every skip reason and its count (a warning when anything was skipped)."""
    if skipped:
        detail = ", ".join(f"{reason}: {count}" for reason, count in skipped.most_common())
        logger.warning("%s: skipped %d of %d (%s)", what, sum(skipped.values()), total, detail)


def _sample_mode(text: str, mode: str) -> str:
    """``auto`` for a sample: lines for GSM8K-style text (no blank line, a ``####`` line or ``<<..>>``
    annotations), else blank lines, the step convention the PRM scores with."""
    if mode != "auto":
        return mode
    gsm8k_style = not re.search(r"\n[ \t]*\n", text) and (bool(_ANSWER_LINE.search(text)) or "<<" in text)
    return "newline" if gsm8k_style else "blank_line"


def label_samples(
    samples: Iterable[Sample],
    problems: Iterable[Problem],
    after_error: AfterError = "drop",
    *,
    split_mode: str = "auto",
    missing_answer: MissingAnswer = "wrong",
    config: VerifyConfig | None = None,
    skipped: collections.Counter | None = None,
) -> list[StepwiseRow]:
    """Exact-label each sample against its problem (joined on ``problem_id``).

    A sample's ``steps`` are used when present, else its ``text`` is split with ``split_mode`` (a
    :data:`data.segment.SEGMENTERS` name or ``"sentence"``; ``"auto"``: lines for GSM8K-style text, else
    blank lines).
    Each row records ``answer_correct``: the verifier's check of the sample's final answer against
    the gold, whatever its steps (what an outcome RM trains on).
    Samples that cannot be labelled are counted by reason in ``skipped`` (when given) and logged.
    """
    by_id = {p.id: p for p in problems}
    skipped = collections.Counter() if skipped is None else skipped
    rows, total = [], 0
    for sample in samples:
        total += 1
        problem = by_id.get(sample.problem_id)
        if problem is None:
            skipped["unknown problem_id"] += 1
            continue
        steps = list(sample.steps) or solution_steps(sample.text, problem.source, _sample_mode(sample.text, split_mode))
        try:
            result = exact_labels(steps, problem.answer, after_error, missing_answer=missing_answer, config=config)
        except Unlabellable as error:
            skipped[str(error)] += 1
            continue
        rows.append(make_row(problem.problem, result, source=problem.source, problem_id=problem.id,
                             sample_idx=sample.sample_idx, label_method="exact",
                             answer_correct=verify(problem.answer, sample.text, config=config).is_equal))
    log_skipped("exact labels", skipped, total)
    return rows


def label_references(
    problems: Iterable[Problem],
    after_error: AfterError = "drop",
    *,
    split_mode: str = "auto",
    missing_answer: MissingAnswer = "wrong",
    skipped: collections.Counter | None = None,
) -> list[StepwiseRow]:
    """Exact-label every problem's own reference solution, cut into steps by ``split_mode``.

    Problems whose reference cannot be labelled (none, empty gold ...) are counted by reason in
    ``skipped`` (when given).
    """
    skipped = collections.Counter() if skipped is None else skipped
    rows = []
    for problem in problems:
        try:
            steps = reference_steps(problem, split_mode)
            result = exact_labels(steps, problem.answer, after_error, missing_answer=missing_answer)
        except Unlabellable as error:
            skipped[str(error)] += 1
            continue
        rows.append(make_row(problem.problem, result, source=problem.source, problem_id=problem.id,
                             label_method="exact"))
    return rows
