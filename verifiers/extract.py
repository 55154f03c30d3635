"""Final-answer extraction from model output and reference solutions, in pure Python.

This module finds *where* the final answer is and returns its text; deciding whether two answers
are equal is the job of the equivalence checker. Recognised forms:

* ``\\boxed{...}`` / ``\\fbox{...}`` with nested braces (``\\{`` and ``\\}`` are literal, not
  grouping), ``\\boxed {x}``, and the brace-less ``\\boxed 5``. An unclosed box (a truncated
  generation) gives nothing. Boxes joined by commas, "and" or "or" at the end form one answer: "2, 3".
  Boxes that each give a different name a value join across line breaks and align rows too, labels
  kept: ``$x = \\boxed{2}$ and $y = \\boxed{3}$`` and ``\\boxed{x=2}`` / ``\\boxed{y=3}`` on two lines
  give "x = 2, y = 3".
* GSM8K's ``#### 72`` (rest of the line).
* Phrases: "The answer is X", "The final answer is X", "Final Answer: X", "Answer: X", including
  the Minerva form "Final Answer: The final answer is $X$. I hope it is correct.". A phrase followed
  by a sentence rather than a value is read as prose: the value that opens it ("25% of the whole"),
  else its last math span, else its last number ("Final Answer: There are 12 apples left." gives 12).
* The bare word before inline math that ends its line: "Answer $5$", "**Final answer** \\(x=2\\)".

Chat-template special tokens (``<|im_end|>``, ``<|eot_id|>``, ``</s>``, ...) count as line breaks.
When a text states several answers, the marker that starts last wins, so a model that retracts an
answer and states another is scored on the second one.

The order a prediction's answer is looked for in (``verifiers.verify``): (1) the markers above, the
last one in the text; (2) for text with no marker that reads as prose (three or more words outside
LaTeX, or a sentence that opens with a word and has math), :func:`prose_answer`: its last math span
(``$...$``, ``\\(...\\)``, ``\\[...\\]``) with the spans joined to it by "and", "or" or commas, else its
last number (with its percent sign) (``VerifyConfig.prose_fallback=False`` turns this off); (3) the whole
text, when it is short, as a bare answer.

Everything runs in time linear in the input (up to a log factor): braces are matched once with a
stack, and the regexes have no nested or adjacent unbounded quantifiers, so adversarial strings
(thousands of unclosed ``\\boxed{``, braces nested 10k deep, 100k characters) finish in
milliseconds. No recursion, no ``eval``, no sympy; no ``str`` input makes these functions raise.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from typing import NamedTuple

from verifiers.normalize import strip_special_tokens

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
# The bare word before inline math on its own line: "Answer $5$", "**Final answer** \\(x=2\\)", "Answer\n\\[4\\]".
_ANSWER_WORD = re.compile(
    r"(?:^|(?<=[.!?]\s))[ \t>#*_-]*(?:final\s+)?answer(?:[ \t]*\*\*)?[ \t]*(?:\n[ \t]*)?(?=\$|\\\(|\\\[)",
    re.IGNORECASE | re.MULTILINE,
)
_HASHES = re.compile(r"(?<!#)####(?!#)")
_NEWLINE = re.compile(r"\n")
# Where a phrase answer stops: a line end, or a period followed by whitespace or the end of the text
# that is not part of an ellipsis ("3.5" and "1, 2, ..., n" do not stop it).
_STOP = re.compile(r"\n|(?<!\.)\.(?=\s|\Z)")
_DOLLAR = re.compile(r"(?<!\\)\$")
_GAP_FILL = r"(?:\s|\$|\\[()\[\]]|\\q?quad\b|\\[,;:! ]|~)*"
_JOIN = re.compile(_GAP_FILL + r"(?:,\s*(?:and|or)|,|and|or|\\text\{\s*(?:,|and|or)\s*\})" + _GAP_FILL)
_MAX_JOIN_GAP = 40
# Labelled boxes (x = \boxed{2}, y = \boxed{3}; \boxed{x=2} \boxed{y=3}) also join across a line break, an
# align row (\\, &) or a semicolon. A label: x, y_1, \theta, AB, \overline{AB}.
_LABEL = r"(?:\\overline\{[A-Z]{1,4}\}|\\[a-zA-Z]+|[A-Za-z]{1,4})(?:_\{?[A-Za-z0-9]{1,3}\}?)?"
_LABEL_BEFORE = re.compile(r"(?<![\\A-Za-z])(" + _LABEL + r")\s*&?=\s*(?:\$|\\\(|\\\[)?\s*$")
_LABEL_INSIDE = re.compile(r"^\s*(" + _LABEL + r")\s*=")
_LABEL_GAP = re.compile(r"(?:\s|\$|\\[()\[\]]|\\q?quad\b|\\[,;:! ]|~|&|\\\\|;|,|and|\\text\{\s*(?:,|and)\s*\})*")
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


def _label_before(text: str, lo: int, box: _Box) -> re.Match[str] | None:
    """``x = `` (or ``x &= ``, ``$x = ``) right before ``box``, looked for after position ``lo``."""
    return _LABEL_BEFORE.search(text, max(lo, box.start - _MAX_JOIN_GAP), box.start)


def _box_answer(text: str, scan: _Scan) -> tuple[int, str] | None:
    """Start and text of the answer given by the last non-empty boxes (a joined run, or one box).

    Boxes join when the text between them is a connective (``\\boxed{2} and \\boxed{3}``), or when each
    is labelled by a different name (``x = \\boxed{2}, y = \\boxed{3}``, ``\\boxed{x=2} \\boxed{y=3}``): then the
    labels stay with their values (``x = 2, y = 3``).
    """
    top = scan.top
    i = len(top) - 1
    while i >= 0 and not (content := _unwrap(text, top[i], scan.by_start)):
        i -= 1
    if i < 0:
        return None
    label = _label_before(text, top[i - 1].end if i else 0, top[i])
    parts = [(content, label.group(1) if label else None)]
    while i > 0:
        gap_end = label.start() if label else top[i].start
        gap = text[top[i - 1].end : gap_end]
        prev = _unwrap(text, top[i - 1], scan.by_start)
        if not prev or len(gap) > _MAX_JOIN_GAP:
            break
        prev_label = _label_before(text, top[i - 2].end if i > 1 else 0, top[i - 1])
        names = [_name(prev, prev_label), _name(*parts[-1])]
        labelled = None not in names and names[0] != names[1] and _LABEL_GAP.fullmatch(gap)
        if not labelled and not _JOIN.fullmatch(gap):
            break
        parts.append((prev, prev_label.group(1) if prev_label else None))
        label = prev_label
        i -= 1
    labelled_run = len(parts) > 1 and all(_name(c, lab) is not None for c, lab in parts)
    answers = [f"{lab} = {c}" if lab and labelled_run else c for c, lab in reversed(parts)]
    return top[i].start, ", ".join(answers)


def _name(content: str, label: re.Match[str] | str | None) -> str | None:
    """The name a box's value is given: the label before it, else the left side of its own ``x = ...``."""
    if isinstance(label, re.Match):
        return label.group(1).replace(" ", "")
    if label:
        return label.replace(" ", "")
    inside = _LABEL_INSIDE.match(content)
    return inside.group(1) if inside else None


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
    text = strip_special_tokens(text)
    scan = _scan(text)
    boxed = _box_answer(text, scan)
    starts = [b.start for b in scan.top]
    # (start of the marker, where its answer text begins, kind: "box", "word" or the stop pattern)
    candidates: list[tuple[int, int, str | re.Pattern[str]]] = []
    if boxed is not None:
        candidates.append((boxed[0], -1, "box"))
    for pattern, stop in ((_PHRASE, _STOP), (_HASHES, _NEWLINE), (_ANSWER_WORD, "word")):
        for m in pattern.finditer(text):
            if not _inside_box(m.start(), scan, starts):
                candidates.append((m.start(), m.end(), stop))
    candidates.sort(key=lambda c: c[0], reverse=True)  # stable; starts never tie in practice
    stops: dict[re.Pattern[str], list[int]] = {}
    later = len(text)  # where the marker after this one starts: a phrase's answer ends there at the latest
    for start, begin, stop in candidates:
        if stop == "box":
            return boxed[1] if boxed is not None else None
        if stop == "word":
            answer = _word_answer(text, begin)
        else:
            assert isinstance(stop, re.Pattern)
            if stop not in stops:
                stops[stop] = [m.start() for m in stop.finditer(text)]
            end = min(_first_at_or_after(stops[stop], begin, len(text)), max(later, begin))
            # A box inside the answer text: a closed one would have won already, an open one gives nothing.
            if _first_at_or_after(scan.markers, begin, len(text)) < end:
                continue
            raw = text[begin:end]
            sentence = _sentence_value(raw) if stop is _STOP else None
            answer = _clean(sentence if sentence is not None else raw)
            if sentence is None and _CUT_OFF.search(answer[-8:]):
                answer = ""  # a phrase cut off mid-sentence ("The answer is the number of") states no answer
        if answer:
            return answer
        later = start
    return None


