"""Find the arithmetic claims written in reasoning steps and say exactly which of them hold.

:func:`check_steps` scans text (one step or a whole solution) for equalities, chains, ``\\approx`` and
inequalities between plain numbers, in LaTeX (``$...$``, ``\\(...\\)``, ``\\[...\\]``, ``\\boxed{}``) or
in prose ("She has 16 - 3 = 13 eggs left."), and for GSM8K calculator annotations ``<<16-3=13>>13``.
Every side is evaluated exactly with :func:`verifiers.arith.evaluate` (no ``eval``, no sympy).

It labels synthetic solution steps, so it is exact on what it reports and conservative about what it
reports: a side that touches a variable, a function, an unknown command, a unit conversion or a word
that belongs to the expression ("3 times 4 = 12", "x - 3 = 5") is *not a claim*, never a failed one.
Where notation is ambiguous (``2\\frac12``, ``50 - 20 = 30%``, ``3/ 1/4``, ``3^15^2``, a final ``!``)
a claim fails only if no reading holds, and failures are dropped in modular or base-n contexts and
where the text says the claim is false. Work is linear in the input: one tokenising regex with bounded
alternatives, sides over ``MAX_SIDE_CHARS`` are skipped and at most ``MAX_CLAIMS`` claims are kept.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from fractions import Fraction

from verifiers.arith import NotArithmetic, evaluate
from verifiers.step_lexer import (
    _CLOSERS,
    _FRACS,
    _OPENERS,
    _OPERAND_CMDS,
    _TRANSPARENT,
    _lex,
    _neighbour,
    _Tok,
)

__all__ = ["Claim", "StepCheck", "check_steps", "MAX_CLAIMS", "MAX_SIDE_CHARS"]

logger = logging.getLogger(__name__)

MAX_CLAIMS = 10_000
MAX_SIDE_CHARS = 400
_MAX_DEPTH = 24  # bracket nesting; arith.evaluate recurses once per level
_MAX_DECIMALS = 60


_AFTER_NUMBER = re.compile(r"[-−]?(?:[0-9]{1,3}(?:,[0-9]{3})+(?![0-9])|[0-9]+)?(?:\.[0-9]+)?"
                           r"(?:/[0-9]+(?![.0-9]))?")
_ANNOTATION = re.compile(r"<<[^<>\n]{0,400}>>")
_FLOOR_DIV = re.compile(r"\s*([0-9]+)\s*//\s*([0-9]+)\s*")
_DECIMALS = re.compile(r"\s*[-−]?\s*(?:[0-9]+(?:,[0-9]{3})*(?:\.([0-9]*))?|\.([0-9]+))\s*")
# Failing claims are dropped where arithmetic may be modular or in another base ...
_MODULAR = re.compile(r"\\(?:pmod|bmod|mod|equiv)(?![a-zA-Z])|\bin base\b|\bbase[- ]?\$?\{?\d|\bmod(?:ulo)?\b"
                      r"|\b(?:units|ones|tens|last)(?: two| three)? digits?\b|\bparity\b", re.I)
# ... and where the text around them says they are false ("we get 5+12>17, which is false").
_REFUTED = re.compile(r"contradict|\bfalse\b|impossible|absurd|\bno (?:solution|integer|real)|\bnot\b|n't\b"
                      r"|\bcannot\b|\bwrong\b|\bincorrect\b|\bmistake", re.I)
_ROUNDING = re.compile(r"\b(?:nearest|round(?:ed|ing)?|approximately)\b", re.I)  # allows "= 1051" of 1051.01
_CHAIN = frozenset({"num", "op", "rel"}) | _TRANSPARENT
_SIGNS = frozenset({"-", "+", "−", "–"})
_PRODUCT_OPS = frozenset({"*", "/", "^", "\\times", "\\cdot", "\\div", "×", "÷", "·"})
_LINE_ENDS = ("\\\\", "\\quad", "\\qquad")
_SPACES = ("~", "\\,", "\\;", "\\:", "\\ ")
# Words that make a neighbouring number part of something larger: "3 times 4 = 12", "day 1 * 2 = 20"
# (day 1), "Weeks 1-2 = 96" (a range), "= 5 and 2/3", "= 26 cents", "= 2 full cycles".
_LEFT_STOP = frozenset((
    "of times by plus minus over than twice thrice double triple quadruple half third quarter per from "
    "into squared cubed multiplied divided product sum difference quotient root sqrt log ln sin cos tan "
    "exp mod modulo choose gcd lcm less more add subtract multiply divide day days week weeks month months "
    "year years page pages chapter step grade level round part room row section box game test quiz floor "
    "lap question problem number no item line figure table case").split())
_RIGHT_STOP = frozenset((
    "hundred hundreds thousand thousands million millions billion billions trillion dozen dozens percent "
    "squared cubed times half halves third thirds quarter quarters fourths fifths sixths sevenths eighths "
    "ninths tenths hundredths thousandths over out of factorial root roots pi cents cent pence remainder "
    "rem r full whole complete").split())
_RELATIONS = {sym: name for name, syms in (
    ("=", "="), ("approx", "≈ \\approx"), ("!=", "≠ \\neq \\ne"), ("<", "< \\lt"), (">", "> \\gt"),
    ("<=", "≤ <= \\le \\leq \\leqslant"), (">=", "≥ >= \\ge \\geq \\geqslant")) for sym in syms.split()}

_Reading = tuple[Fraction, "int | None"]  # exact value; decimals shown when the side is a bare numeral
_Readings = tuple[list[_Reading], list[_Reading]]  # readings that must agree; ones that excuse a failure


@dataclass
class _Ctx:
    text: str
    toks: list[_Tok]
    modular: bool
    rounding: bool


@dataclass(frozen=True)
class Claim:
    """One arithmetic claim found in the text and whether it holds."""

    text: str  # the claim as found, e.g. "16 - 3 = 13" (annotations: "<<16-3=13>>13")
    lhs: str
    rhs: str
    relation: str  # "=", "approx", "<", "<=", ">", ">=", "!="
    holds: bool
    kind: str  # "equation" (= and approx), "inequality" or "annotation"
    start: int  # character offset of the claim in the input text
    rounded: bool = False  # holds only once the exact value is rounded to the decimals shown
    lhs_value: Fraction | None = None
    rhs_value: Fraction | None = None


@dataclass(frozen=True)
class StepCheck:
    """All claims found in a text, ordered by position."""

    claims: tuple[Claim, ...]

    @property
    def ok(self) -> bool | None:
        """None when there is no claim, else whether every claim holds."""
        return None if not self.claims else all(c.holds for c in self.claims)

    @property
    def failures(self) -> tuple[Claim, ...]:
        return tuple(c for c in self.claims if not c.holds)


def _rounds_to(exact: Fraction, shown: Fraction, decimals: int) -> bool:
    """Round half away from zero to ``decimals`` places (negative: tens, hundreds...) and compare."""
    scale = Fraction(10) ** decimals
    rounded = math.floor(abs(exact) * scale + Fraction(1, 2))
    return (rounded if exact >= 0 else -rounded) / scale == shown


def _decimals(expr: str) -> int | None:
    """Decimal places of a bare numeral (``3.33`` -> 2, ``-1,250`` -> 0), else None."""
    m = _DECIMALS.fullmatch(expr.replace("{", " ").replace("}", " "))
    places = (m.group(1) or m.group(2) or "") if m else None
    return len(places) if places is not None and len(places) <= _MAX_DECIMALS else None


def _verdict(rel: str, a: _Reading, b: _Reading, int_rounding: bool) -> tuple[bool, bool] | None:
    """(holds, rounded) for ``a rel b``; None when an approximation shows nothing to round to."""
    if rel not in ("=", "approx"):
        x, y = a[0], b[0]
        return {"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y, "!=": x != y}[rel], False
    if a[0] == b[0]:
        return True, False
    least = 0 if rel == "approx" or int_rounding else 1
    for exact, (shown, dec) in ((a[0], b), (b[0], a)):
        if dec is None or dec < least:
            continue
        digits = str(shown.numerator)  # "\approx 2000" may round to the nearest thousand
        coarsest = len(digits.rstrip("0")) - len(digits) if rel == "approx" and dec == 0 and shown else dec
        if any(_rounds_to(exact, shown, d) for d in range(dec, coarsest - 1, -1)):
            return True, True
    return None if rel == "approx" and a[1] is None and b[1] is None else (False, False)


def _read(expr: str, mixed: bool = False) -> _Reading | None:
    if not expr.strip() or len(expr) > MAX_SIDE_CHARS:
        return None
    try:
        return evaluate(expr, mixed_numbers=mixed).value, _decimals(expr)
    except NotArithmetic:
        return None
    except Exception as exc:  # arith raises AssertionError/RecursionError on some inputs
        logger.debug("arith.evaluate(%r) raised %r", expr[:80], exc)
        return None


def _annotation_claim(text: str, tok: _Tok) -> Claim | None:
    """``<<expr=result>>after``: expr must equal result, and a number written after must be the result."""
    expr, eq, result = tok.raw[2:-2].rpartition("=")
    floor = _FLOOR_DIV.fullmatch(expr)  # calculator expressions are Python: a//b is floor division
    left: _Reading | None = _read(expr)
    if floor and int(floor.group(2)):
        left = (Fraction(int(floor.group(1)) // int(floor.group(2))), None)
    right = _read(result)
    if not eq or left is None or right is None:
        logger.debug("annotation %r is not plain arithmetic", tok.raw)
        return None
    written_after = _AFTER_NUMBER.match(text, tok.end, min(len(text), tok.end + 60))
    after = written_after.group() if written_after else ""
    holds, rounded = _verdict("=", left, right, False) or (False, False)
    if any(ch.isdigit() for ch in after):
        written = _read(after.replace("−", "-"))
        holds = holds and written is not None and written[0] == right[0]
    return Claim(text=tok.raw + after, lhs=expr.strip(), rhs=result.strip(), relation="=", holds=holds,
                 kind="annotation", start=tok.start, rounded=rounded and holds,
                 lhs_value=left[0], rhs_value=right[0])


def _trim(side: list[_Tok]) -> list[_Tok]:
    solid = [k for k, t in enumerate(side) if t.kind not in _TRANSPARENT]
    return side[solid[0]:solid[-1] + 1] if solid else []


def _strip_outer(side: list[_Tok], first: bool) -> list[_Tok]:
    """Drop brackets that open before the claim (``\\boxed{2+3=5}``) or close after it."""
    net = sum((t.raw in _OPENERS) - (t.raw in _CLOSERS) for t in side)
    while side and first and net > 0 and side[0].raw in _OPENERS:
        side, net = _trim(side[1:]), net - 1
    while side and not first and net < 0 and side[-1].raw in _CLOSERS:
        side, net = _trim(side[:-1]), net + 1
    return side


def _gap(toks: list[_Tok], lo: int, hi: int) -> bool:
    """Is there white space (not just ``&``, ``\\left``, a unit or a currency sign) in toks[lo:hi]?"""
    return any(t.kind == "annot" or (t.kind == "ws" and (t.raw.isspace() or t.raw in _SPACES))
               for t in toks[lo:hi])


def _edge_word(tok: _Tok, last: bool) -> str:
    words = re.findall(r"[^\W\d_]+", tok.raw if tok.kind == "word" else tok.raw.partition("{")[2])
    return (words[-1] if last else words[0]).lower() if words else ""


def _context_ok(toks: list[_Tok], tok: _Tok, step: int) -> bool:
    """Check the boundary token ``tok`` and, past a ``$``, ``\\\\`` or line break, the token beyond it."""
    stop = _LEFT_STOP if step < 0 else _RIGHT_STOP
    nxt = _neighbour(toks, tok.idx, step)
    if _edge_word(tok, step < 0) in stop or (tok.raw in (",", "and") and nxt is not None and (
            nxt.kind in ("num", "var", "cur") or nxt.raw in (_CLOSERS if step < 0 else _SIGNS | _OPENERS))):
        return False  # also lists "\frac26, \frac28 = \frac13, \frac14" and "5 and 2/3"
    if tok.raw not in ("$", "\\\\") and tok.kind != "nl":
        return True
    j = tok.idx + step
    while 0 <= j < len(toks) and (toks[j].kind in ("ws", "nl") or toks[j].raw in _LINE_ENDS):
        j += step
    beyond = toks[j] if 0 <= j < len(toks) else None
    if beyond is None:
        return True
    if beyond.kind == "op" or beyond.raw in _SIGNS or beyond.raw == "*":  # continued on the next line
        return step > 0 and beyond.raw in _OPENERS
    return _edge_word(beyond, step < 0) not in stop and not (step < 0 and beyond.kind == "var")


def _left_ok(ctx: _Ctx, start: int, side: list[_Tok]) -> bool:
    """Is the first side of a chain cut from prose, not from a larger expression?"""
    left = ctx.toks[start - 1] if start > 0 else None
    if left is None:
        return True
    spaced = (_gap(ctx.toks, start, side[0].idx) or left.kind == "nl"
              or (left.kind == "prose" and left.raw.endswith(" }")))
    if (not spaced and left.kind != "safe") or left.kind in ("var", "other"):
        return False
    if not _context_ok(ctx.toks, left, -1):
        return False
    if left.raw == "." and (left.start == 0 or not ctx.text[left.start - 1].isalnum()):
        return False  # ". 84 + .82": a stray decimal point, not the end of a sentence
    head = side[0]
    if head.kind == "op" and head.raw not in _OPENERS and not head.raw.startswith(_OPERAND_CMDS):
        return head.raw in _SIGNS and left.raw in ("$", "\\(", "\\[", '"', "“", ":")
    solid = [t for t in side if t.kind not in _TRANSPARENT]
    return len(solid) > 1 or left.kind in ("safe", "nl")  # "Day 1 = 5 miles" labels, "2:3 = 4" ratios


def _right_ok(ctx: _Ctx, end: int, side: list[_Tok]) -> bool:
    right = ctx.toks[end] if end < len(ctx.toks) else None
    if right is None:
        return True
    spaced = (_gap(ctx.toks, side[-1].idx + 1, end) or right.kind == "nl"
              or (right.kind == "prose" and "{ " in right.raw))
    after = ctx.text[right.end:right.end + 1]
    if right.kind == "punct" and (after == "." or (not spaced and after.isalnum())):
        return False  # "13382.255..", "5:3"
    if (not spaced and right.kind not in ("safe", "punct")) or right.kind in ("var", "other"):
        return False
    tail = side[-1]
    ends_well = tail.kind != "op" or tail.raw in _CLOSERS or tail.raw in ("!", "%", "\\%")
    return ends_well and _context_ok(ctx.toks, right, 1)


def _render(side: list[_Tok], notation: bool = False) -> str:
    """The side as arith input; ``notation`` reads ``6 / 1/4`` as 6/(1/4) and ``3^15^2`` as 3^1 5^2."""
    norms = [t.norm for t in side]
    before = ""  # the last operator or operand seen
    for j in range(len(side) - 2 if notation else 0):
        a, b, c = side[j:j + 3]
        if a.raw == "^" and b.kind == "num" and b.norm.isdigit() and len(b.norm) > 1 and a.end == b.start:
            norms[j + 1] = "{" + b.norm[0] + "}\\cdot " + b.norm[1:]
        tight = a.kind == c.kind == "num" and b.raw == "/" and a.end == b.start and b.end == c.start
        if tight and before in ("/", "÷", "\\div"):
            norms[j], norms[j + 2] = "(" + norms[j], norms[j + 2] + ")"
        before = a.raw if a.kind not in _TRANSPARENT else before
    return "".join(norms).strip()


def _misread(solid: list[_Tok]) -> bool:
    """Notation to leave alone: arith's mixed-number reading folds in a product before it and applies a
    ``%``/``!`` after it to the fraction only (see the report); a hyphenated ``6-8-10`` names a triangle."""
    for j in range(1, len(solid)):
        if solid[j - 1].kind == "num" and solid[j].raw.startswith(_FRACS) and (
                (j >= 2 and solid[j - 2].raw in _PRODUCT_OPS) or any(t.raw in "%\\%!" for t in solid[j:])):
            return True
    return (len(solid) >= 5 and all(t.raw == "-" if k % 2 else t.kind == "num" for k, t in enumerate(solid))
            and all(a.end == b.start for a, b in zip(solid, solid[1:], strict=False)))


def _readings(side: list[_Tok], last: bool) -> _Readings | None:
    """Readings that must agree (mixed numbers) and alternatives that excuse a failure."""
    solid = [t for t in side if t.kind not in _TRANSPARENT]
    if len(side) > MAX_SIDE_CHARS or _misread(solid):
        return None
    depth = deepest = 0
    for tok in side:
        depth += (tok.raw in _OPENERS) - (tok.raw in _CLOSERS)
        deepest = max(deepest, depth)
    base = _render(side)
    primary = [_read(base)] if deepest <= _MAX_DEPTH else [None]
    if any(a.kind == "num" and b.raw.startswith(_FRACS) for a, b in zip(solid, solid[1:], strict=False)):
        primary.append(_read(base, mixed=True))  # 2\frac12: a product or a mixed number
    if any(r is None for r in primary):
        return None
    alternatives = [alt for alt in [_render(side, notation=True)] if alt != base]
    final = next((t for t in reversed(solid) if t.raw not in _CLOSERS), solid[-1])
    if final.raw in ("%", "\\%") or (last and final.raw == "!" and len(solid) > 1):
        alternatives.append(_render([t for t in side if t is not final]))  # "= 30%" a label, "= 5!" prose
    return primary, [r for r in map(_read, alternatives) if r is not None]  # type: ignore[return-value]


def _box_ok(side: list[_Tok], k: int, n: int, opened: bool) -> bool:
    """``= \\boxed{30}`` ends a chain and ``\\boxed{2+3=5}`` wraps one; ``\\boxed{12}=6`` is a function."""
    boxes = [t for t in side if t.kind == "box"]
    first = next((t for t in side if t.kind not in ("ws", "cur", "annot")), None)
    return not boxes or (len(boxes) == 1 and first is boxes[0] and (k == n - 1 or (k == 0 and opened)))


def _chain_claims(ctx: _Ctx, start: int, end: int, budget: int) -> list[Claim]:
    """Claims from one maximal run of arithmetic tokens ctx.toks[start:end] holding relations."""
    raw_sides: list[list[_Tok]] = [[]]
    rels: list[_Tok] = []
    for tok in ctx.toks[start:end]:
        if tok.kind == "rel":
            rels.append(tok)
            raw_sides.append([])
        else:
            raw_sides[-1].append(tok)
    sides = [s if len(s) <= MAX_SIDE_CHARS else [] for s in map(_trim, raw_sides)]
    n = len(sides)
    first, sides[-1] = _strip_outer(sides[0], True), _strip_outer(sides[-1], False)
    opened, sides[0] = len(first) < len(sides[0]), first
    usable = [bool(s) and _box_ok(raw_sides[k], k, n, opened) for k, s in enumerate(sides)]
    usable[0] = usable[0] and _left_ok(ctx, start, sides[0])
    usable[-1] = usable[-1] and _right_ok(ctx, end, sides[-1])
    cache: dict[int, _Readings | None] = {}
    claims = []
    for i, rel in enumerate(rels[:budget]):
        units = {t.unit for t in raw_sides[i] + raw_sides[i + 1] if t.unit}
        if not (usable[i] and usable[i + 1]) or len(units) > 1:  # "1\text{ yard} = 3\text{ feet}"
            continue
        for k in (i, i + 1):
            if k not in cache:
                cache[k] = _readings(sides[k], k == n - 1)
        claim = _pair_claim(ctx, rel, sides[i], sides[i + 1], cache[i], cache[i + 1])
        if claim is not None:
            claims.append(claim)
    return claims


def _pair_claim(ctx: _Ctx, rel_tok: _Tok, lside: list[_Tok], rside: list[_Tok],
                lread: _Readings | None, rread: _Readings | None) -> Claim | None:
    if lread is None or rread is None:
        return None
    rel = _RELATIONS[rel_tok.raw]
    verdicts = {_verdict(rel, a, b, ctx.rounding) for a in lread[0] for b in rread[0]}
    if len(verdicts) != 1 or None in verdicts:
        return None  # the readings disagree, or an approximation shows no decimals
    holds, rounded = verdicts.pop()  # type: ignore[misc]
    if not holds:
        excused = any((_verdict(rel, a, b, ctx.rounding) or (False, False))[0]
                      for a in lread[0] + lread[1] for b in rread[0] + rread[1])
        window = (max(0, lside[0].start - 60), rside[-1].end + 120)
        brackets = any(t.raw == "[" and (k == 0 or s[k - 1].raw != "\\sqrt")  # [x] may be floor or round
                       for s in (lside, rside) for k, t in enumerate(s))
        if excused or brackets or ctx.modular or _REFUTED.search(ctx.text, *window):
            return None  # another reading holds, or it is stated to be refuted: not sure it is a failure
    before = ctx.toks[lside[0].idx - 1] if lside[0].idx else lside[0]
    start = before.start if before.kind == "cur" and before.unit else lside[0].start  # "$5 + $3 = $8"
    spans = ((start, rside[-1].end), (start, lside[-1].end), (rside[0].start, rside[-1].end))
    found, lhs, rhs = (" ".join(_ANNOTATION.sub("", ctx.text[a:b]).split()) for a, b in spans)
    return Claim(text=found, lhs=lhs, rhs=rhs, relation=rel, holds=holds, start=start, rounded=rounded,
                 kind="equation" if rel in ("=", "approx") else "inequality",
                 lhs_value=lread[0][0][0], rhs_value=rread[0][0][0])


def check_steps(text: str) -> StepCheck:
    """Find the arithmetic claims in ``text`` and check each exactly; never raises."""
    if not isinstance(text, str) or not text:
        return StepCheck(())
    try:
        toks = _lex(text)
        ctx = _Ctx(text, toks, bool(_MODULAR.search(text)), bool(_ROUNDING.search(text)))
        claims = [c for t in toks if t.kind == "annot" for c in [_annotation_claim(text, t)] if c]
        i = 0
        while i < len(toks) and len(claims) < MAX_CLAIMS:
            j = i
            while j < len(toks) and toks[j].kind in _CHAIN:
                j += 1
            if any(t.kind == "rel" for t in toks[i:j]):
                claims.extend(_chain_claims(ctx, i, j, MAX_CLAIMS - len(claims)))
            i = max(j, i + 1)
    except Exception:  # a bug here must not take a labelling run down
        logger.exception("check_steps failed on a %d-character input", len(text))
        return StepCheck(())
    if len(claims) > MAX_CLAIMS:
        logger.warning("check_steps: %d claims, keeping the first %d", len(claims), MAX_CLAIMS)
    return StepCheck(tuple(sorted(claims, key=lambda c: c.start)[:MAX_CLAIMS]))
