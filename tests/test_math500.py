"""The verifier on real MATH-500 references: every boxed answer matches, shuffled pairs do not."""

from __future__ import annotations

import random

from verifiers import Status, verify_many


def test_reference_solutions_verify_against_their_answers(math500_rows: list[dict]) -> None:
    verdicts = verify_many([(r["answer"], r["solution"]) for r in math500_rows], workers=2)
    failures = [(r["unique_id"], v) for r, v in zip(math500_rows, verdicts, strict=True) if not v.is_equal]
    assert len(math500_rows) == 500
    assert failures == []


def test_shuffled_pairs_are_rejected(math500_rows: list[dict]) -> None:
    order = list(range(len(math500_rows)))
    random.Random(0).shuffle(order)
    pairs = [(math500_rows[i], math500_rows[j]) for i, j in enumerate(order) if i != j]
    verdicts = verify_many([(a["answer"], b["solution"]) for a, b in pairs], workers=2)
    for (a, b), verdict in zip(pairs, verdicts, strict=True):
        same_text = a["answer"].replace(" ", "") == b["answer"].replace(" ", "")
        assert verdict.is_equal == same_text, (a["answer"], b["answer"], verdict)
        assert verdict.status in (Status.EQUAL, Status.NOT_EQUAL)