_MATH_SPAN = re.compile(r"(?<![\\$])\$\$?([^$]{1,300}?)\$\$?|\\\((.{1,300}?)\\\)|\\\[(.{1,300}?)\\\]", re.DOTALL)
# A number in prose, with its percent sign (40%, 40\%); never a piece of a decimal comma such as 3,5.
_NUMBER = re.compile(r"(?<![\w.])(?<!\d,)-?\d+(?:,\d{3})*(?:\.\d+)?(?:/\d+)?(?:[ ]?\\?%|(?![\w])(?!,\d))")
_WORD = re.compile(r"(?<![\\a-zA-Z])[a-zA-Z]{2,}")
_LINE_END = re.compile(r"[ \t.,;:!*]*(?:\n|\Z)")
_ENVIRONMENT = re.compile(r"\\(?:begin|end)\{[^{}]*\}(?:\{[lcr|:\s]*\})?")  # \begin{array}{cc} is no prose
_OPENING_WORD = re.compile(r"\s*[A-Za-z]{2,}\b")
# A phrase answer ending in an article, preposition or conjunction was cut off (a truncated generation).
# Read on the answer's last few characters only (linear however many markers a text repeats).
_CUT_OFF = re.compile(r"\s(?:a|an|the|of|to|for|by|with|in|on|is|are|and|or|that)$")


