"""Where each step of a generated completion ends, as an index into its token ids.

Process rewards (DeepSeekMath's process-supervised GRPO, verl's dense token rewards) place step ``j``'s
reward on the token that ends step ``j``. Steps are those of :func:`data.segment.step_spans` on the
decoded text (blank-line separated by default); the token that ends a step is the token whose decoded
span holds the step's last (non-whitespace) character, i.e. the last token needed to spell the step.

Tokens do not map to characters one to one (byte-level BPE splits a multi-byte character over two
tokens, and decoding a prefix that stops inside one yields U+FFFD), so the index is found by binary search
over decodes of token prefixes: the smallest ``k`` with ``decode(ids[:k])`` starting with the text up to
and including the step's last character; the step ends at token ``k - 1``. Steps end in increasing
order, so each search starts where the previous one stopped: O(steps * log n) decodes, and each decode
starts at the previous step's end when decoding there is exact (byte-level BPE), so decodes stay short.

::

    from prm.grpo.step_spans import step_end_token_indices
    ends = step_end_token_indices(tokenizer, completion_ids)      # one index per step, increasing
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from data.segment import SEGMENTERS, step_spans

__all__ = ["SEPARATOR_MODES", "step_char_ends", "step_end_token_indices"]

logger = logging.getLogger(__name__)

Span = tuple[int, int]

# A separator string names a data.segment mode; SEGMENTERS keys are accepted as well.
SEPARATOR_MODES: dict[str, str] = {"\n\n": "blank_line", "\n": "newline"}


def _literal_spans(text: str, separator: str) -> list[Span]:
    spans, start = [], 0
    while True:
        cut = text.find(separator, start)
        end = len(text) if cut < 0 else cut
        if text[start:end].strip():
            spans.append((start, end))
        if cut < 0:
            return spans
        start = cut + len(separator)


def step_char_ends(text: str, separator: str = "\n\n") -> list[int]:
    """Exclusive character offset of each step's last non-whitespace character, one per step of
    ``split_steps`` (``separator`` is ``"\\n\\n"``, ``"\\n"``, a ``data.segment`` mode, or a literal string)."""
    if not separator:
        raise ValueError("separator must be a non-empty string")
    mode = SEPARATOR_MODES.get(separator, separator)
    spans = step_spans(text, mode) if mode in SEGMENTERS else _literal_spans(text, separator)
    return [start + len(text[start:end].rstrip()) for start, end in spans]


def _decode(tokenizer: Any, ids: Sequence[int], skip_special_tokens: bool) -> str:
    return tokenizer.decode(list(ids), skip_special_tokens=skip_special_tokens)


def _first_prefix(tokenizer: Any, ids: list[int], target: str, anchor: tuple[int, int], low: int,
                  skip: bool) -> int:
    """Smallest ``k >= low`` whose decode spells ``target``, decoding only from the anchor token on.

    ``anchor = (token, char)`` with ``decode(ids[:token]) == target[:char]`` exactly; galloping, then binary
    search over ``decode(ids[token:k])`` against ``target[char:]`` (``len(ids)`` when nothing earlier does).
    """
    start, offset = anchor
    rest = target[offset:]

    def spells(k: int) -> bool:
        return _decode(tokenizer, ids[start:k], skip).startswith(rest)

    low = max(low, start + 1)
    high, stride = low, 1
    while high < len(ids) and not spells(high):  # gallop: the step usually ends a few tokens on
        low, high, stride = high + 1, min(len(ids), high + stride), 2 * stride
    while low < high:
        mid = (low + high) // 2
        if spells(mid):
            high = mid
        else:
            low = mid + 1
    return low


def _spells(tokenizer: Any, ids: list[int], k: int, target: str, skip: bool) -> bool:
    return _decode(tokenizer, ids[:k], skip).startswith(target)


def _search(tokenizer: Any, ids: list[int], text: str, char_ends: list[int], skip: bool, windowed: bool
            ) -> list[int]:
    """Step-end token indices for ``char_ends``, decoding from the last exact anchor when ``windowed``."""
    ends: list[int] = []
    anchor, low = (0, 0), 1  # decode(ids[:anchor[0]]) == text[:anchor[1]]; the next end is at least low - 1
    for char_end in char_ends:
        target = text[:char_end]
        if not windowed:
            k = _first_prefix(tokenizer, ids, target, (0, 0), low, skip)
        elif char_end <= anchor[1]:  # the token that ended the previous step also ends this one
            k = low
        else:
            k = _first_prefix(tokenizer, ids, target, anchor, low, skip)
            window = _decode(tokenizer, ids[anchor[0]:k], skip)
            if text[anchor[1]: anchor[1] + len(window)] == window and anchor[1] + len(window) >= char_end:
                anchor = (k, anchor[1] + len(window))  # the window decodes to exactly this slice of the text
            else:  # decoding is not additive here (a dropped leading space, a split character): whole prefixes
                k = _first_prefix(tokenizer, ids, target, (0, 0), low, skip)
        ends.append(k - 1)
        low = k
    return ends


def step_end_token_indices(tokenizer: Any, completion_ids: Sequence[int], text: str | None = None,
                           separator: str = "\n\n", skip_special_tokens: bool = True) -> list[int]:
    """0-based index in ``completion_ids`` of the token that ends each step of the decoded completion.

    ``text``, when given, must be ``tokenizer.decode(completion_ids, skip_special_tokens=...)`` (the
    text a reward function saw); a mismatch raises ``ValueError``. An empty completion has no steps.

    Decodes start from the last step end whose decode matched the text exactly (decoding is then additive
    for byte-level BPE), so most decodes are short; a step whose window result does not check out is
    searched again with whole-prefix decodes, and everything is, should a final check of the last step fail.
    """
    ids = [int(i) for i in completion_ids]
    if not ids:
        return []
    decoded = _decode(tokenizer, ids, skip_special_tokens)
    if text is None:
        text = decoded
    elif decoded != text:
        raise ValueError(f"text is not the decode of completion_ids: {text[:60]!r}... vs {decoded[:60]!r}...")
    char_ends = step_char_ends(text, separator)
    ends = _search(tokenizer, ids, text, char_ends, skip_special_tokens, windowed=True)
    if ends:
        last = text[:char_ends[-1]]
        if not _spells(tokenizer, ids, ends[-1] + 1, last, skip_special_tokens) or \
                _spells(tokenizer, ids, ends[-1], last, skip_special_tokens):
            logger.debug("windowed step-end search failed its check; searching whole prefixes")
            ends = _search(tokenizer, ids, text, char_ends, skip_special_tokens, windowed=False)
    return ends
