"""Run the bad-input corpus (``tests/fixtures/badinput.py``) through every reader and print a tally.

Targets: the JSONL and record readers, the problem and stepwise loaders, ``verify``/``verify_many``,
the commands that read files (``prm verify``, ``score``, ``label``, ``bon``, ``train``; in-process via
``prm.cli.main``), ``PRMScorer.score_batch`` on a tiny PRM, and ``prm serve``'s app (``/score`` and
``/verify`` through FastAPI's test client) when ``prm/serve`` is present. Every case runs in a thread joined with
a timeout (a hang is reported, not waited for). Outcomes:

- ``ok``: accepted (loaded, scored, exit code 0); ``status``: a verdict / skip count / unparsable row;
- ``clear``: an error (exception from the project, or exit code 2 with a logged error) whose message
  names the file (or the item / pair) it is about;
- ``unclear``: an error of the right kind whose message does not say where; ``crash``: anything else
  (TypeError, KeyError, ... or a traceback out of a command); ``hang``: still running at the timeout.

    .venv/bin/python bench/bad_inputs.py [--targets read_jsonl,cli_verify] [--timeout 60] [--verbose]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [p for p in (str(REPO), str(REPO / "tests")) if p not in sys.path]

from fixtures.badinput import GOOD_PROBLEMS, HOSTILE_TEXTS, bad_files, scorer_items, verify_many_inputs, verify_pairs  # noqa: E402

OUTCOMES = ("ok", "status", "clear", "unclear", "crash", "hang")
FAST_TIMEOUT_S = 1.0


@dataclass
class Result:
    target: str
    case: str
    outcome: str
    detail: str = ""
    seconds: float = 0.0


class Env:
    """Shared material: a temp folder, a problems file, and (built on first use) a tiny PRM and backbone."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.problems = root / "good_problems.jsonl"
        self.problems.write_text("".join(json.dumps(p) + "\n" for p in GOOD_PROBLEMS), encoding="utf-8")
        self._prm: tuple[Path, Path] | None = None
        self._scorer: Any = None

    def prm(self) -> tuple[Path, Path]:
        """(backbone folder, PRM folder) of a tiny randomly initialised PRM."""
        if self._prm is None:

            from prm.model.tiny import save_tiny_backbone, save_tiny_prm

            texts = [p["problem"] + "\n" + p["solution"] for p in GOOD_PROBLEMS] * 20
            backbone = save_tiny_backbone(self.root / "backbone", texts)
            self._prm = backbone, save_tiny_prm(self.root / "prm", backbone)
        return self._prm

    def scorer(self) -> Any:
        if self._scorer is None:
            from prm.model.scoring import PRMScorer

            self._scorer = PRMScorer(self.prm()[1], device="cpu", batch_size=2)
        return self._scorer


# ---- targets: each returns (outcome, detail) or raises -------------------------------------------------------


def _loaded(items: list[Any], skipped: int = 0) -> tuple[str, str]:
    return ("status" if skipped else "ok"), f"{len(items)} loaded" + (f", {skipped} skipped" if skipped else "")


def t_read_jsonl(path: Path, env: Env) -> tuple[str, str]:
    from data.jsonl import read_jsonl

    return _loaded(list(read_jsonl(path)))


def _read_records(kind_name: str) -> Callable[[Path, Env], tuple[str, str]]:
    def target(path: Path, env: Env) -> tuple[str, str]:
        from data import records

        return _loaded(list(records.read_records(path, getattr(records, kind_name))))

    return target


def t_load_problems(path: Path, env: Env) -> tuple[str, str]:
    from data.loaders import load_problems_with_report

    problems, report = load_problems_with_report(path)
    return _loaded(problems, report.total_skipped)


def t_load_stepwise(path: Path, env: Env) -> tuple[str, str]:
    from data.stepwise import load_stepwise_with_report

    rows, report = load_stepwise_with_report(path)
    return _loaded(rows, report.total_skipped)


class CommandFailed(Exception):
    """A command returned exit code 2; the message is its logged error (or nothing)."""


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _cli(argv: list[str]) -> int:
    """``prm.cli.main(argv)`` with stdout swallowed; exit code 2 raises CommandFailed with the logged error."""
    from prm.cli import main

    capture = _Capture()
    root = logging.getLogger()
    root.addHandler(capture)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            code = main(argv)
    except SystemExit as exit_:  # argparse
        code = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        root.removeHandler(capture)
    if code == 2:
        raise CommandFailed(" | ".join(capture.messages) or "exit code 2, nothing logged")
    if code != 0:
        raise RuntimeError(f"exit code {code}")
    return code


def _verdicts(out: Path) -> tuple[str, str]:
    counts = Counter(json.loads(line).get("verdict") for line in out.read_text(encoding="utf-8").splitlines())
    return ("status" if set(counts) - {"correct"} else "ok"), dict(counts).__repr__()


def t_cli_verify(path: Path, env: Env) -> tuple[str, str]:
    out = env.root / f"{path.stem}.verified.jsonl"
    _cli(["verify", str(path), "--output", str(out), "--workers", "1", "--timeout-s", str(FAST_TIMEOUT_S)])
    return _verdicts(out)


