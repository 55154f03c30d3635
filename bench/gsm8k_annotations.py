"""Check every GSM8K calculator annotation (and the prose equations around them) with check_steps.

Usage: python bench/gsm8k_annotations.py [--data-dir DIR] [--show N]

DIR holds GSM8K's train.jsonl and test.jsonl (one {"question", "answer"} object per line); it defaults
to ../shared/datasets/gsm8k next to the repository. Prints, per split and in total: annotations found
(against the number of ``<<`` in the text), the share that hold exactly, the share that hold only with
rounding, failures, and the first N failing annotations and prose equations with their context.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "gsm8k"


def _context(text: str, start: int, length: int, pad: int = 50) -> str:
    return text[max(0, start - pad):start + length + pad].replace("\n", " | ")


def check_split(path: Path, counts: Counter, failures: list[tuple[str, str, str]]) -> None:
    from verifiers.steps import check_steps

    with path.open(encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            answer = json.loads(line)["answer"]
            counts["solutions"] += 1
            counts["markers"] += answer.count("<<")
            for claim in check_steps(answer).claims:
                kind = "annotation" if claim.kind == "annotation" else "prose"
                counts[f"{kind}"] += 1
                if claim.holds:
                    counts[f"{kind}_rounded" if claim.rounded else f"{kind}_exact"] += 1
                    continue
                counts[f"{kind}_failed"] += 1
                context = _context(answer, claim.start, len(claim.text))
                failures.append((kind, f"{path.name}:{line_no}", f"{claim.text!r}  in  ...{context}..."))


def _share(part: int, whole: int) -> str:
    return f"{part:6d}  ({100 * part / whole:.3f}%)" if whole else f"{part:6d}"


def report(name: str, c: Counter) -> None:
    print(f"== {name}: {c['solutions']} solutions")
    print(f"  annotations found        {c['annotation']:6d}  (`<<` markers in the text: {c['markers']})")
    print(f"  hold exactly             {_share(c['annotation_exact'], c['annotation'])}")
    print(f"  hold only with rounding  {_share(c['annotation_rounded'], c['annotation'])}")
    print(f"  fail                     {_share(c['annotation_failed'], c['annotation'])}")
    print(f"  prose equations found    {c['prose']:6d}; hold exactly {c['prose_exact']}, with rounding "
          f"{c['prose_rounded']}, fail {c['prose_failed']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA, help="folder with train.jsonl, test.jsonl")
    parser.add_argument("--show", type=int, default=15, help="failures of each kind to print")
    args = parser.parse_args(argv)
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    splits = [args.data_dir / f"{split}.jsonl" for split in ("train", "test")]
    missing = [str(p) for p in splits if not p.exists()]
    if missing:
        print(f"GSM8K files not found: {', '.join(missing)} (pass --data-dir)", file=sys.stderr)
        return 2
    total: Counter = Counter()
    failures: list[tuple[str, str, str]] = []
    started = time.perf_counter()
    for path in splits:
        counts: Counter = Counter()
        check_split(path, counts, failures)
        report(path.stem, counts)
        total.update(counts)
    report("train + test", total)
    print(f"  ({time.perf_counter() - started:.1f} s)")
    for kind in ("annotation", "prose"):
        shown = [f for f in failures if f[0] == kind]
        print(f"\nFirst {min(args.show, len(shown))} of {len(shown)} failing {kind} claims:")
        for _, where, what in shown[:args.show]:
            print(f"  {where}: {what}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
