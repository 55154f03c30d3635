"""Throughput and agreement of our answer verifier (``verifiers.verify``) against math-verify.

Both verifiers see every pair of ``verifier_cases.py`` (curated table, MATH-500 positives and
derangement negatives, generated simple pairs) in one single-threaded loop, with the process pinned
to one core. Imports and a warm-up on pairs that are never timed stay outside the timed region, and
so does cache clearing: for the headline numbers every functools cache in ``verifiers.*`` is cleared
before each pair and our sympy worker is restarted before each group; math-verify gets its parse
caches cleared per pair and the sympy cache per group. A second line reports ours with warm caches,
and a table by category of the curated pairs (the kinds of real model output: LaTeX thousands, prose
answers, several boxes, relations, lists, spellings, false accepts, ...) gives each verifier's
correct count, their agreement and the time per pair.

math-verify is called as its README recommends, ``verify(parse(f"${gold}$"), parse(pred))``, with a
pred that has no math delimiter wrapped in ``$...$`` (its extractor only looks inside them).
Accuracy is against the expected labels; timeouts, unparsable answers and errors count as not equal.

    .venv/bin/python bench/verifier.py [--data-dir DIR] [--json runs/verifier_bench.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import platform
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

from verifier_cases import DEFAULT_DATA_DIR, Case, all_cases, warmup_pairs  # noqa: E402

GROUPS = ["simple", "curated", "math500-pos", "math500-neg"]
MATH_DELIMITER = re.compile(r"(?<!\\)\$|\\boxed|\\\(|\\\[")


@dataclasses.dataclass
class Runner:
    """One verifier under test; the hooks run outside the timed region."""

    name: str
    call: Callable[[str, str], tuple[bool, str]]  # (gold, pred) -> (is_equal, status)
    import_s: float
    note: str
    before_run: Callable[[], None] | None = None
    before_group: Callable[[], None] | None = None
    before_pair: Callable[[], None] | None = None
    first_call_s: float = 0.0
    warmup_s: float = 0.0


@dataclasses.dataclass
class Result:
    equal: bool
    status: str
    seconds: float


class TimeoutCounter(logging.Handler):
    """Counts (and swallows) math-verify's "Timeout during ..." warnings; it returns False on a timeout."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += "timeout" in record.getMessage().lower()


# ----------------------------------------------------------------------------- verifiers


def math_verify_runner(timeouts: TimeoutCounter) -> Runner:
    t = time.perf_counter()
    import math_verify.parser as mv_parser
    from math_verify import parse, verify
    from sympy.core.cache import clear_cache

    import_s = time.perf_counter() - t
    log = logging.getLogger("math_verify")
    log.addHandler(timeouts)
    log.propagate = False

    def call(gold: str, pred: str) -> tuple[bool, str]:
        ok = bool(verify(parse(f"${gold}$"), parse(pred if MATH_DELIMITER.search(pred) else f"${pred}$")))
        return ok, "equal" if ok else "not_equal"

    caches = [getattr(mv_parser, n) for n in ("parse_latex_cached", "parse_expr_cached") if hasattr(mv_parser, n)]

    def clear() -> None:
        for c in caches:
            c.cache_clear()

    note = f"its {len(caches)} parse caches cleared before every pair, sympy cache before every group"
    return Runner("math-verify", call, import_s, note, before_group=clear_cache, before_pair=clear)


def functools_caches(package: str) -> list[Callable]:
    """Every functools cache at module level in ``package`` (looked up late: submodules import lazily)."""
    found: dict[int, Callable] = {}
    for name, module in list(sys.modules.items()):
        if module is not None and (name == package or name.startswith(package + ".")):
            for obj in list(vars(module).values()):
                if callable(getattr(obj, "cache_clear", None)) and callable(getattr(obj, "cache_info", None)):
                    found[id(obj)] = obj
    return list(found.values())


def our_runners() -> list[Runner]:
    """Ours with every cache cleared (the headline) and ours with warm caches, default config both."""
    t = time.perf_counter()
    from verifiers import verify
    from verifiers.sandbox import get_sandbox

    import_s = time.perf_counter() - t

    def call(gold: str, pred: str) -> tuple[bool, str]:
        v = verify(gold, pred)
        return bool(v.is_equal), str(getattr(v.status, "value", v.status))

    def clear() -> None:
        for cache in functools_caches("verifiers"):
            cache.cache_clear()

    def restart_worker() -> None:
        """A fresh sympy worker (and empty caches), started and warmed on the untimed warm-up pairs."""
        get_sandbox().close()
        clear()  # else the warm-up pairs are answered from the cache and no worker starts
        for gold, pred in warmup_pairs():
            verify(gold, pred)
        clear()

    cold_note = "in-process caches cleared before every pair, sympy worker restarted before every group"
    return [
        Runner("ours", call, import_s, cold_note, before_group=restart_worker, before_pair=clear),
        Runner("ours (warm caches)", call, import_s, "caches kept across pairs", before_run=restart_worker),
    ]