def t_cli_score(path: Path, env: Env) -> tuple[str, str]:
    out = env.root / f"{path.stem}.scored.jsonl"
    _cli(["score", "--samples", str(path), "--prm", str(env.prm()[1]), "--output", str(out), "--problems",
          str(env.problems), "--device", "cpu", "--batch-size", "2"])
    return "ok", f"{len(out.read_text(encoding='utf-8').splitlines()) if out.exists() else 0} rows scored"


def t_cli_label_references(path: Path, env: Env) -> tuple[str, str]:
    _cli(["label", "--method", "exact", "--problems", str(path), "--output", str(env.root / f"{path.stem}.lab.jsonl")])
    return "ok", ""


def t_cli_label_samples(path: Path, env: Env) -> tuple[str, str]:
    _cli(["label", "--method", "exact", "--problems", str(env.problems), "--samples", str(path), "--output",
          str(env.root / f"{path.stem}.labs.jsonl")])
    return "ok", ""


def t_cli_bon(path: Path, env: Env) -> tuple[str, str]:
    _cli(["bon", "--samples", str(path), "--problems", str(env.problems), "--out-dir", str(env.root / "bon"),
          "--trials", "4", "--bootstrap", "10", "--workers", "1", "--timeout-s", str(FAST_TIMEOUT_S)])
    return "ok", ""


def t_cli_train(path: Path, env: Env) -> tuple[str, str]:
    _cli(["train", "--data", str(path), "--model", str(env.prm()[0]), "--out-dir", str(env.root / f"train-{path.stem}"),
          "--max-steps", "1", "--batch-size", "2", "--eval-fraction", "0", "--threads", "1", "--save-steps", "100",
          "--max-length", "256"])
    return "ok", ""


FILE_TARGETS: dict[str, Callable[[Path, Env], tuple[str, str]]] = {
    "read_jsonl": t_read_jsonl,
    "read_records:Problem": _read_records("Problem"),
    "read_records:Sample": _read_records("Sample"),
    "read_records:StepwiseRow": _read_records("StepwiseRow"),
    "load_problems": t_load_problems,
    "load_stepwise": t_load_stepwise,
    "cli_verify": t_cli_verify,
    "cli_score": t_cli_score,
    "cli_label_references": t_cli_label_references,
    "cli_label_samples": t_cli_label_samples,
    "cli_bon": t_cli_bon,
    "cli_train": t_cli_train,
}


def t_verify(pair: tuple[Any, Any], env: Env) -> tuple[str, str]:
    from verifiers import VerifyConfig, verify

    verdict = verify(pair[0], pair[1], VerifyConfig(timeout_s=FAST_TIMEOUT_S))
    return "status", f"{verdict.status.value}: {verdict.reason[:60]}"


def t_verify_many(pairs: list[Any], env: Env) -> tuple[str, str]:
    from verifiers import VerifyConfig, verify_many

    verdicts = verify_many(pairs, workers=2, config=VerifyConfig(timeout_s=FAST_TIMEOUT_S))
    return "status", ", ".join(v.status.value for v in verdicts)


def t_scorer(items: list[Any], env: Env) -> tuple[str, str]:
    scores = env.scorer().score_batch(items)
    return "ok", f"{[len(s) for s in scores]} step scores"


def _server(env: Env) -> Any:
    """A ``prm serve`` test client around the tiny PRM, made on first use (None when prm/serve is absent)."""
    if not hasattr(env, "client"):
        try:
            from fastapi.testclient import TestClient

            from prm.serve.app import create_app
            from prm.serve.schemas import ServeConfig
        except ImportError:
            env.client = None  # type: ignore[attr-defined]
            return None
        config = ServeConfig(device="cpu", timeout_s=FAST_TIMEOUT_S, workers=1)
        env.client = TestClient(create_app(config, env.scorer()))  # type: ignore[attr-defined]
    return env.client  # type: ignore[attr-defined]


def t_serve(request: tuple[str, bytes], env: Env) -> tuple[str, str]:
    """POST ``body`` to ``route``: 200 is ok, a 4xx with a JSON detail is a clear error, anything else crashes."""
    route, body = request
    response = _server(env).post(route, content=body, headers={"content-type": "application/json"})
    if response.status_code == 200:
        return "ok", response.text[:80]
    if 400 <= response.status_code < 500 and response.json().get("detail"):
        raise CommandFailed(f"HTTP {response.status_code}: {response.json()['detail']}")
    raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")


def serve_requests() -> dict[str, tuple[str, bytes]]:
    """Case -> (route, body): hostile texts in /score and /verify bodies, and every corpus file as a raw body."""
    cases = {}
    for name, text in HOSTILE_TEXTS.items():
        score = {"items": [{"problem": text, "steps": [text, "\\boxed{5}"]}, {"problem": "q", "solution": text}]}
        cases[f"score_{name}"] = ("/score", json.dumps(score).encode())
        cases[f"verify_{name}"] = ("/verify", json.dumps({"pairs": [{"gold": text, "answer": text}]}).encode())
    for name, data in bad_files().items():
        cases[f"raw_{name}"] = ("/score" if len(cases) % 2 else "/verify", data)
    return cases


