"""Tokens for :mod:`verifiers.steps`: one bounded regex over the text, then context rules.

The lexer decides what a number, operator, relation, unit, currency sign, word or line break is, so that
the claim finder in ``steps.py`` can take maximal arithmetic runs around each relation and refuse sides
that touch a variable or a word belonging to the expression.
"""

from __future__ import annotations

import re

_THOUSANDS = r"(?:,\\!|\\!,|\{,\}|\\,|,)"
_TOKEN = re.compile("|".join([
    r"(?P<annot><<[^<>\n]{0,400}>>)",
    r"(?P<unit>\\(?:text|textrm|textnormal|mbox|mathrm)\s{0,3}\{[^{}\\$]{0,40}\}(?:\^\{?[23]\}?)?"
    r"|\^\s{0,3}\{?\s{0,3}\\circ\s{0,3}\}?|[°¢])",
    r"(?P<num>(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\\overline\{[0-9]{1,40}\}"
    r"|[0-9]{1,3}(?:" + _THOUSANDS + r"[0-9]{3})+(?![0-9])(?:\.[0-9]+)?|[0-9]*\.[0-9]+|[0-9]+)",
    r"(?P<rel>\\(?:approx|neq|ne|leqslant|geqslant|leq|le|geq|ge|lt|gt)(?![a-zA-Z])|<=|>=|[=≈≠≤≥<>])",
    r"(?P<cur>\\\$|\$(?=(?:<<[^<>\n]{0,400}>>)?[ ]?\.?[0-9])|[€£¥₹](?=[ ]?[0-9]))",
    r"(?P<ws>\s+|[&~]|\\[,;:! ]|\\(?:displaystyle|left|right)(?![a-zA-Z])|\*\*|__)",
    r"(?P<op>\\(?:times|cdot|div|frac|dfrac|tfrac|cfrac|sqrt)(?![a-zA-Z])|\\[%{}]"
    r"|[-+*/^×÷·−–()\[\]{}!%])",
    r"(?P<safe>\\(?:begin|end)\{[a-zA-Z*]{1,20}\}|\\[()\[\]]|\\\\|[$\"“”])",
    r"(?P<cmd>\\[a-zA-Z]+)",
    r"(?P<punct>[.,;:?•])",
    r"(?P<word>[^\W\d_]+)",
    r"(?P<other>.)",
]), re.S)

_TRANSPARENT = frozenset({"ws", "cur", "annot", "box"})
_OPENERS, _CLOSERS = frozenset({"(", "[", "{", "\\{"}), frozenset({")", "]", "}", "\\}"})
_FRACS = ("\\frac", "\\dfrac", "\\tfrac", "\\cfrac")
_OPERAND_CMDS = (*_FRACS, "\\sqrt")
_SAFE_CMDS = frozenset("quad qquad Rightarrow Longrightarrow implies iff Leftrightarrow rightarrow "
                       "longrightarrow to therefore because hline newline cr label tag qed".split())
_PROSE_CMDS = frozenset("text textrm textbf textit textnormal mbox emph".split())
_UNIT_STOP = frozenset("and or so then is of the which gives thus are we that if".split())


class _Tok:
    __slots__ = ("kind", "start", "end", "raw", "norm", "idx", "unit")

    def __init__(self, kind: str, start: int, end: int, raw: str, idx: int) -> None:
        self.kind, self.start, self.end, self.raw, self.idx = kind, start, end, raw, idx
        self.norm, self.unit = raw, ""