# ----------------------------------------------------------------------------- timing


def safe_call(runner: Runner, gold: str, pred: str) -> tuple[bool, str]:
    try:
        return runner.call(gold, pred)
    except Exception as exc:  # a crash is a result too: report it, count it as not equal
        return False, f"error:{type(exc).__name__}"


def warm_up(runner: Runner, pairs: list[tuple[str, str]]) -> None:
    """First call (start-up) and the rest of the warm-up, each timed on its own and never reported as throughput."""
    if runner.before_run:
        runner.before_run()
    t0 = time.perf_counter()
    safe_call(runner, *pairs[0])
    t1 = time.perf_counter()
    for gold, pred in pairs[1:]:
        safe_call(runner, gold, pred)
    runner.first_call_s, runner.warmup_s = t1 - t0, time.perf_counter() - t1


def time_cases(runner: Runner, cases: list[Case]) -> list[Result]:
    """Time each pair on its own, with the runner's hooks outside the timed region."""
    results: list[Result] = []
    group = None
    for case in cases:
        if case.group != group and runner.before_group:
            runner.before_group()
        group = case.group
        if runner.before_pair:
            runner.before_pair()
        t = time.perf_counter()
        equal, status = safe_call(runner, case.gold, case.pred)
        results.append(Result(equal, status, time.perf_counter() - t))
    return results


# ----------------------------------------------------------------------------- report


def summary(cases: list[Case], results: list[Result]) -> dict:
    seconds = sum(r.seconds for r in results)
    correct = sum(r.equal == c.expected for c, r in zip(cases, results, strict=True))
    return {"n": len(cases), "seconds": seconds, "pairs_per_s": len(cases) / seconds, "accuracy": correct / len(cases)}


def fmt_rate(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:,.1f}"


def short(text: str, width: int) -> str:
    text = text.replace("\n", " ").replace("|", "\\|")
    if len(text) <= width:
        return text
    if "\\boxed" in text or len(text) > 3 * width:  # a whole solution: the end holds the answer
        return "…" + text[-(width - 1) :]
    return text[: width - 1] + "…"


def print_setup(runners: list[Runner]) -> None:
    print("\nSet-up, outside the timed region (import in this process; first call = start-up):\n")
    print("| verifier | import s | first call s | rest of warm-up s | notes |")
    print("| --- | ---: | ---: | ---: | --- |")
    for r in runners:
        print(f"| {r.name} | {r.import_s:.2f} | {r.first_call_s:.3f} | {r.warmup_s:.3f} | {r.note} |")


