"""Answers of scored samples and their grouping into equivalence classes for voting.

Majority vote counts answers that are *equivalent*, not equal as strings: ``\\frac12`` and ``0.5`` are
one vote. :class:`AnswerClusterer` groups a problem's answers cheaply:

1. answers equal after a light normalisation (spaces, ``$``, ``\\left``/``\\right``, ``\\dfrac``) share a
   cluster at once;
2. plain numbers (integers, decimals, ``\\frac{a}{b}``, ``a/b``) are compared as exact fractions, without
   the verifier (about 100 us a call);
3. anything else is compared with :func:`verifiers.verify` against each cluster's representative,
   and every decided pair is cached for the life of the clusterer.

When verdicts against the gold answer are known, every ``correct`` sample is one cluster (equivalent to
the gold, hence to each other) and the other answers are clustered among themselves: the cluster of the
correct answer stays pure and most verifier calls are saved. Samples with no answer, or with an
``unparsable``/``timeout`` verdict, do not vote (cluster ``-1``).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping, Sequence
from fractions import Fraction
from functools import lru_cache
from typing import Any

from verifiers import VerifyConfig, extract_answer, verify

__all__ = ["NO_VOTE", "AnswerClusterer", "answer_of", "normalise_answer", "parse_number"]

logger = logging.getLogger(__name__)

NO_VOTE = -1
_NON_VOTING_VERDICTS = frozenset({"unparsable", "timeout"})
_STRIP = re.compile(r"\\left|\\right|\\[,;!: ]|\s+|\$")
_FRAC_WORD = re.compile(r"\\[dt]frac")
_INT_OR_DEC = re.compile(r"-?(\d+\.?\d*|\.\d+)")
_LATEX_FRAC = re.compile(r"(-?)\\frac(?:\{(-?\d+)\}\{(\d+)\}|(\d)(\d))")
_SLASH_FRAC = re.compile(r"(-?\d+)/(\d+)")
_CLOSE_REL = 1e-4  # numbers this close, one a decimal, are left to the verifier (it applies rel_tol)


def answer_of(sample: Mapping[str, Any]) -> str | None:
    """The final answer of a sample: ``answer``, else ``extracted_answer``, else extracted from ``text``."""
    for name in ("answer", "extracted_answer"):
        value = sample.get(name)
        if isinstance(value, str) and value.strip():
            return value
    text = sample.get("text")
    return extract_answer(text) if isinstance(text, str) else None


@lru_cache(maxsize=1 << 16)
def normalise_answer(answer: str) -> str:
    """A light canonical string: no spaces, ``$``, ``\\left``/``\\right``, thin spaces or trailing period."""
    return _FRAC_WORD.sub(r"\\frac", _STRIP.sub("", answer)).rstrip(".")


@lru_cache(maxsize=1 << 16)
def parse_number(answer: str) -> tuple[Fraction, bool] | None:
    """``(value, is_decimal)`` for a plain number in normalised form, else None.

    >>> parse_number(r"\\frac12")
    (Fraction(1, 2), False)
    >>> parse_number("0.5")
    (Fraction(1, 2), True)
    """
    if _INT_OR_DEC.fullmatch(answer):
        return Fraction(answer), "." in answer
    match = _LATEX_FRAC.fullmatch(answer)
    if match:
        sign, num, den = match.group(1), match.group(2) or match.group(4), match.group(3) or match.group(5)
    else:
        match = _SLASH_FRAC.fullmatch(answer)
        if not match:
            return None
        sign, num, den = "", match.group(1), match.group(2)
    if int(den) == 0:
        return None
    value = Fraction(int(num), int(den))
    return (-value if sign else value), False


class AnswerClusterer:
    """Groups answers by verifier equivalence; decided pairs are cached across problems."""

    def __init__(self, config: VerifyConfig | None = None) -> None:
        self.config = config
        self._equal: dict[tuple[str, str], bool] = {}
        self.verify_calls = 0

    def equivalent(self, rep: str, other: str) -> bool:
        """Whether two normalised answers are equivalent (``rep`` plays the gold's role in ``verify``)."""
        if rep == other:
            return True
        left, right = parse_number(rep), parse_number(other)
        if left is not None and right is not None:
            if left[0] == right[0]:
                return True
            close = math.isclose(float(left[0]), float(right[0]), rel_tol=_CLOSE_REL)
            if not (close and (left[1] or right[1])):
                return False
        key = (rep, other)
        if key not in self._equal:
            self.verify_calls += 1
            self._equal[key] = verify(f"\\boxed{{{rep}}}", f"\\boxed{{{other}}}", self.config).is_equal
        return self._equal[key]

    def cluster(self, answers: Sequence[str | None], verdicts: Sequence[str | None] | None = None) -> list[int]:
        """A cluster id per answer (numbered by first appearance), ``NO_VOTE`` for answers that do not vote.

        With ``verdicts``, all ``correct`` answers form one cluster and the rest never join it.
        """
        verdicts = list(verdicts) if verdicts is not None else [None] * len(answers)
        ids: list[int] = []
        reps: list[str] = []  # representative of each cluster open to new members
        rep_ids: list[int] = []
        by_norm: dict[str, int] = {}
        correct_id: int | None = None
        next_id = 0
        for answer, verdict in zip(answers, verdicts, strict=True):
            if verdict == "correct":
                if correct_id is None:
                    correct_id, next_id = next_id, next_id + 1
                ids.append(correct_id)
                continue
            if answer is None or verdict in _NON_VOTING_VERDICTS:
                ids.append(NO_VOTE)
                continue
            norm = normalise_answer(answer)
            found = by_norm.get(norm)
            if found is None:
                found = next((cid for rep, cid in zip(reps, rep_ids, strict=True) if self.equivalent(rep, norm)), None)
            if found is None:
                found, next_id = next_id, next_id + 1
                reps.append(norm)
                rep_ids.append(found)
            by_norm[norm] = found
            ids.append(found)
        return ids