def _lex(text: str) -> list[_Tok]:
    """Tokenise once, then reclassify units, GSM8K's ``x`` for times, commands, words and line breaks."""
    toks = [_Tok(m.lastgroup or "other", m.start(), m.end(), m.group(), i)
            for i, m in enumerate(_TOKEN.finditer(text))]
    latex = "\\" in text or any(t.raw == "$" and t.kind == "safe" for t in toks)
    for i, tok in enumerate(toks):
        kind, raw = tok.kind, tok.raw
        if kind == "unit":
            tok.unit = _unit_key(toks, i)
            tok.kind = "ws" if tok.unit else ("prose" if raw.startswith("\\") else "var")
        elif kind == "num" and ((raw[0] == "0" and raw[1:2].isdigit()) or (latex and _tuple_like(toks, i))):
            tok.kind = "var"  # "0730 hours", "(28,365)"
        elif kind == "num":
            tok.norm = re.sub(r"\\!|\\,|\{,\}|,", "", raw)
        elif kind == "cur" and (raw != "$" or not latex):
            tok.unit = "$"
        elif kind == "cur":
            tok.kind = "safe"  # in LaTeX text a bare $ before a digit opens math: "$12 = 3 \times 4$"
        elif kind == "op" and raw in ("(", ")") and _parenthetical(toks, i):
            tok.kind = "word"
        elif kind == "op" and raw in "-*" and (i == 0 or "\n" in toks[i - 1].raw) and toks[i + 1:i + 2] \
                and toks[i + 1].raw == " ":
            tok.kind = "punct"  # a list bullet
        elif kind == "op" and raw == "*" and latex:
            tok.kind = "var"  # in LaTeX solutions ``a * b`` is usually a custom operation
        elif kind == "word" and raw in ("x", "X") and _between_numbers(toks, i):
            tok.kind, tok.norm = "op", "*"
        elif kind == "word" and len(raw) == 1 and raw not in ("a", "A", "I"):
            tok.kind = "var"
        elif kind == "cmd":
            tok.kind = ("box" if raw in ("\\boxed", "\\fbox") else "safe" if raw[1:] in _SAFE_CMDS
                        else "prose" if raw[1:] in _PROSE_CMDS else "var")
        elif kind == "ws" and "\n" in raw and not _continues(toks, i):
            tok.kind = "nl"  # a line break ends a claim unless an operator or relation sits at it
        if tok.kind in _TRANSPARENT:
            tok.norm = " "
    return toks


def _neighbour(toks: list[_Tok], i: int, step: int) -> _Tok | None:
    j = i + step
    while 0 <= j < len(toks) and toks[j].kind == "ws":
        j += step
    return toks[j] if 0 <= j < len(toks) else None


def _continues(toks: list[_Tok], i: int) -> bool:
    prev, nxt = _neighbour(toks, i, -1), _neighbour(toks, i, 1)
    if nxt is not None and nxt.kind == "rel":
        return True
    return prev is not None and (prev.kind == "rel" or (prev.kind == "op" and prev.raw not in _CLOSERS
                                                        and prev.raw not in "!%"))


def _tuple_like(toks: list[_Tok], i: int) -> bool:
    """In LaTeX a plain comma in ``(28,365)`` separates numbers; thousands are written ``28,\\!365``."""
    raw, after = toks[i].raw, toks[i + 1].raw if i + 1 < len(toks) else ""
    return ("," in raw and "\\" not in raw and "{" not in raw
            and ((i > 0 and toks[i - 1].raw in ("(", "[", "\\{")) or after in _CLOSERS))


def _unit_key(toks: list[_Tok], i: int) -> str:
    """``5\\text{ cm}`` or ``90^\\circ``: a unit right after a number and not before another operand."""
    raw = toks[i].raw
    key = "cent" if raw == "¢" else "deg"
    if raw.startswith("\\"):
        inner, tail = raw[raw.index("{") + 1:].split("}", 1)
        words = inner.lower().split()
        if (not re.fullmatch(r"[A-Za-z][A-Za-z./ ]{0,30}", inner.strip()) or len(words) > 2
                or _UNIT_STOP.intersection(words)):
            return ""
        key = " ".join(words).rstrip("s") + re.sub(r"[^0-9]", "", tail)
    prev, nxt = _neighbour(toks, i, -1), _neighbour(toks, i, 1)
    if prev is None or (prev.kind != "num" and prev.raw not in (")", "}")):
        return ""
    if nxt is not None and (nxt.kind in ("num", "cur") or nxt.raw in _OPENERS
                            or nxt.raw.startswith(_OPERAND_CMDS)):
        return ""
    return key


def _between_numbers(toks: list[_Tok], i: int) -> bool:
    if not (0 < i < len(toks) - 1 and toks[i - 1].raw.isspace() and toks[i + 1].raw.isspace()):
        return False
    prev, nxt = _neighbour(toks, i, -1), _neighbour(toks, i, 1)
    return (prev is not None and (prev.kind == "num" or prev.raw in (")", "%"))
            and nxt is not None and (nxt.kind in ("num", "cur") or nxt.raw == "("))


def _parenthetical(toks: list[_Tok], i: int) -> bool:
    """``(since ...`` and ``... see above)`` bracket prose, not arithmetic."""
    if toks[i].raw == "(" and i > 0 and not toks[i - 1].raw.isspace():
        return False
    j = i + 1 if toks[i].raw == "(" else i - 1
    word = toks[j] if 0 <= j < len(toks) else None
    return word is not None and word.kind == "word" and len(word.raw) >= 3 and word.raw.islower()
