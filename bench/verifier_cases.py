"""Labelled (gold, pred) pairs for ``bench/verifier.py``, in four deterministic groups.

* ``curated``: hand-written pairs from ``verifier_cases.jsonl`` (one ``{"gold", "pred", "expected",
  "category"}`` object a line), each labelled as a careful MATH grader would. Conventions: a rounded
  decimal is *not* equal to an irrational or repeating value (``1/3`` vs ``0.333``); units,
  ``\\text{}``, degree and percent signs are ignored (``10\\%`` equals ``10`` and ``0.1``); a list of
  answers is unordered, a tuple or interval ordered; a whole solution is judged by its last
  ``\\boxed{}`` (or "final answer is ...").
* ``math500-pos`` / ``math500-neg``: MATH-500 answers paired with their own reference solution, and
  with another problem's solution (fixed-seed derangement; equal only if the answers match once
  spaces are removed).
* ``simple``: generated integers and simple fractions, half equal and half not.

``python bench/verifier_cases.py`` prints a summary.
"""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "datasets"
CURATED_PATH = Path(__file__).with_name("verifier_cases.jsonl")


@dataclass(frozen=True)
class Case:
    gold: str
    pred: str
    expected: bool
    category: str
    group: str = "curated"


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def curated_cases(path: Path = CURATED_PATH) -> list[Case]:
    cases = [Case(**row, group="curated") for row in _read_jsonl(path)]
    pairs = Counter((c.gold, c.pred) for c in cases)
    if dupes := [pair for pair, n in pairs.items() if n > 1]:
        raise ValueError(f"duplicate curated pairs in {path}: {dupes!r}")
    return cases


def _derangement(n: int, seed: int) -> list[int]:
    """A permutation with no fixed point (Sattolo's algorithm: a single random n-cycle)."""
    perm = list(range(n))
    rng = random.Random(seed)
    for i in range(n - 1, 0, -1):
        j = rng.randrange(i)  # j < i, never i itself
        perm[i], perm[j] = perm[j], perm[i]
    return perm


def math500_cases(data_dir: Path, seed: int = 0) -> list[Case]:
    """Positives (own solution) and derangement negatives (another problem's solution)."""
    rows = _read_jsonl(Path(data_dir) / "math500" / "test.jsonl")
    pos = [Case(r["answer"], r["solution"], True, r.get("subject", "math500"), "math500-pos") for r in rows]
    neg = []
    for r, j in zip(rows, _derangement(len(rows), seed), strict=True):
        other = rows[j]
        same = "".join(r["answer"].split()) == "".join(other["answer"].split())
        neg.append(Case(r["answer"], other["solution"], same, r.get("subject", "math500"), "math500-neg"))
    return pos + neg


def _reduced_fraction(rng: random.Random) -> tuple[int, int]:
    while True:
        a, b = rng.randint(1, 99), rng.randint(2, 99)
        if math.gcd(a, b) == 1 and a != b + 1 and b != a:  # keep a/b, b/a, (a+1)/b distinct
            return a, b