def object_cases() -> list[tuple[str, str, Any, Callable[[Any, Env], tuple[str, str]]]]:
    """(target, case, payload, function) for the targets fed Python objects rather than files."""
    cases = [("serve", name, request, t_serve) for name, request in serve_requests().items()]
    cases += [("verify", name, pair, t_verify) for name, pair in verify_pairs().items()]
    cases += [("verify_many", name, pairs, t_verify_many) for name, pairs in verify_many_inputs().items()]
    cases += [("PRMScorer.score_batch", name, items, t_scorer) for name, items in scorer_items().items()]
    return cases


# ---- running and tallying ------------------------------------------------------------------------------------


def classify(error: BaseException, clue: tuple[str, ...]) -> tuple[str, str]:
    """``clear`` for a project error whose message names where (one of ``clue``), ``unclear`` without, else crash."""
    message = f"{type(error).__name__}: {error}"
    if isinstance(error, CommandFailed | ValueError | OSError) and not isinstance(error, UnicodeError):
        return ("clear" if any(c in str(error) for c in clue) else "unclear"), message[:300]
    return "crash", message[:300]


def run_one(target: str, case: str, payload: Any, function: Callable[[Any, Env], tuple[str, str]], env: Env,
            clue: tuple[str, ...], timeout_s: float) -> Result:
    """Run ``function(payload, env)`` in a daemon thread; a case still running after ``timeout_s`` is a hang."""
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["result"] = function(payload, env)
        except BaseException as error:  # noqa: BLE001 - every failure is classified
            box["error"] = error

    start = time.monotonic()
    thread = threading.Thread(target=work, name=f"bad-input {target} {case}", daemon=True)
    thread.start()
    thread.join(timeout_s)
    seconds = time.monotonic() - start
    if thread.is_alive():
        return Result(target, case, "hang", f"still running after {timeout_s:g} s", seconds)
    if "error" in box:
        return Result(target, case, *classify(box["error"], clue), seconds)
    outcome, detail = box["result"]
    return Result(target, case, outcome, detail, seconds)


def run_corpus(root: Path, targets: set[str] | None = None, timeout_s: float = 60.0,
               files: dict[str, bytes] | None = None) -> list[Result]:
    """Every corpus file through every file target, and the object cases; ``targets`` restricts both."""
    env = Env(root)
    corpus = bad_files() if files is None else files
    paths = {}
    for name, data in corpus.items():
        paths[name] = root / "cases" / f"{name}.jsonl"
        paths[name].parent.mkdir(parents=True, exist_ok=True)
        paths[name].write_bytes(data)
    results = []
    for target, function in FILE_TARGETS.items():
        if targets is None or target in targets:
            results += [run_one(target, name, path, function, env, (path.name,), timeout_s)
                        for name, path in paths.items()]
    for target, case, payload, function in object_cases():
        if targets is None or target in targets:
            if target == "serve" and _server(env) is None:
                continue  # prm/serve is not in this checkout
            results.append(run_one(target, case, payload, function, env, ("item", "pair", "HTTP 4"), timeout_s))
    return results


def tally(results: list[Result]) -> dict[str, Counter]:
    """target -> Counter of outcomes (plus ``tried``), with a ``total`` row."""
    table: dict[str, Counter] = {}
    for result in results:
        for key in (result.target, "total"):
            row = table.setdefault(key, Counter())
            row[result.outcome] += 1
            row["tried"] += 1
    if "total" in table:
        table["total"] = table.pop("total")
    return table


def markdown(table: dict[str, Counter], seconds: float) -> str:
    lines = ["| target | tried | " + " | ".join(OUTCOMES) + " |", "|---|" + "---:|" * (len(OUTCOMES) + 1)]
    for target, row in table.items():
        lines.append(f"| {target} | {row['tried']} | " + " | ".join(str(row[o]) for o in OUTCOMES) + " |")
    return "\n".join(lines) + f"\n\n{table.get('total', Counter())['tried']} cases in {seconds:.0f} s\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", help="comma-separated targets (default: all)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per case before it counts as a hang")
    parser.add_argument("--verbose", action="store_true", help="print every non-ok case with its message")
    args = parser.parse_args()
    logging.getLogger().addHandler(logging.NullHandler())  # errors are captured per case, not printed
    logging.getLogger().setLevel(logging.ERROR)
    targets = set(args.targets.split(",")) if args.targets else None
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bad-inputs-") as tmp:
        results = run_corpus(Path(tmp), targets, args.timeout)
    for result in results:
        if args.verbose and result.outcome != "ok" or result.outcome in ("unclear", "crash", "hang"):
            print(f"{result.outcome:8s} {result.target:26s} {result.case:32s} {result.seconds:5.1f}s {result.detail}")
    print(markdown(tally(results), time.monotonic() - start))
    bad = sum(r.outcome in ("unclear", "crash", "hang") for r in results)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
