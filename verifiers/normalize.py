"""String-level clean-up of an extracted answer before it is parsed.

Only rewrites that keep the meaning: math delimiters, spacing commands, ``\\left``/``\\right``,
``\\dfrac`` -> ``\\frac``, brace-less ``\\frac12``/``\\sqrt2``, unicode and ASCII operators (``>=``,
``<=``, ``!=``), ``30 percent`` -> ``30\\%``, degree signs, chat-template special tokens (``<|im_end|>``),
trailing units and punctuation. Pure string work, linear in the input, no sympy.
"""

from __future__ import annotations

import re

__all__ = ["SPECIAL_TOKEN", "answer_unit", "normalize_answer", "strip_special_tokens", "text_key"]

# Chat-template special tokens a generation can leave after its answer: <|im_end|>, <|eot_id|>, <|endoftext|>,
# DeepSeek's <｜end▁of▁sentence｜>, </s>, <eos>, Gemma's <end_of_turn>. A name of two or more characters, so
# that math such as 1<|x|>2 is left alone.
SPECIAL_TOKEN = re.compile(
    r"<\|[A-Za-z][\w.\-]{1,48}\|>|<｜[^｜<>\n]{1,48}｜>|</s>|<eos>|<pad>|<(?:end|start)_of_turn>"
)

_REPLACEMENTS = [
    # JSON-escaped text doubles every backslash: \\frac -> \frac (a LaTeX line break \\ is followed by a
    # space, a digit or another command's backslash, never directly by a command name)
    (re.compile(r"(?<!\\)\\\\(?=[a-zA-Z]{2,})"), r"\\"),
    (re.compile(r"\\mathrm\{e\}"), "e"),  # Euler's number, not the text "e"
    (re.compile(r"(?<=\d),\s*\\!\s*(?=\d{3}(?!\d))"), ","),  # 10,\!000 -> 10,000 (MATH's thousands)
    (re.compile(r"\\lt(?![a-zA-Z])"), "<"),
    # ASCII relations: x >= 2, x <= 5, x != 3 (not the arrows <=> and =>, nor ==)
    (re.compile(r"(?<![<>=!])>=(?![=>])"), r"\\ge "),
    (re.compile(r"(?<![<>=!])<=(?![=>])"), r"\\le "),
    (re.compile(r"(?<![<>=!])!=(?!=)"), r"\\neq "),
    (re.compile(r"\\[lr]?vert(?![a-zA-Z])"), "|"),  # \lvert x \rvert -> |x|
    (re.compile(r"(?<=\d)\s*per\s?cent(?![a-zA-Z])", re.IGNORECASE), r"\\%"),  # 30 percent -> 30\%
    (re.compile(r"\\gt(?![a-zA-Z])"), ">"),
    (re.compile(r"\\(?:d|t|c)frac\b"), r"\\frac"),
    (re.compile(r"\\(?:left|right|big|Big|bigg|Bigg)(?=[^a-zA-Z])|\\displaystyle"), ""),
    (re.compile(r"\\(?:mathbf|boldsymbol|mathrm|mathit|mathsf|operatorname|textbf|textit|textrm|textnormal|textsf)\{"),
     r"\\text{"),
    (re.compile(r"\\mbox\{"), r"\\text{"),
    (re.compile(r"(?<=\d)(?:\\[,!]|\\thinspace|\\ )\s*(?=\d{3}(?!\d))"), ""),  # 1\,000 -> 1000
    (re.compile(r"(?<!\\)\\(?:[,;:! ]|q?quad|hspace\{[^{}]*\})|~"), " "),
    (re.compile(r"\\le(?:q|qslant)?(?![a-zA-Z])"), r"\\le "),
    (re.compile(r"\\ge(?:q|qslant)?(?![a-zA-Z])"), r"\\ge "),
    (re.compile(r"\\(?:neq|ne)(?![a-zA-Z])"), r"\\neq "),
    (re.compile(r"\\(?:varnothing|emptyset)(?![a-zA-Z])|\\\{\s*\\\}|∅"), r"\\emptyset "),
    (re.compile(r"\\lbrace|\\\{"), r"\\{"),
    (re.compile(r"\\rbrace|\\\}"), r"\\}"),
    (re.compile(r"\\langle|⟨"), "("),
    (re.compile(r"\\rangle|⟩"), ")"),
    (re.compile(r"\\infty|∞|\\infinity"), r"\\infty "),
    (re.compile(r"^\s*(?:\\mathbb\s*\{?\s*R\s*\}?|ℝ|\\text\{all real numbers\})\s*$"), r"(-\\infty, \\infty)"),
    (re.compile(r"\^\s*\{?\s*\\circ\s*\}?|°|\\degree|\\textdegree"), ""),
    (re.compile(r"\\tfrac|\\dfrac"), r"\\frac"),
]
_UNICODE = {"−": "-", "–": "-", "×": r"\times ", "·": r"\cdot ", "÷": r"\div ", "≤": r"\le ",
            "≥": r"\ge ", "≠": r"\neq ", "π": r"\pi ", "√": r"\sqrt", "∪": r"\cup ", "±": r"\pm "}
