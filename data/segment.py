"""Step segmentation shared by labelling, the PRM and scoring.

A solution is cut into steps by a mode from ``SEGMENTERS``: blank lines (the default, as in
Qwen's PRM work), ``Step k:`` markers, single newlines, or ``auto``: blank lines, and inside a paragraph that
holds a list of two or more numbered items or ``Step k`` markers at line starts, one step per item (what
instruct models write: "1. ...\n2. ...", "Step 1: ...\nStep 2: ..." with single newlines; a paragraph cut only
at blank lines would be one step, and a PRM would score the whole list once). ``step_spans`` gives exact character
offsets (the text between two spans is exactly the separator, so the spans and separators rebuild
the text byte for byte); ``split_steps`` gives the stripped step texts that a PRM reads.
``STEP_SEPARATOR`` (a blank line) is what steps are joined with when a solution is written back out.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["SEGMENTERS", "STEP_SEPARATOR", "step_spans", "split_steps"]

Span = tuple[int, int]

STEP_SEPARATOR = "\n\n"  # joins steps into a solution; the "blank_line" segmenter splits on it

_BLANK_LINE = re.compile(r"\n[ \t]*\n\s*")
_NEWLINE = re.compile(r"\n\s*")
_STEP_MARKER = re.compile(r"(?im)^[ \t]*(?:#+\s*)?\**step\s*\d+\s*\**\s*[:.)]")
# a list item at a line start: "1. ", "2) ", "**3.** ", "Step 4:", "### Step 5."
_LIST_ITEM = re.compile(r"(?im)^[ \t]*(?:#+\s*)?\**(?:step\s*)?\d{1,2}\s*\**\s*[:.)](?:\**)?(?=\s)")


def _spans_between(text: str, separator: re.Pattern[str]) -> list[Span]:
    spans, start = [], 0
    for match in separator.finditer(text):
        if text[start:match.start()].strip():
            spans.append((start, match.start()))
        start = match.end()
    if text[start:].strip():
        spans.append((start, len(text)))
    return spans


def _cut_at(text: str, start: int, end: int, starts: list[int]) -> list[Span]:
    """``text[start:end]`` cut at each of ``starts`` (a leading piece kept when it is not blank); non-blank pieces."""
    bounds = ([start] if text[start:starts[0]].strip() else []) + starts + [end]
    return [(a, b) for a, b in zip(bounds, bounds[1:], strict=False) if text[a:b].strip()]


def _marker_spans(text: str) -> list[Span]:
    starts = [m.start() for m in _STEP_MARKER.finditer(text)]
    if not starts:
        return _spans_between(text, _BLANK_LINE)
    return _cut_at(text, 0, len(text), starts)


def _auto_spans(text: str) -> list[Span]:
    spans = []
    for start, end in _spans_between(text, _BLANK_LINE):
        items = [start + m.start() for m in _LIST_ITEM.finditer(text[start:end])]
        if len(items) < 2:
            spans.append((start, end))
            continue
        # each item's own span, without the newline before the next one
        spans += [(a, a + len(text[a:b].rstrip())) for a, b in _cut_at(text, start, end, items)]
    return spans


SEGMENTERS: dict[str, Callable[[str], list[Span]]] = {
    "blank_line": lambda text: _spans_between(text, _BLANK_LINE),
    "newline": lambda text: _spans_between(text, _NEWLINE),
    "step_marker": _marker_spans,
    "auto": _auto_spans,
}


def step_spans(text: str, mode: str = "blank_line") -> list[Span]:
    """(start, end) offsets of each non-empty step, in order."""
    if mode not in SEGMENTERS:
        raise ValueError(f"unknown step segmentation {mode!r}; choose from {', '.join(SEGMENTERS)}")
    return SEGMENTERS[mode](text)


def split_steps(text: str, mode: str = "blank_line") -> list[str]:
    """The steps of a solution, stripped of surrounding whitespace."""
    return [text[a:b].strip() for a, b in step_spans(text, mode)]
