"""The search sweep: best-of-N, beam search and DVTS at several budgets, guided by the PRM, by the PRM's last step
(the PRM read as an outcome model) and by the learned ORM, then ``prm search compare``. One command, resumable.

    python bench/search_sweep.py --quickstart runs/quickstart --out-dir runs/search-sweep [--ns 4,16,64]
        [--problems FILE] [--limit 200] [--backend vllm]

The policy, PRM, ORM and (by default) test problems are the quickstart's; ``--problems`` searches other
problems with the same models (e.g. deeper ones from ``prm data synth --steps 4``). One policy engine and one
load of each scorer serve every run; each run is a ``prm search`` output (``OUT/<label>-n<N>.jsonl``, with its
settings beside it), so a killed sweep resumes where it stopped. The runs:

- ``bon``: best-of-N (PRM ``min`` scores, plus the ORM's scores for ORM best-of-N);
- ``beam-prm``: beam search guided by the PRM, partial solutions scored by ``min`` over their steps;
- ``beam-prm-last``: the same with ``last`` (the control: the PRM used as an outcome model of the prefix);
- ``beam-orm``: beam search guided by the learned ORM (``last``; the control the mission asks for);
- ``dvts-prm``: DVTS guided by the PRM (``min``).

Then ``prm search compare`` over every run in the folder (this invocation's and earlier ones'), with the
quickstart's 16 test samples per problem as the pool for the difficulty bins, writes ``OUT/compare/``
(Markdown, JSON, PNGs).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data.loaders import load_problems  # noqa: E402
from prm.cli import main as prm_main  # noqa: E402
from prm.commands.search import Models, SearchCommandConfig, build_policy, open_journal, search_into  # noqa: E402
from prm.model.formats import load_scorer  # noqa: E402

# label -> (strategy, guide: "prm" or "orm", aggregation)
RUNS = {
    "bon": ("best_of_n", "prm", "min"),
    "beam-prm": ("beam", "prm", "min"),
    "beam-prm-last": ("beam", "prm", "last"),
    "beam-orm": ("beam", "orm", "last"),
    "dvts-prm": ("dvts", "prm", "min"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quickstart", default="runs/quickstart", help="a finished prm quickstart folder")
    parser.add_argument("--out-dir", default="runs/search-sweep")
    parser.add_argument("--problems", default=None, help="default: the quickstart's test problems")
    parser.add_argument("--pool", default=None, help="samples for the difficulty bins (default: the quickstart's "
                                                     "scored test samples when --problems is not given)")
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--ns", default="4,16,64")
    parser.add_argument("--beam-width", type=int, default=4)
    parser.add_argument("--runs", default=",".join(RUNS), help=f"subset of {', '.join(RUNS)}")
    parser.add_argument("--max-new-tokens", type=int, default=320)
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    root, out = Path(args.quickstart), Path(args.out_dir)
    problems_file = args.problems or str(root / "data" / "test.jsonl")
    pool = args.pool or (None if args.problems else str(root / "scored" / "test.jsonl"))
    base = SearchCommandConfig(model=str(root / "policy"), prm=str(root / "prm"), problems=problems_file,
                               limit=args.limit, output=None, n=4, beam_width=args.beam_width,
                               max_new_tokens=args.max_new_tokens, backend=args.backend, seed=args.seed,
                               batch_problems=50, threads=0)
    problems = load_problems(problems_file, limit=args.limit)
    guides = {"prm": str(root / "prm"), "orm": str(root / "orm")}
    scorers = {name: load_scorer(path, batch_size=16) for name, path in guides.items()}
    sampler = build_policy(base)
    outputs: list[str] = []
    try:
        for label in args.runs.split(","):
            strategy, guide, aggregation = RUNS[label]
            for n in (int(v) for v in args.ns.split(",")):
                output = out / f"{label}-n{n}.jsonl"
                config = dataclasses.replace(base, strategy=strategy, prm=guides[guide], aggregation=aggregation,
                                             n=n, output=str(output), orm=guides["orm"] if label == "bon" else None)
                models = Models(sampler, scorers[guide], scorers["orm"] if config.orm else None)
                start = time.perf_counter()
                with open_journal(config) as journal:
                    totals = search_into(config, problems, journal, models)
                print(f"{label} n={n}: {int(totals['problems'])} problems searched in "
                      f"{time.perf_counter() - start:.0f} s -> {output}", flush=True)
                outputs.append(f"{label}={output}")
    finally:
        sampler.close()
    # every run in the folder, also those of earlier invocations (another --runs or --ns)
    found = sorted(f"{path.stem.rsplit('-n', 1)[0]}={path}" for path in out.glob("*-n*.jsonl")
                   if path.stem.rsplit("-n", 1)[0] in RUNS)
    compare = ["search", "compare", "--runs", ",".join(found or outputs), "--problems", problems_file,
               "--out-dir", str(out / "compare"), "--seed", str(args.seed)]
    raise SystemExit(prm_main(compare + (["--pool", pool] if pool else [])))


if __name__ == "__main__":
    main()