_FRAC_DIGITS = re.compile(r"\\frac\s*(\d)\s*(\d)")
_FRAC_SECOND = re.compile(r"\\frac(\{[^{}]*\})\s*([0-9a-zA-Z])")
_FRAC_FIRST = re.compile(r"\\frac\s*([0-9a-zA-Z])\s*(\{)")
_SQRT_BARE = re.compile(r"\\sqrt\s*([0-9a-zA-Z])")
_DELIMITERS = re.compile(r"^\s*(?:\$\$?|\\\(|\\\[)\s*|\s*(?:\$\$?|\\\)|\\\])\s*$")
_TRAILING_UNIT = re.compile(
    r"(?:\\text\{[^{}]*\}|\s+[a-zA-Z]{2,}\.?)(?:\s*\^\s*\{?\d\}?)?\s*$"
)
_DOLLAR = re.compile(r"\\\$|\$")
_SPACES = re.compile(r"\s+")
# "Answer: 5", "The final answer is 5", and the bare word before inline math: "Answer $5$", "**Answer** \\(5\\)"
_ANSWER_PREFIX = re.compile(
    r"^(?:the\s+)?(?:final\s+)?answer\s*(?:is|:)\s*"
    r"|^(?:\*\*)?(?:final\s+)?answer(?:\*\*)?\s*(?=\$|\\\(|\\\[)",
    re.IGNORECASE,
)


def strip_special_tokens(text: str) -> str:
    """Chat-template special tokens replaced by line breaks (a token ends a turn, so it ends a line)."""
    return SPECIAL_TOKEN.sub("\n", text) if "<" in text else text


def _strip_units(text: str) -> str:
    """Drop trailing unit words or ``\\text{cm}`` after a numeric value (``5\\text{ cm}`` -> ``5``)."""
    for _ in range(3):
        match = _TRAILING_UNIT.search(text)
        if match is None or match.start() == 0:
            return text
        head = text[: match.start()].rstrip()
        numeric_end = head[-1:].isdigit() or head[-1:] in ("}", ")", ".", "%")
        if not numeric_end or not any(c.isdigit() for c in head) or head.endswith(r"\}"):
            return text
        text = head
    return text


def answer_unit(text: str) -> str:
    """The trailing unit an answer states, as a comparison key (``5\\text{ cm}^2`` -> ``cm2``; none: ``""``)."""
    spelled = _canonical(text)
    return text_key(spelled[len(_strip_units(spelled)):])


def normalize_answer(text: str) -> str:
    """Canonical spelling of an answer string, trailing units dropped; meaning is unchanged."""
    return _strip_units(_canonical(text))


def _canonical(text: str) -> str:
    """The rewrites of the module docstring, units kept."""
    text = _ANSWER_PREFIX.sub("", strip_special_tokens(text).strip())
    text = _DELIMITERS.sub("", text)
    for char, replacement in _UNICODE.items():
        if char in text:
            text = text.replace(char, replacement)
    for pattern, replacement in _REPLACEMENTS:
        text = pattern.sub(replacement, text)
    text = _DOLLAR.sub("", text)
    text = _FRAC_DIGITS.sub(r"\\frac{\1}{\2}", text)
    text = _FRAC_FIRST.sub(r"\\frac{\1}\2", text)
    text = _FRAC_SECOND.sub(r"\\frac\1{\2}", text)
    text = _SQRT_BARE.sub(r"\\sqrt{\1}", text)
    text = _SPACES.sub(" ", text).strip()
    return text.rstrip(".;: ").strip()


_TEXT_WRAPPER = re.compile(r"\\text\{([^{}]*)\}")
_NON_WORD = re.compile(r"[^0-9a-z]+")


def text_key(text: str) -> str:
    """A comparison key for text answers: ``\\text{(B) Monday.}`` -> ``bmonday``."""
    text = _TEXT_WRAPPER.sub(r"\1", text).lower()
    return _NON_WORD.sub("", text)
