"""Step-tag tokenisation and label placement: the one place that decides where a PRM reads and learns.

One solution becomes one token sequence (``prompt`` is :func:`prm.prompts.build_prompt` of the problem,
``TAG`` the step-tag token id, ``SEP`` the step separator, a blank line by default)::

    ids = enc(prompt) + enc(step_1) + [TAG] + enc(SEP + step_2) + [TAG] + ... + enc(SEP + step_k) + [TAG]

Every piece is tokenised on its own and the tag is inserted as an id (never tokenised from text), so
a tag sits exactly where its step ends whatever the tokenizer does to neighbouring text, and the ids
of the first j steps are a prefix of the ids of all k steps (why single-pass scores equal per-prefix
scores with a causal backbone). Label i goes on the i-th tag and nowhere else; every other position
gets ``IGNORE_INDEX`` (-100). Labels stay floats (a soft 0.4 stays 0.4: never ``int()``).

Truncation to ``max_length`` keeps whole steps: the first steps whose tokens and tag fit keep their
labels, the rest are dropped with their labels (never a label without its tag, never a tag without its
label). The functions here work on plain lists of ids: :func:`place_labels` needs no tokenizer and no
model, :func:`encode_solution` adds the tokenizer step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from data.records import StepwiseRow
from prm.prompts import build_prompt, has_chat_template

__all__ = [
    "DEFAULT_STEP_TAG", "IGNORE_INDEX", "TaggedSequence", "place_labels", "encode_pieces", "encode_solution",
    "outcome_labels", "is_complete", "row_labels",
]  # fmt: skip

IGNORE_INDEX = -100
DEFAULT_STEP_TAG = "<|step|>"  # a dedicated special token added to the tokenizer


@dataclass(frozen=True)
class TaggedSequence:
    """One solution as token ids with a label per position (``IGNORE_INDEX`` off the tags)."""

    input_ids: list[int]
    labels: list[float]
    tag_positions: list[int]  # position of the tag of each kept step, in step order
    num_steps: int  # steps given (kept steps are len(tag_positions); the rest did not fit)

    @property
    def truncated(self) -> bool:
        return len(self.tag_positions) < self.num_steps

    @property
    def num_labels(self) -> int:
        return sum(1 for label in self.labels if label != IGNORE_INDEX)


def _check_label(label: float | None, index: int) -> float:
    if label is None:
        return float(IGNORE_INDEX)
    if isinstance(label, bool) or not isinstance(label, int | float) or not 0.0 <= label <= 1.0:
        raise ValueError(f"label {index} should be a float in [0, 1] or None, got {label!r}")
    return float(label)  # float() keeps 0.4 as 0.4; int() would make it 0 (TRL's old bug)


def place_labels(
    prompt_ids: Sequence[int],
    step_ids: Sequence[Sequence[int]],
    tag_id: int,
    labels: Sequence[float | None] | None = None,
    max_length: int | None = None,
) -> TaggedSequence:
    """Concatenate ``prompt_ids`` and each step's ids followed by ``tag_id``; put label i on tag i.

    ``step_ids[i]`` holds the tokens of step i (with its leading separator for i > 0). ``labels`` has
    one entry per step (None: this step's tag carries no label, as the outcome RM's inner steps) or is
    None (scoring: no labels at all). With ``max_length``, only whole steps whose tag fits are kept.
    Raises ValueError when the counts differ or a piece already contains ``tag_id``.
    """
    if labels is not None and len(labels) != len(step_ids):
        raise ValueError(f"{len(step_ids)} steps but {len(labels)} labels: need one label per step tag")
    targets = [_check_label(label, i) for i, label in enumerate(labels)] if labels is not None else None
    for name, piece in [("prompt", prompt_ids), *((f"step {i}", p) for i, p in enumerate(step_ids))]:
        if tag_id in piece:
            raise ValueError(f"the {name} already contains the step tag id {tag_id}; remove the tag from the text")
    input_ids = list(prompt_ids)
    out_labels = [float(IGNORE_INDEX)] * len(input_ids)
    positions: list[int] = []
    for i, piece in enumerate(step_ids):
        if max_length is not None and len(input_ids) + len(piece) + 1 > max_length:
            break
        input_ids.extend(piece)
        out_labels.extend([float(IGNORE_INDEX)] * len(piece))
        positions.append(len(input_ids))
        input_ids.append(tag_id)
        out_labels.append(targets[i] if targets is not None else float(IGNORE_INDEX))
    kept = [t for t in (targets or [])[: len(positions)] if t != IGNORE_INDEX]
    placed = [label for label in out_labels if label != IGNORE_INDEX]
    if input_ids.count(tag_id) != len(positions) or placed != kept:  # the invariant every row must keep
        raise AssertionError(f"label placement broke: {input_ids.count(tag_id)} tags, {len(positions)} steps kept, "
                             f"{len(placed)} labels placed of {len(kept)}")
    return TaggedSequence(input_ids, out_labels, positions, len(step_ids))


def _strip_tag(text: str, tag_token: str | None) -> str:
    return text.replace(tag_token, "") if tag_token else text


def encode_pieces(
    tokenizer: Any, problem: str, steps: Sequence[str], separator: str = "\n\n", tag_token: str | None = None
) -> tuple[list[int], list[list[int]]]:
    """The prompt ids and each step's ids (``separator`` before every step but the first).

    The prompt is ``build_prompt(problem, tokenizer)``, tokenised with the tokenizer's special tokens
    (BOS) unless it came from a chat template (which writes them itself). Any literal ``tag_token`` in
    the text is removed, so only inserted tags are tags.
    """
    prompt = _strip_tag(build_prompt(problem, tokenizer), tag_token)
    prompt_ids = tokenizer(prompt, add_special_tokens=not has_chat_template(tokenizer))["input_ids"]
    texts = [_strip_tag(step if i == 0 else separator + step, tag_token) for i, step in enumerate(steps)]
    step_ids = tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []
    return list(prompt_ids), [list(ids) for ids in step_ids]


def encode_solution(
    tokenizer: Any,
    problem: str,
    steps: Sequence[str],
    tag_id: int,
    labels: Sequence[float | None] | None = None,
    max_length: int | None = None,
    separator: str = "\n\n",
    tag_token: str | None = None,
) -> TaggedSequence:
    """Tokenise a problem and its steps and place the labels on the step tags (see the module docstring)."""
    prompt_ids, step_ids = encode_pieces(tokenizer, problem, steps, separator, tag_token)
    return place_labels(prompt_ids, step_ids, tag_id, labels, max_length)


def is_complete(steps: Sequence[str], extra: dict[str, Any] | None = None) -> bool:
    """Whether a solution reached a final answer: ``extra["complete"]`` when given, else a ``\\boxed`` last step."""
    flag = (extra or {}).get("complete")
    if isinstance(flag, bool):
        return flag
    return bool(steps) and "\\boxed" in steps[-1]


def outcome_labels(labels: Sequence[float], complete: bool, answer_correct: bool | None = None) -> list[float | None]:
    """The outcome RM's labels for a stepwise row: None on every step but the last.

    The last step gets the final answer's correctness when the row records it (``answer_correct``,
    the verifier's check of the whole solution, as in "Let's Verify Step by Step": an ORM sees no
    step labels). Otherwise 1.0 iff the solution is complete and every step label is exactly 1.0
    (a correct final answer reached by correct steps), else 0.0; soft labels below 1.0 count as
    not correct.
    """
    if not labels:
        return []
    if answer_correct is not None:
        outcome = 1.0 if answer_correct else 0.0
    else:
        outcome = 1.0 if complete and all(label == 1.0 for label in labels) else 0.0
    return [None] * (len(labels) - 1) + [outcome]


def row_labels(row: StepwiseRow, outcome: bool) -> list[float | None]:
    """The labels a row trains with: its step labels, or the outcome RM's single last-step label."""
    if outcome:
        flag = row.extra.get("answer_correct")
        return outcome_labels(row.labels, is_complete(row.completions, row.extra),
                              flag if isinstance(flag, bool) else None)
    return list(row.labels)
