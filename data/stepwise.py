"""Step-labelled datasets as ``StepwiseRow`` (TRL's stepwise-supervision shape: prompt, completions, labels).

Formats, one converter each in ``STEPWISE_FORMATS`` (detected from the columns unless given):

* ``prm800k``: OpenAI's PRM800K JSONL (``question.problem``, ``label.steps[].completions[]`` with
  ``text`` and ``rating`` in {-1, 0, 1}, ``chosen_completion``, ``human_completion``,
  ``label.finish_reason``). The labelled trajectory is followed: the chosen completion at each
  step, else the human-written one (a +1 step). A step with neither ends the trajectory; if one of
  its completions is rated -1 that is the first error, kept as the last step (the one matching
  ``question.pre_generated_steps`` when phase 2 gives it). Ratings map 1 -> 1.0, -1 -> 0.0 and
  0 -> ``neutral`` (1.0 by default as in Qwen's PRM work; 0.0, or None to drop the sample).
  Steps after the first error are dropped unless ``keep_after_error`` (then labelled 0.0).
  Rows whose ``finish_reason`` is in ``skip_finish_reasons`` (``bad_problem``) are skipped.
  Extra columns: ``answer`` (``question.ground_truth_answer``, the gold; None when not given),
  ``final_answer`` (what follows ``# Answer`` in the last kept step, None without one), ``complete``
  (the kept trajectory reaches ``# Answer``: PRM800K never writes ``\boxed``, so this, not a
  ``\boxed`` last step, tells the outcome RM a finished solution) and ``phase`` (1 when ``generation``
  is null, 2 when it is a number, None without the key; see ``prm800k_phase`` and ``data.prm800k``).
* ``math_shepherd``: Math-Shepherd's ``input`` (problem, then "Step 1: ... ки" steps) and
  ``label`` (the same text with each ``ки`` replaced by ``+`` or ``-``). Extra columns: ``task``,
  ``final_answer`` (after "The answer is:" in the last step) and ``complete`` (there is one).
* ``stepwise``: rows already in ``{prompt, completions, labels}`` shape, bool labels accepted.

Labels are floats in [0, 1] and are never cast to int. Malformed rows raise ``RecordError``
naming the file and line (or hub row) and the field; rows that cannot be used are skipped and
counted in the ``LoadReport`` that ``load_stepwise_with_report`` returns.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from data.jsonl import RecordError, require_field
from data.loaders import LoadReport, RowContext, SkipRow, load_with_report
from data.records import StepwiseRow

__all__ = [
    "STEPWISE_FORMATS", "StepwiseOptions", "detect_stepwise_format", "load_stepwise",
    "load_stepwise_with_report", "prm800k_phase",
]  # fmt: skip

_RATING_LABELS = {1: 1.0, -1: 0.0}
_TAG = "ки"
_STEP_ONE = re.compile(r"\bstep\s*1\s*:", re.IGNORECASE)
_PRM800K_ANSWER = "# Answer"
_SHEPHERD_ANSWER = re.compile(r"The answer is\s*:?\s*(.*?)\s*$", re.DOTALL)


@dataclass(frozen=True)
class StepwiseOptions:
    """How PRM800K ratings become labels (the other formats carry their labels as given)."""

    neutral: float | None = 1.0  # label for rating 0; None drops the sample
    keep_after_error: bool = False  # keep steps after the first error, labelled 0.0
    skip_finish_reasons: tuple[str, ...] = ("bad_problem",)

    def __post_init__(self) -> None:
        if self.neutral is not None and not (isinstance(self.neutral, int | float) and 0.0 <= self.neutral <= 1.0):
            raise ValueError(f"neutral should be a label in [0, 1] or None (drop the sample), got {self.neutral!r}")


def _get(obj: dict[str, Any], key: str, kind: type, where: str, path: str, optional: bool = False) -> Any:
    """``obj[key]`` checked against ``kind``; errors name the dotted ``path`` of the field."""
    value = obj.get(key)
    if value is None:
        if optional:
            return None
        raise RecordError(f"{where}: missing field {path!r}")
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise RecordError(f"{where}: field {path!r} should be {kind.__name__}, got {type(value).__name__}")
    return value


def _row(data: dict[str, Any], where: str) -> StepwiseRow:
    """A validated StepwiseRow; bad types, labels and counts, an empty prompt or step raise RecordError."""
    record = StepwiseRow.from_dict(data, where)
    if not record.prompt.strip():
        raise RecordError(f"{where}: field 'prompt' is empty")
    for i, step in enumerate(record.completions):
        if not step.strip():
            raise RecordError(f"{where}: field 'completions[{i}]' is an empty step")
    return record


def _rating(completion: Any, where: str, path: str) -> int | None:
    if not isinstance(completion, dict):
        raise RecordError(f"{where}: field {path!r} should be an object, got {type(completion).__name__}")
    rating = completion.get("rating")
    if rating is not None and (isinstance(rating, bool) or rating not in (-1, 0, 1)):
        raise RecordError(f"{where}: field '{path}.rating' should be -1, 0 or 1, got {rating!r}")
    return None if rating is None else int(rating)


def _follow(step: dict[str, Any], where: str, path: str, pregenerated: Any) -> tuple[str, int | None, bool] | None:
    """(text, rating, is_terminal) of the step the trajectory takes, or None when it stops here."""
    options = _get(step, "completions", list, where, f"{path}.completions", optional=True) or []
    ratings = [_rating(c, where, f"{path}.completions[{j}]") for j, c in enumerate(options)]
    chosen = step.get("chosen_completion")
    if chosen is not None:
        if isinstance(chosen, bool) or not isinstance(chosen, int) or not 0 <= chosen < len(options):
            raise RecordError(
                f"{where}: field '{path}.chosen_completion' should index {path}.completions "
                f"({len(options)} of them), got {chosen!r}"
            )
        return _get(options[chosen], "text", str, where, f"{path}.completions[{chosen}].text"), ratings[chosen], False
    human = step.get("human_completion")
    if human is not None:
        text = human if isinstance(human, str) else _get(human, "text", str, where, f"{path}.human_completion.text")
        return text, 1, False  # labellers wrote their own step only as a correct (+1) one
    errors = [j for j, r in enumerate(ratings) if r == -1]
    if not errors:
        return None
    j = next((j for j in errors if options[j].get("text") == pregenerated), errors[0])
    return _get(options[j], "text", str, where, f"{path}.completions[{j}].text"), -1, True


def prm800k_phase(row: dict[str, Any], where: str) -> int | None:
    """A raw PRM800K row's phase from ``generation``: null -> 1, a number -> 2, no such key -> None.

    PRM800K's README: "In phase 1, this value should always be null"; phase 2 numbers its generations
    (-1: the initial screening questions). RecordError naming the field for any other value.
    """
    if "generation" not in row:
        return None
    generation = row["generation"]
    if generation is None:
        return 1
    if isinstance(generation, int) and not isinstance(generation, bool):
        return 2
    raise RecordError(f"{where}: field 'generation' should be null (phase 1) or an integer (phase 2), "
                      f"got {type(generation).__name__} {generation!r}")


def _prm800k_extra(row: dict[str, Any], question: dict[str, Any], last_step: str, where: str) -> dict[str, Any]:
    """The extra columns of a PRM800K row (see the module docstring); the same keys on every row."""
    gold = _get(question, "ground_truth_answer", str, where, "question.ground_truth_answer", optional=True)
    complete = _PRM800K_ANSWER in last_step
    final = last_step.split(_PRM800K_ANSWER, 1)[1].strip() if complete else None
    return {"answer": gold, "final_answer": final, "complete": complete, "phase": prm800k_phase(row, where)}


def _prm800k(row: dict[str, Any], ctx: RowContext, opts: StepwiseOptions) -> StepwiseRow:
    """PRM800K (phase 1 and 2): the labelled trajectory, one label per step (see the module docstring)."""
    where = ctx.where
    question = _get(row, "question", dict, where, "question")
    prompt = _get(question, "problem", str, where, "question.problem")
    label = _get(row, "label", dict, where, "label")
    finish = _get(label, "finish_reason", str, where, "label.finish_reason", optional=True)
    if finish in opts.skip_finish_reasons:
        raise SkipRow(f"finish_reason {finish!r}")
    steps = _get(label, "steps", list, where, "label.steps")
    pregenerated = question.get("pre_generated_steps") or []
    completions: list[str] = []
    labels: list[float | None] = []
    after_error = False
    for i, step in enumerate(steps):
        path = f"label.steps[{i}]"
        if not isinstance(step, dict):
            raise RecordError(f"{where}: field {path!r} should be an object, got {type(step).__name__}")
        taken = _follow(step, where, path, pregenerated[i] if i < len(pregenerated) else None)
        if taken is None:
            ctx.note("trajectory ends at a step with no chosen, human or -1 rated completion")
            break
        if taken[1] is None:
            ctx.note("trajectory ends at an unrated chosen completion")
            break
        text, rating, terminal = taken
        if after_error and not opts.keep_after_error:
            ctx.note("steps after the first error dropped")
            break
        if not after_error and rating == 0 and opts.neutral is None:
            raise SkipRow("neutral (0) rated step, and neutral=None drops such samples")
        completions.append(text)
        labels.append(0.0 if after_error else _RATING_LABELS.get(rating, opts.neutral))
        after_error = after_error or rating == -1
        if terminal:
            break
    if not completions:
        raise SkipRow("no labelled steps")
    extra = _prm800k_extra(row, question, completions[-1], where)
    return _row({"prompt": prompt, "completions": completions, "labels": labels, **extra}, where)


def _shepherd_labels(text: str, marked: str, where: str) -> list[float]:
    """The +/- at each ``ки`` of ``text``, checking that ``marked`` is ``text`` with each tag replaced."""
    pieces = text.split(_TAG)
    signs = []
    offset = 0
    for k, piece in enumerate(pieces[:-1]):
        offset += len(piece)
        sign = marked[offset : offset + 1]
        if sign not in ("+", "-"):
            raise RecordError(
                f"{where}: field 'label' should have '+' or '-' where 'input' has step tag {k + 1}, got {sign!r}"
            )
        signs.append(sign)
        offset += 1
    rebuilt = "".join(piece + sign for piece, sign in zip(pieces, [*signs, ""], strict=True))
    if rebuilt != marked:
        raise RecordError(f"{where}: field 'label' is not field 'input' with each {_TAG!r} replaced by '+' or '-'")
    return [1.0 if sign == "+" else 0.0 for sign in signs]


def _math_shepherd(row: dict[str, Any], ctx: RowContext, opts: StepwiseOptions) -> StepwiseRow:
    """Math-Shepherd: problem before "Step 1:", one step per ``ки`` tag, labelled by its +/-."""
    text = require_field(row, ("input",), ctx.where)
    marked = require_field(row, ("label",), ctx.where)
    tags = [m.start() for m in re.finditer(_TAG, text)]
    if not tags:
        raise RecordError(f"{ctx.where}: field 'input' has no step tag {_TAG!r}")
    labels = _shepherd_labels(text, marked, ctx.where)
    first = _STEP_ONE.search(text, 0, tags[1] if len(tags) > 1 else len(text))  # at most one stray tag before it
    if first is not None:
        start = first.start()
    elif text[: tags[0]].count("?") == 1:
        start = text.index("?") + 1
    else:
        raise SkipRow("cannot tell the problem from the first step (no 'Step 1:', not one '?')")
    if tags[0] < start:
        ctx.note("step tag inside the problem text ignored")
    kept = [(p, label) for p, label in zip(tags, labels, strict=True) if p >= start]
    if text[tags[-1] + len(_TAG) :].strip():
        ctx.note("text after the last step tag ignored")
    bounds = [start] + [p + len(_TAG) for p, _ in kept]
    steps = [text[a:p].strip() for a, (p, _) in zip(bounds, kept, strict=False)]
    prompt = re.sub(f" ?{_TAG}", "", text[:start]).strip()
    extra = {"task": row["task"]} if isinstance(row.get("task"), str) else {}
    final = _SHEPHERD_ANSWER.search(steps[-1]) if steps else None
    extra.update(final_answer=final.group(1) if final else None, complete=final is not None)
    return _row({"prompt": prompt, "completions": steps, "labels": [label for _, label in kept], **extra}, ctx.where)


def _stepwise(row: dict[str, Any], ctx: RowContext, opts: StepwiseOptions) -> StepwiseRow:
    """Rows already in TRL's stepwise shape; bool labels (TRL's hub datasets) become 1.0 / 0.0."""
    data = dict(row)
    if isinstance(data.get("labels"), list):
        data["labels"] = [float(x) if isinstance(x, bool) else x for x in data["labels"]]
    return _row(data, ctx.where)


StepwiseConverter = Callable[[dict[str, Any], RowContext, StepwiseOptions], StepwiseRow]

STEPWISE_FORMATS: dict[str, StepwiseConverter] = {
    "prm800k": _prm800k,
    "math_shepherd": _math_shepherd,
    "stepwise": _stepwise,
}


def detect_stepwise_format(columns: Iterable[str]) -> str:
    """The ``STEPWISE_FORMATS`` key for a row with these columns; ValueError when none fits."""
    cols = set(columns)
    if {"prompt", "completions", "labels"} <= cols:
        return "stepwise"
    if {"question", "label"} <= cols:
        return "prm800k"
    if {"input", "label"} <= cols:
        return "math_shepherd"
    raise ValueError(f"cannot tell the stepwise format from columns {sorted(cols)}; pass fmt= {list(STEPWISE_FORMATS)}")


def load_stepwise_with_report(
    spec: str | Path,
    fmt: str | None = None,
    split: str | None = None,
    limit: int | None = None,
    *,
    config: str | None = None,
    **options: Any,
) -> tuple[list[StepwiseRow], LoadReport]:
    """Stepwise rows from a local file or folder or a hub id, and the report of what was skipped.

    ``options`` are ``StepwiseOptions`` fields: ``neutral``, ``keep_after_error``, ``skip_finish_reasons``.
    """
    opts = StepwiseOptions(**options)
    formats = {name: partial(convert, opts=opts) for name, convert in STEPWISE_FORMATS.items()}
    return load_with_report(spec, split, limit, formats, detect_stepwise_format, fmt, config)


def load_stepwise(spec: str | Path, fmt: str | None = None, **kwargs: Any) -> list[StepwiseRow]:
    """Stepwise rows (see ``load_stepwise_with_report`` and the module docstring)."""
    return load_stepwise_with_report(spec, fmt, **kwargs)[0]