def _span_text(match: re.Match[str]) -> str:
    return next(g for g in match.groups() if g is not None).strip()


def _word_answer(text: str, begin: int) -> str | None:
    """After a bare "Answer" (no colon): the math span that follows it and ends its line."""
    span = _MATH_SPAN.match(text, begin)
    if span is None or not _LINE_END.match(text, span.end()):
        return None
    return _clean(_span_text(span))


def _reads_as_prose(text: str) -> bool:
    """Three or more words outside math spans, LaTeX commands and environment names; or a sentence that opens
    with a word and has a math span ("Therefore $x=-1$ or $x=3$.", "Thus $x = 5$.")."""
    outside = _MATH_SPAN.sub(" ", text)
    words = len(_WORD.findall(_ENVIRONMENT.sub(" ", outside)))
    return words >= 3 or (words >= 1 and outside != text and bool(_OPENING_WORD.match(text)))


def _sentence_value(raw: str) -> str | None:
    """A phrase answer that is a sentence, read as prose: the value that opens it ("25% of the whole",
    "$\\frac12$ of the cake"), else its last math span, else its last number ("Final Answer: There are 12
    apples left."). None when ``raw`` is not a sentence (fewer than three words outside math)."""
    if not _reads_as_prose(raw):
        return None
    head = raw.lstrip(" \t*:")
    lead = _MATH_SPAN.match(head)
    if lead is not None and _span_text(lead):
        return _span_text(lead)
    number = _NUMBER.match(head)
    return number.group().strip() if number is not None else prose_answer(raw)


def prose_answer(text: str) -> str | None:
    """The answer of a prediction that has no answer marker but reads as prose ("The point is $(4,0)$.",
    "so the speed is 60 mph", "so 40% of them"): its last math span, else its last number, each with those
    joined to it by a connective ("$x=3$ or $x=-1$" and "3 or -1" are lists of both, so a hedge between
    two values matches neither alone); None for a bare answer (fewer than three words outside LaTeX
    commands) or prose with neither. Used after :func:`extract_answer`."""
    text = strip_special_tokens(text)
    if not _reads_as_prose(text):
        return None
    spans = [m for m in _MATH_SPAN.finditer(text) if _span_text(m)]
    if spans:
        return _joined_tail(text, spans, lambda m: _span_text(m).rstrip(".,;: "))
    numbers = list(_NUMBER.finditer(text))
    return _joined_tail(text, numbers, lambda m: m.group().strip()) if numbers else None


def _joined_tail(text: str, matches: list[re.Match[str]], value: Callable[[re.Match[str]], str]) -> str:
    """The last match's value, with the values of the matches before it that a connective joins to it."""
    k = len(matches) - 1
    parts = [value(matches[k])]
    while k > 0:
        gap = text[matches[k - 1].end() : matches[k].start()]
        if len(gap) > _MAX_JOIN_GAP or not _JOIN.fullmatch(gap):
            break
        k -= 1
        parts.append(value(matches[k]))
    return ", ".join(reversed(parts))


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
