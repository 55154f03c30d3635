"""Error injection: step-labelled negatives made by corrupting ONE step of a correct reference solution.

A reference solution (GSM8K, MATH or synthetic) is first labelled exactly
(:mod:`data.labelling.exact`); only references whose every step checks out and whose final answer
equals the gold are used, and they are kept as positives (all 1.0). A negative corrupts one step
``k`` that states an arithmetic claim :func:`verifiers.check_steps` finds:

- ``result``: a result number of the claim is changed so the claim is false, and the wrong value is
  carried into later steps wherever it reappears (the error propagates, the first error is ``k``);
- ``operand``: a number on the claim's left side is changed so the claim is false;
- ``drop_step``: step ``k`` is removed; the first error is the first later step that uses its result
  as an operand, checked to be a value that appears nowhere before it (not in the problem, not in an
  earlier step). Arithmetic checks cannot see a missing step, so this is the one kind whose first error
  is established by this provenance check rather than by a failing claim.

Every ``result``/``operand`` negative is re-labelled with :func:`~data.labelling.exact.exact_labels`
and kept only if its first error is exactly ``k`` (earlier steps pass, step ``k`` fails); the rest are
discarded and counted. Labels: 1.0 before the first error, 0.0 at it, later steps dropped (or 0.0
with ``"zero"``). Everything is seeded per problem id, so output does not depend on order or batching.
"""

from __future__ import annotations

import collections
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction

from data.labelling.exact import (
    AfterError,
    LabelResult,
    Unlabellable,
    exact_labels,
    make_row,
    reference_steps,
    split_answer_line,
)
from data.records import Problem, StepwiseRow
from verifiers import Claim, check_steps

__all__ = [
    "KINDS", "DEFAULT_WEIGHTS", "Corruption", "NoCorruption", "PerturbReport", "corrupt", "perturb_problem",
    "perturb_problems",
]  # fmt: skip

KINDS: tuple[str, ...] = ("result", "operand", "drop_step")
DEFAULT_WEIGHTS: dict[str, float] = {"result": 0.5, "operand": 0.3, "drop_step": 0.2}

# An unsigned decimal numeral, not glued to letters ("x2", "2x", "\frac12" are left alone).
_NUMBER = re.compile(r"(?<![\w.])(?:\d{1,3}(?:,\d{3})+(?![\d,])|\d+)(?:\.\d+)?(?!\w)|(?<![\w.])\.\d+(?!\w)")
_RELATION = re.compile(r"=|≈|\\approx(?![a-zA-Z])")
_TRIES = 12


class NoCorruption(ValueError):
    """This kind of corruption does not apply to (or could not be verified on) this solution."""


@dataclass
class Corruption:
    """A corrupted solution: its steps (answer line excluded), the first wrong step and what was done."""

    steps: list[str]
    answer_line: str | None
    first_error: int
    kind: str
    detail: str


@dataclass
class PerturbReport:
    """What happened to each reference: rows made, and everything skipped or discarded, by reason."""

    tried: int = 0
    positives: int = 0
    negatives: collections.Counter = field(default_factory=collections.Counter)  # by kind
    skipped: collections.Counter = field(default_factory=collections.Counter)  # references, by reason
    discarded: collections.Counter = field(default_factory=collections.Counter)  # negative attempts, by reason

    def merge(self, other: PerturbReport) -> None:
        self.tried += other.tried
        self.positives += other.positives
        for mine, theirs in ((self.negatives, other.negatives), (self.skipped, other.skipped),
                             (self.discarded, other.discarded)):
            mine.update(theirs)


@dataclass(frozen=True)
class _Tok:
    start: int
    end: int
    text: str

    @property
    def value(self) -> Fraction:
        return Fraction(self.text.replace(",", ""))

    @property
    def decimals(self) -> int:
        return len(self.text.partition(".")[2])


def _tokens(text: str, lo: int = 0, hi: int | None = None) -> list[_Tok]:
    hi = len(text) if hi is None else hi
    return [_Tok(m.start(), m.end(), m.group()) for m in _NUMBER.finditer(text, lo, hi)]


