"""Final-answer extraction from model output and reference solutions, in pure Python.

This module finds *where* the final answer is and returns its text; deciding whether two answers
are equal is the job of the equivalence checker. Recognised forms:

* ``\\boxed{...}`` / ``\\fbox{...}`` with nested braces (``\\{`` and ``\\}`` are literal, not
  grouping), ``\\boxed {x}``, and the brace-less ``\\boxed 5``. An unclosed box (a truncated
  generation) gives nothing. Boxes joined by commas or "and" at the end form one answer: "2, 3".
* GSM8K's ``#### 72`` (rest of the line).
* Phrases: "The answer is X", "The final answer is X", "Final Answer: X", "Answer: X", including
  the Minerva form "Final Answer: The final answer is $X$. I hope it is correct.".

When a text states several answers, the marker that starts last wins, so a model that retracts an
answer and states another is scored on the second one.

The order a prediction's answer is looked for in (``verifiers.verify``): (1) the markers above, the
last one in the text; (2) for text with no marker that reads as prose (three or more words outside
LaTeX), :func:`prose_answer`: its last math span (``$...$``, ``\\(...\\)``, ``\\[...\\]``), else
its last number (``VerifyConfig.prose_fallback=False`` turns this off); (3) the whole text, when it is
short, as a bare answer.

Everything runs in time linear in the input (up to a log factor): braces are matched once with a
stack, and the regexes have no nested or adjacent unbounded quantifiers, so adversarial strings
(thousands of unclosed ``\\boxed{``, braces nested 10k deep, 100k characters) finish in
milliseconds. No recursion, no ``eval``, no sympy; no ``str`` input makes these functions raise.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from typing import NamedTuple

__all__ = ["extract_answer", "last_boxed", "boxed_contents", "prose_answer"]

_BOX = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")
_BRACE = re.compile(r"\\[\\{}]|[{}]")  # an escaped pair (skipped) or a grouping brace
_SPACE = re.compile(r"\s*")
_BARE_TOKEN = re.compile(r"[ \t]*(\\[A-Za-z]+|[^\s${}\\]+)")  # \boxed 5, \boxed \pi
# A bare "Answer:" counts only at the start of a line or sentence ("check our answer: ..." is prose).
_PHRASE = re.compile(
    r"\b(?:the\s+)?final\s+answer(?:\s+is\b(?:\s*:)?|(?:\s*\*\*)?\s*:)"
    r"|\bthe\s+answer\s+is\b(?:\s*:)?"
    r"|(?:^|(?<=[.!?]\s))[ \t>#*_-]*answer(?:\s*\*\*)?\s*:",
    re.IGNORECASE | re.MULTILINE,
)
_HASHES = re.compile(r"(?<!#)####(?!#)")
_NEWLINE = re.compile(r"\n")
# Where a phrase answer stops: a line end, or a period followed by whitespace or the end of the text
# that is not part of an ellipsis ("3.5" and "1, 2, ..., n" do not stop it).
_STOP = re.compile(r"\n|(?<!\.)\.(?=\s|\Z)")
_DOLLAR = re.compile(r"(?<!\\)\$")
_GAP_FILL = r"(?:\s|\$|\\[()\[\]]|\\q?quad\b|\\[,;:! ]|~)*"
_JOIN = re.compile(_GAP_FILL + r"(?:,\s*and|,|and|\\text\{\s*(?:,|and)\s*\})" + _GAP_FILL)
_MAX_JOIN_GAP = 40
_DELIMITERS = (("\\(", "\\)"), ("\\[", "\\]"))


class _Box(NamedTuple):
    start: int  # the backslash of \boxed / \fbox
    lo: int  # content start
    hi: int  # content end
    end: int  # one past the closing brace (or the bare token)


class _Scan(NamedTuple):
    markers: list[int]  # start of every \boxed / \fbox, closed or not
    top: list[_Box]  # closed boxes not inside another closed box, in order
    by_start: dict[int, _Box]  # every closed box, by start


def _match_braces(text: str) -> dict[int, int]:
    """Map the index of each grouping ``{`` to that of its matching ``}`` (one pass, a stack)."""
    pairs: dict[int, int] = {}
    stack: list[int] = []
    for m in _BRACE.finditer(text):
        tok = m.group()
        if tok == "{":
            stack.append(m.start())
        elif tok == "}" and stack:
            pairs[stack.pop()] = m.start()
    return pairs


def _scan(text: str) -> _Scan:
    """Locate all boxes of ``text``; linear apart from the dictionary and list operations."""
    found = list(_BOX.finditer(text))
    if not found:
        return _Scan([], [], {})
    pairs = _match_braces(text)
    boxes: list[_Box] = []
    for m in found:
        pos = _SPACE.match(text, m.end()).end()
        if pos < len(text) and text[pos] == "{":
            close = pairs.get(pos)
            if close is not None:
                boxes.append(_Box(m.start(), pos + 1, close, close + 1))
            continue
        tm = _BARE_TOKEN.match(text, m.end())
        if tm is None or _BOX.fullmatch(tm.group(1)):
            continue
        lo, hi = tm.span(1)
        while hi > lo and text[hi - 1] in ".,;:":
            hi -= 1
        boxes.append(_Box(m.start(), lo, hi, tm.end()))
    top: list[_Box] = []
    outer_end = -1
    for box in boxes:  # boxes nest properly, so one running end tells inner from outer
        if box.start >= outer_end:
            top.append(box)
            outer_end = box.end
    return _Scan([m.start() for m in found], top, {b.start: b for b in boxes})


def _unwrap(text: str, box: _Box, by_start: dict[int, _Box]) -> str:
    """Content of ``box``, stripped, with whole-content boxes (``\\boxed{\\boxed{x}}``) unwrapped."""
    lo, hi = box.lo, box.hi
    while True:
        while lo < hi and text[lo].isspace():
            lo += 1
        while hi > lo and text[hi - 1].isspace():
            hi -= 1
        inner = by_start.get(lo)
        if inner is None or inner.end != hi:
            return text[lo:hi]
        lo, hi = inner.lo, inner.hi


def _box_answer(text: str, scan: _Scan) -> tuple[int, str] | None:
    """Start and text of the answer given by the last non-empty boxes (a joined run, or one box)."""
    top = scan.top
    i = len(top) - 1
    while i >= 0 and not (content := _unwrap(text, top[i], scan.by_start)):
        i -= 1
    if i < 0:
        return None
    parts = [content]
    while i > 0:
        gap = text[top[i - 1].end : top[i].start]
        if len(gap) > _MAX_JOIN_GAP or not _JOIN.fullmatch(gap):
            break
        prev = _unwrap(text, top[i - 1], scan.by_start)
        if not prev:
            break
        parts.append(prev)
        i -= 1
    return top[i].start, ", ".join(reversed(parts))


def _clean(x: str) -> str:
    """Strip ``$``, ``\\(..\\)``, ``\\[..\\]``, ``**`` and trailing punctuation from a phrase answer."""
    x = _DOLLAR.sub("", x)
    for _ in range(6):  # each pass is linear; real answers settle in one or two
        before = x
        x = x.strip()
        if x.startswith("**"):
            x = x[2:]
        if x.endswith("**"):
            x = x[:-2]
        x = x.strip().lstrip(":").rstrip(",;:").strip()
        if x.endswith(".") and not x.endswith(".."):
            x = x[:-1]
        for left, right in _DELIMITERS:
            if x.startswith(left) and x.endswith(right) and len(x) >= 4:
                x = x[2:-2]
        if x == before:
            break
    return x


def _inside_box(pos: int, scan: _Scan, starts: list[int]) -> bool:
    j = bisect_right(starts, pos) - 1
    return j >= 0 and pos < scan.top[j].end


def _first_at_or_after(positions: list[int], pos: int, default: int) -> int:
    k = bisect_left(positions, pos)
    return positions[k] if k < len(positions) else default


def extract_answer(text: str) -> str | None:
    """The final answer in a solution, or None if it states none."""
    if not text:
        return None
    scan = _scan(text)
    boxed = _box_answer(text, scan)
    boxed_start, boxed_text = boxed if boxed is not None else (-1, "")
    starts = [b.start for b in scan.top]
    # (start of the marker, where its answer text begins or -1 for the boxes, stop pattern)
    candidates: list[tuple[int, int, re.Pattern[str] | None]] = []
    if boxed is not None:
        candidates.append((boxed_start, -1, None))
    for pattern, stop in ((_PHRASE, _STOP), (_HASHES, _NEWLINE)):
        for m in pattern.finditer(text):
            if not _inside_box(m.start(), scan, starts):
                candidates.append((m.start(), m.end(), stop))
    candidates.sort(key=lambda c: c[0], reverse=True)  # stable; starts never tie in practice
    stops: dict[re.Pattern[str], list[int]] = {}
    for _, begin, stop in candidates:
        if stop is None:
            return boxed_text
        if stop not in stops:
            stops[stop] = [m.start() for m in stop.finditer(text)]
        end = _first_at_or_after(stops[stop], begin, len(text))
        # A box inside the answer text: a closed one would have won already, an open one gives nothing.
        if _first_at_or_after(scan.markers, begin, len(text)) < end:
            continue
        answer = _clean(text[begin:end])
        if answer:
            return answer
    return None


_MATH_SPAN = re.compile(r"(?<![\\$])\$\$?([^$]{1,300}?)\$\$?|\\\((.{1,300}?)\\\)|\\\[(.{1,300}?)\\\]", re.DOTALL)
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:,\d{3})*(?:\.\d+)?(?:/\d+)?(?![\w])")
_WORD = re.compile(r"(?<![\\a-zA-Z])[a-zA-Z]{2,}")


def prose_answer(text: str) -> str | None:
    """The answer of a prediction that has no answer marker but reads as prose ("The point is $(4,0)$.",
    "so the speed is 60 mph"): its last math span, else its last number; None for a bare answer (fewer
    than three words outside LaTeX commands) or prose with neither. Used after :func:`extract_answer`."""
    if len(_WORD.findall(_MATH_SPAN.sub(" ", text))) < 3:
        return None
    spans = [next(g for g in m.groups() if g is not None).strip() for m in _MATH_SPAN.finditer(text)]
    spans = [span for span in spans if span]
    if spans:
        return spans[-1].rstrip(".,;: ")
    numbers = _NUMBER.findall(text)
    return numbers[-1] if numbers else None


def boxed_contents(text: str) -> list[str]:
    """All \\boxed/\\fbox contents in order.

    Only closed boxes count; a box nested inside another is part of the outer one's content. Each
    content is stripped of outer whitespace.
    """
    scan = _scan(text)
    return [text[b.lo : b.hi].strip() for b in scan.top]


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} / \\fbox{...} (nested braces), or None."""
    contents = boxed_contents(text)
    return contents[-1] if contents else None