def print_groups(cases: list[Case], results: dict[str, list[Result]]) -> dict[str, dict]:
    """The headline table: pairs/s, ratio and accuracy per group and overall."""
    print("\n## Throughput and agreement (one core, accuracy vs expected labels)\n")
    print("| group | n | ours pairs/s | math-verify pairs/s | ratio | ours accuracy | math-verify accuracy |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    rows: dict[str, dict] = {}
    for group in [*GROUPS, "overall"]:
        idx = [i for i, c in enumerate(cases) if group == "overall" or c.group == group]
        sub = [cases[i] for i in idx]
        ours, mv = (summary(sub, [results[name][i] for i in idx]) for name in ("ours", "math-verify"))
        ratio = ours["pairs_per_s"] / mv["pairs_per_s"]
        rows[group] = {"ours": ours, "math-verify": mv, "ratio": ratio}
        print(
            f"| {f'**{group}**' if group == 'overall' else group} | {len(idx)} | {fmt_rate(ours['pairs_per_s'])} | "
            f"{fmt_rate(mv['pairs_per_s'])} | {ratio:.1f}x | {ours['accuracy']:.1%} | {mv['accuracy']:.1%} |"
        )
    warm = summary(cases, results["ours (warm caches)"])
    print(f"\nours (warm caches): overall {fmt_rate(warm['pairs_per_s'])} pairs/s, accuracy {warm['accuracy']:.1%}")
    rows["overall"]["ours (warm caches)"] = warm
    return rows


def print_targets(rows: dict[str, dict]) -> None:
    overall, simple_rate = rows["overall"], rows["simple"]["ours"]["pairs_per_s"]
    ours_acc, mv_acc = overall["ours"]["accuracy"], overall["math-verify"]["accuracy"]
    verdict = {True: "PASS", False: "FAIL"}
    print("\n## Targets\n")
    print(f"- ours >= 2x math-verify throughput (overall): {overall['ratio']:.2f}x -> {verdict[overall['ratio'] >= 2]}")
    print(f"- equal or better agreement (overall): {ours_acc:.1%} vs {mv_acc:.1%} -> {verdict[ours_acc >= mv_acc]}")
    print(f"- >= 1,000 simple pairs/s on one core: {fmt_rate(simple_rate)} -> {verdict[simple_rate >= 1000]}")


def print_categories(cases: list[Case], results: dict[str, list[Result]]) -> None:
    by_category: dict[str, list[int]] = {}
    for i, c in enumerate(cases):
        if c.group == "curated":
            by_category.setdefault(c.category, []).append(i)
    print("\nCurated table by category (correct vs expected, and the time per pair; caches cleared):\n")
    print("| category | n | ours | math-verify | agree | ours ms/pair | math-verify ms/pair | speed ratio |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    names = ("ours", "math-verify")
    for category, idx in by_category.items():
        ours, mv = (sum(results[name][i].equal == cases[i].expected for i in idx) for name in names)
        agree = sum(results["ours"][i].equal == results["math-verify"][i].equal for i in idx)
        ours_ms, mv_ms = (1000 * sum(results[name][i].seconds for i in idx) / len(idx) for name in names)
        print(f"| {category} | {len(idx)} | {ours}/{len(idx)} | {mv}/{len(idx)} | {agree}/{len(idx)} | "
              f"{ours_ms:.2f} | {mv_ms:.2f} | {mv_ms / max(ours_ms, 1e-9):.1f}x |")


def print_disagreements(cases: list[Case], results: dict[str, list[Result]]) -> list[dict]:
    """Every pair where ours or math-verify disagrees with the expected label."""
    rows = []
    for i, (c, ours, mv) in enumerate(zip(cases, results["ours"], results["math-verify"], strict=True)):
        if ours.equal != c.expected or mv.equal != c.expected:
            rows.append(
                {**dataclasses.asdict(c), "index": i, "ours": ours.status, "math_verify": mv.equal}
                | {"ours_wrong": ours.equal != c.expected, "math_verify_wrong": mv.equal != c.expected}
            )
    n_ours, n_mv = sum(r["ours_wrong"] for r in rows), sum(r["math_verify_wrong"] for r in rows)
    print(
        f"\nCases where a verifier disagrees with the expected label (ours wrong: {n_ours}, "
        f"math-verify wrong: {n_mv}; the wrong side is marked **):\n"
    )
    print("| # | group | category | gold | pred | expected | ours | math-verify |")
    print("| ---: | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        ours = f"**{r['ours']}**" if r["ours_wrong"] else r["ours"]
        mv = f"**{r['math_verify']}**" if r["math_verify_wrong"] else str(r["math_verify"])
        print(
            f"| {r['index']} | {r['group']} | {r['category']} | `{short(r['gold'], 40)}` | "
            f"`{short(r['pred'], 70)}` | {r['expected']} | {ours} | {mv} |"
        )
    return rows


# ----------------------------------------------------------------------------- main


def pin_one_core() -> int | None:
    """Pin this process (and the workers it starts) to one CPU; return it, or None if unsupported."""
    try:
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return cpu
    except (AttributeError, OSError):
        return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Benchmark our answer verifier against math-verify.")
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="holds math500/test.jsonl")
    ap.add_argument("--json", type=Path, default=None, help="also write every result here")
    args = ap.parse_args(argv)

    cpu = pin_one_core()
    cases = all_cases(args.data_dir)
    warm = warmup_pairs()
    pairs = [(c.gold, c.pred) for c in cases]
    if timed := set(warm) & set(pairs):
        raise SystemExit(f"warm-up pairs must not be timed: {sorted(timed)}")

    print("# Verifier benchmark: ours vs math-verify\n")
    pin = f"pinned to CPU {cpu}" if cpu is not None else "not pinned"
    print(f"- python {platform.python_version()} on {platform.machine()}, {pin}")
    counts = ", ".join(f"{g}={sum(c.group == g for c in cases)}" for g in GROUPS)
    repeated = len(pairs) - len(set(pairs))
    print(f"- {len(cases)} pairs ({counts}); {repeated} repeated; {len(warm)} warm-up pairs, none timed")

    timeouts = TimeoutCounter()
    runners = [math_verify_runner(timeouts), *our_runners()]
    results: dict[str, list[Result]] = {}
    for runner in runners:
        print(f"timing {runner.name} ...", file=sys.stderr, flush=True)
        warm_up(runner, warm)
        before = timeouts.count
        results[runner.name] = time_cases(runner, cases)
        if runner.name == "math-verify":
            runner.note += f"; {timeouts.count - before} timeouts in the timed run"

    print_setup(runners)
    rows = print_groups(cases, results)
    print_targets(rows)
    print_categories(cases, results)
    disagreements = print_disagreements(cases, results)

    if args.json:
        per_case = [
            dataclasses.asdict(c) | {name: dataclasses.asdict(res[i]) for name, res in results.items()}
            for i, c in enumerate(cases)
        ]
        setup = [{k: v for k, v in vars(r).items() if not callable(v)} for r in runners]
        payload = {"python": platform.python_version(), "pinned_cpu": cpu, "setup": setup, "groups": rows}
        payload |= {"disagreements": disagreements, "cases": per_case}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=1), encoding="utf-8")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