def _format(value: Fraction, like: _Tok, decimals: int) -> str:
    """``value`` written exactly with ``decimals`` places, with thousands commas if ``like`` has them."""
    whole, frac = divmod(round(value * 10**decimals), 10**decimals)
    head = f"{whole:,}" if "," in like.text else str(whole)
    return head + (f".{frac:0{decimals}d}" if decimals else "")


def _candidates(value: Fraction, decimals: int, rng: random.Random) -> list[Fraction]:
    """Plausible wrong magnitudes for ``value`` with at most ``decimals`` places, shuffled."""
    unit = Fraction(1, 10**decimals)
    options = {value + unit, value - unit, value + 2 * unit, value + 1, value - 1, value + 10, value - 10,
               2 * value, 10 * value}
    if value.denominator == 1 and value >= 10:
        digits = str(value.numerator)
        options.add(Fraction(int(digits[::-1])))
        options.add(Fraction(value.numerator // 10))
    good = sorted(v for v in options if v > 0 and v != value and (v / unit).denominator == 1)
    rng.shuffle(good)
    return good


def _replace(text: str, edits: list[tuple[_Tok, str]]) -> str:
    for tok, new in sorted(edits, key=lambda e: e[0].start, reverse=True):
        text = text[: tok.start] + new + text[tok.end:]
    return text


def _lhs_span(step: str, claim: Claim) -> tuple[int, int] | None:
    """Character span of a claim's left side in the raw step text (annotations: inside ``<<``)."""
    if claim.kind == "annotation":
        close = step.find(">>", claim.start)
        eq = step.rfind("=", claim.start, close)
        return (claim.start + 2, eq) if close > 0 and eq > claim.start else None
    rel = _RELATION.search(step, claim.start)
    return (claim.start, rel.start()) if rel else None


def _result_start(step: str, claim: Claim) -> int | None:
    span = _lhs_span(step, claim)
    if span is None:
        return None
    rel = _RELATION.search(step, span[1])
    return rel.end() if rel else None


def _numeric_claims(step: str) -> list[Claim]:
    return [c for c in check_steps(step).claims
            if c.relation in ("=", "approx") and c.holds and c.rhs_value is not None and c.lhs_value is not None]


def _targets(step: str, annotated: bool) -> list[Claim]:
    """Claims a corruption may aim at: calculator annotations in GSM8K-style solutions, else all numeric ones."""
    claims = _numeric_claims(step)
    return [c for c in claims if c.kind == "annotation"] if annotated else claims


def _result_edit(step: str, claim: Claim) -> tuple[list[_Tok], Fraction] | None:
    """Tokens of ``step`` that state the claim's result: from the first relation of any claim with that
    result (prose and annotation state it twice), skipping left sides that compute it."""
    magnitude = abs(claim.rhs_value)  # type: ignore[arg-type]
    same = [c for c in _numeric_claims(step) if abs(c.rhs_value) == magnitude]  # type: ignore[arg-type]
    starts = [start for c in same if (start := _result_start(step, c)) is not None]
    if not starts:
        return None
    start = min(starts)
    protected = [span for c in same if (span := _lhs_span(step, c)) and len(_tokens(step, *span)) > 1]
    toks = [t for t in _tokens(step, start) if t.value == magnitude
            and not any(a <= t.start < b for a, b in protected)]
    return (toks, magnitude) if toks else None


def _corrupt_result(steps: list[str], answer: str | None, k: int, rng: random.Random, annotated: bool) -> Corruption:
    options = [(c, e) for c in _targets(steps[k], annotated) if (e := _result_edit(steps[k], c))]
    if not options:
        raise NoCorruption("no result to change")
    claim, (toks, magnitude) = rng.choice(options)
    decimals = max(t.decimals for t in toks)
    for new in _candidates(magnitude, decimals, rng)[:_TRIES]:
        step = _replace(steps[k], [(t, _format(new, t, decimals)) for t in toks])
        if check_steps(step).ok is False:
            later = [_substitute(s, magnitude, new, decimals) for s in steps[k + 1:]]
            line = _substitute(answer, magnitude, new, decimals) if answer else answer
            detail = f"result {_format(magnitude, toks[0], decimals)} -> {_format(new, toks[0], decimals)}"
            return Corruption(steps[:k] + [step] + later, line, k, "result", detail)
    raise NoCorruption("changed result still checks out")


def _substitute(text: str, old: Fraction, new: Fraction, decimals: int) -> str:
    """Carry a wrong value into a later step: every numeral equal to ``old`` becomes ``new``."""
    toks = [t for t in _tokens(text) if t.value == old]
    return _replace(text, [(t, _format(new, t, max(decimals, t.decimals))) for t in toks])


def _corrupt_operand(steps: list[str], k: int, rng: random.Random, annotated: bool) -> Corruption:
    claims = [(c, span) for c in _numeric_claims(steps[k])
              if (span := _lhs_span(steps[k], c)) and _tokens(steps[k], *span)]
    targets = [(c, span) for c, span in claims if c in _targets(steps[k], annotated)]
    if not targets:
        raise NoCorruption("no operand to change")
    claim, span = rng.choice(targets)
    values = [t.value for t in _tokens(steps[k], *span)]
    index = rng.randrange(len(values))
    twins = [_tokens(steps[k], *s) for c, s in claims]  # prose and annotation repeat the same left side
    twins = [toks for toks in twins if [t.value for t in toks] == values]
    decimals = max(toks[index].decimals for toks in twins)
    for new in _candidates(values[index], decimals, rng)[:_TRIES]:
        step = _replace(steps[k], [(toks[index], _format(new, toks[index], decimals)) for toks in twins])
        if check_steps(step).ok is False:
            old = _format(values[index], twins[0][index], decimals)
            detail = f"operand {old} -> {_format(new, twins[0][index], decimals)}"
            return Corruption(steps[:k] + [step] + steps[k + 1:], None, k, "operand", detail)
    raise NoCorruption("changed operand still checks out")


def _corrupt_drop(steps: list[str], prompt: str, k: int, annotated: bool) -> Corruption:
    if k == len(steps) - 1:
        raise NoCorruption("last step cannot be dropped")
    results = {abs(c.rhs_value) for c in _targets(steps[k], annotated)}  # type: ignore[arg-type]
    before = {t.value for text in [prompt, *steps[:k]] for t in _tokens(text)}
    for j in range(k + 1, len(steps)):
        used = {t.value for c in _numeric_claims(steps[j]) if (span := _lhs_span(steps[j], c))
                for t in _tokens(steps[j], *span)}
        hit = sorted((results & used) - before)
        if hit:
            value = hit[0]
            return Corruption(steps[:k] + steps[k + 1:], None, j - 1, "drop_step",
                              f"dropped step {k}; step {j} uses {value} from it")
        before |= {t.value for t in _tokens(steps[j])}
        results -= before
    raise NoCorruption("dropped result never used later, or known before")


def corrupt(steps: list[str], answer_line: str | None, kind: str, rng: random.Random, prompt: str = "") -> Corruption:
    """One corruption of ``kind`` at a random step with a checkable claim; raises NoCorruption.

    In a solution with calculator annotations (GSM8K) only annotated steps are corrupted, and the
    annotation is what changes (with the prose that repeats it), so the first error is exactly detectable.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown perturbation {kind!r}; choose from {', '.join(KINDS)}")
    annotated = any(c.kind == "annotation" for step in steps for c in _numeric_claims(step))
    eligible = [k for k, step in enumerate(steps) if _targets(step, annotated)]
    if not eligible:
        raise NoCorruption("no checkable claim")
    rng.shuffle(eligible)
    error = NoCorruption("no step fits")
    for k in eligible[:4]:
        try:
            if kind == "result":
                return _corrupt_result(steps, answer_line, k, rng, annotated)
            if kind == "operand":
                return _corrupt_operand(steps, k, rng, annotated)
            return _corrupt_drop(steps, prompt, k, annotated)
        except NoCorruption as failure:
            error = failure
    raise error


def _verified(c: Corruption, gold: str, after_error: AfterError) -> LabelResult:
    """Exact labels of a corruption; NoCorruption unless the first error is exactly the corrupted step."""
    steps = c.steps + ([c.answer_line] if c.answer_line else [])
    found = exact_labels(steps, gold, "zero")
    if c.kind == "drop_step":
        if 0 <= found.first_error < c.first_error:
            raise NoCorruption("an earlier step fails")
    elif found.first_error != c.first_error:
        raise NoCorruption(f"first error at {found.first_error}, not at the corrupted step")
    labels = [1.0] * c.first_error + [0.0]
    if after_error == "drop":
        return LabelResult(c.steps[: c.first_error + 1], labels, c.first_error, found.reasons[: c.first_error + 1])
    labels += [0.0] * (len(c.steps) - c.first_error - 1)
    return LabelResult(list(c.steps), labels, c.first_error, found.reasons)


def _choose_kinds(weights: dict[str, float], rng: random.Random) -> list[str]:
    """The kind to try first (by weight), then the others as fallbacks, in random order."""
    kinds = [k for k, w in weights.items() if w > 0]
    first = rng.choices(kinds, weights=[weights[k] for k in kinds])[0]
    rest = [k for k in kinds if k != first]
    rng.shuffle(rest)
    return [first, *rest]


def _reference(problem: Problem, split_mode: str, report: PerturbReport) -> tuple[LabelResult, str | None] | None:
    """Exact labels and answer line of the reference solution if usable (all correct, a claim to corrupt)."""
    try:
        steps = reference_steps(problem, split_mode)
        result = exact_labels(steps, problem.answer, "zero")
    except Unlabellable as error:
        report.skipped[str(error)] += 1
        return None
    if result.first_error >= 0:
        answer_wrong = result.answer_status in ("not_equal", "no final answer")
        why = "final answer" if answer_wrong and result.first_error == len(result.steps) - 1 else "claim fails"
        report.skipped[f"reference fails exact check ({why})"] += 1
        return None
    if not any(_numeric_claims(step) for step in result.steps):
        report.skipped["no checkable claim"] += 1
        return None
    return result, split_answer_line(steps)[1]


def perturb_problem(
    problem: Problem,
    seed: int = 0,
    negatives: int = 1,
    weights: dict[str, float] | None = None,
    after_error: AfterError = "drop",
    split_mode: str = "auto",
) -> tuple[list[StepwiseRow], PerturbReport]:
    """The reference as a positive row plus up to ``negatives`` corrupted rows, and a report."""
    report = PerturbReport(tried=1)
    found = _reference(problem, split_mode, report)
    if found is None:
        return [], report
    reference, answer_line = found
    rng = random.Random(f"{seed}/{problem.id}")
    meta = {"source": problem.source, "problem_id": problem.id, "label_method": "perturb"}
    rows = [make_row(problem.problem, reference, **meta, perturbation="none")]
    report.positives += 1
    seen: set[tuple[str, ...]] = set()
    for _ in range(negatives):
        row = _one_negative(problem, reference, answer_line, weights or DEFAULT_WEIGHTS, after_error, rng, report,
                            seen)
        if row is not None:
            rows.append(row)
    return rows, report


def _one_negative(problem: Problem, reference: LabelResult, answer_line: str | None, weights: dict[str, float],
                  after_error: AfterError, rng: random.Random, report: PerturbReport,
                  seen: set[tuple[str, ...]]) -> StepwiseRow | None:
    reasons = []
    for kind in _choose_kinds(weights, rng):
        try:
            corruption = corrupt(reference.steps, answer_line, kind, rng, problem.problem)
            labelled = _verified(corruption, problem.answer, after_error)
        except (NoCorruption, Unlabellable) as error:
            reasons.append(f"{kind}: {error}")
            continue
        key = tuple(labelled.steps)
        if key in seen:
            reasons.append(f"{kind}: duplicate")
            continue
        seen.add(key)
        report.discarded.update(reasons)
        report.negatives[kind] += 1
        return make_row(problem.problem, labelled, source=problem.source, problem_id=problem.id,
                        label_method="perturb", perturbation=kind)
    report.discarded.update(reasons)
    report.discarded["no negative made"] += 1
    return None


def perturb_problems(
    problems: Iterable[Problem],
    seed: int = 0,
    negatives: int = 1,
    weights: dict[str, float] | None = None,
    after_error: AfterError = "drop",
    split_mode: str = "auto",
) -> tuple[list[StepwiseRow], PerturbReport]:
    """Positives and corrupted negatives for every problem's reference solution, with one report."""
    rows: list[StepwiseRow] = []
    report = PerturbReport()
    for problem in problems:
        made, one = perturb_problem(problem, seed, negatives, weights, after_error, split_mode)
        rows.extend(made)
        report.merge(one)
    return rows, report