def _decimal(a: int, b: int) -> str | None:
    """``a/b`` as an exact decimal string, or None when it does not terminate."""
    if 10**b % b:  # b terminates iff b = 2^x 5^y, and then x, y < b
        return None
    digits = next(d for d in range(b) if (a * 10**d) % b == 0)
    s = str(a * 10**digits // b).rjust(digits + 1, "0")
    return f"{s[:-digits]}.{s[-digits:]}" if digits else s


def _simple_equal(rng: random.Random) -> tuple[str, str, str]:
    kind = rng.randrange(4)
    if kind == 0:
        n = rng.randint(-999, 9999)
        return "int", str(n), str(n)
    if kind == 1:
        n = rng.randint(0, 9999)
        return "int", str(n), rng.choice([f"{n}.0", f"\\boxed{{{n}}}", f"{n}.00"])
    a, b = _reduced_fraction(rng)
    k = rng.randint(2, 9)
    sign = "-" if rng.random() < 0.2 else ""
    options = [f"{sign}{a}/{b}", f"{sign}\\frac{{{a * k}}}{{{b * k}}}", f"{sign}\\dfrac{{{a}}}{{{b}}}"]
    if (decimal := _decimal(a, b)) is not None:
        options.append(sign + decimal)
    return "frac", f"{sign}\\frac{{{a}}}{{{b}}}", rng.choice(options)


def _simple_unequal(rng: random.Random) -> tuple[str, str, str]:
    if rng.random() < 0.5:
        n = rng.randint(-999, 9999)
        m = n + rng.choice([-10, -2, -1, 1, 2, 10, 100])
        if rng.random() < 0.2 and n != 0:
            m = -n
        return "int", str(n), str(m)
    a, b = _reduced_fraction(rng)
    sign = "-" if rng.random() < 0.2 else ""
    preds = [  # inverted, numerator off by one, denominator off by one, sign flipped
        f"{sign}{b}/{a}",
        f"{sign}\\frac{{{a + 1}}}{{{b}}}",
        f"{sign}{a}/{b + 1}",
        ("" if sign else "-") + f"\\frac{{{a}}}{{{b}}}",
    ]
    return "frac", f"{sign}\\frac{{{a}}}{{{b}}}", preds[rng.randrange(4)]


def simple_cases(n: int = 1000, seed: int = 12345) -> list[Case]:
    """``n`` distinct integer / simple-fraction pairs, half equal and half not."""
    rng = random.Random(seed)
    seen: set[tuple[str, str]] = set()
    cases: list[Case] = []
    for expected, make, target in ((True, _simple_equal, n // 2), (False, _simple_unequal, n - n // 2)):
        made: list[Case] = []
        while len(made) < target:
            cat, gold, pred = make(rng)
            if (gold, pred) not in seen:
                seen.add((gold, pred))
                made.append(Case(gold, pred, expected, f"simple_{cat}", "simple"))
        cases += made
    rng.shuffle(cases)
    return cases


def warmup_pairs() -> list[tuple[str, str]]:
    """Pairs that exercise every code path but appear in no timed group (so nothing timed is cached)."""
    return [
        ("x^2+3x", "x(x+3)"),  # first: needs the full (sympy) path, so it measures start-up
        ("17", "17"),
        ("\\frac{5}{9}", "0.\\overline{5}"),
        ("\\frac{3}{7}", "6/14"),
        ("2\\frac{1}{3}", "7/3"),
        ("15\\%", "0.15"),
        ("\\sqrt{18}", "3\\sqrt{2}"),
        ("y=3x-2", "y=-2+3x"),
        ("3\\pm\\sqrt5", "3+\\sqrt5, 3-\\sqrt5"),
        ("\\{4,5\\}", "5,4"),
        ("(4,5)", "(5,4)"),
        ("(2,5]", "(2,5]"),
        ("4\\sqrt{3}", "\\sqrt{48}"),
        ("\\frac{\\pi}{4}", "\\frac{2\\pi}{8}"),
        ("\\begin{pmatrix}3\\\\4\\end{pmatrix}", "\\begin{pmatrix}3\\\\4\\end{pmatrix}"),
        ("60^\\circ", "60"),
        ("7\\text{ m}", "7"),
        ("2,500", "2500"),
        ("31_4", "31_4"),
        ("\\text{Friday}", "Friday"),
        ("1/20!", "1/21!"),
        ("\\frac{2}{5}", "So we get $\\frac{4}{10}$, and the answer is $\\boxed{\\frac{2}{5}}$."),
        ("-\\frac{3}{8}", "Therefore the slope is $\\boxed{-\\frac38}$."),
    ]


def all_cases(data_dir: Path = DEFAULT_DATA_DIR, n_simple: int = 1000, seed: int = 0) -> list[Case]:
    return curated_cases() + math500_cases(data_dir, seed) + simple_cases(n_simple, seed + 12345)


if __name__ == "__main__":
    cases = all_cases()
    print("groups:", dict(Counter(c.group for c in cases)))
    print("expected True per group:", dict(Counter(c.group for c in cases if c.expected)))
    print("curated categories:", dict(Counter(c.category for c in cases if c.group == "curated")))
