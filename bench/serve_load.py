"""Load test of ``prm serve`` on loopback: the gain from dynamic batching, and a mixed load of valid, hostile
and malformed requests.

Builds a tiny PRM in a temporary folder and starts ``prm serve`` as a subprocess.

``--mode batching`` (default): for each ``--clients`` count, threads send one-solution ``/score`` requests for
``--seconds``; then the same with ``--max-batch 1`` (one solution per forward pass). Prints requests/s,
p50/p99 latency, the mean batch size the server formed, and the ratio of the two throughputs; fails if any
request went unanswered or the server's count of answered requests differs from the clients' count.

``--mode mix``: one server; for each ``--clients`` count in turn, that many threads send a seeded random
mix (``--mix``) of valid /score, valid /verify, hostile /verify (sympy past the deadline) and malformed
requests for ``--seconds``, while the server's memory and sandbox workers are sampled. Prints Markdown
tables (per N: sent / answered / lost / answered twice, p50/p99 per kind, HTTP statuses and verdicts,
memory and workers over time) and PASS or FAIL (``serve_load_mix_run.py`` says what fails).

    .venv/bin/python bench/serve_load.py --seconds 20 --clients 32
    .venv/bin/python bench/serve_load.py --mode mix --clients 1,8,32 --seconds 600
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

from serve_load_mix import KINDS  # noqa: E402
from serve_load_mix_run import run_mix  # noqa: E402

from data.synth import generate_problems  # noqa: E402
from prm.serve.client import RewardClient  # noqa: E402
from prm.serve.metrics import percentile  # noqa: E402


def build_prm(folder: Path, hidden: int, layers: int) -> str:
    from prm.model.tiny import save_tiny_backbone, save_tiny_prm

    problems = generate_problems(64, seed=1, split="train")
    texts = [p.problem + "\n" + (p.solution or "") for p in problems]
    backbone = save_tiny_backbone(folder / "backbone", texts, hidden=hidden, layers=layers)
    return str(save_tiny_prm(folder / "prm", backbone, head_std=0.5))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(prm: str, max_batch: int, max_wait_ms: float, threads: int, extra: Sequence[str] = (),
                 env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [sys.executable, "-m", "prm.cli", "--log-level", "WARNING", "serve", "--prm", prm, "--port", str(port),
               "--max-batch", str(max_batch), "--max-wait-ms", str(max_wait_ms), "--threads", str(threads),
               "--device", "cpu", *extra]
    process = subprocess.Popen(command, cwd=Path(__file__).resolve().parents[1], env=os.environ | (env or {}))
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            RewardClient(url, timeout=2, retries=0).health()
            return process, url
        except ConnectionError:
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}") from None
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("server did not start")


def load(url: str, items: list[dict], clients: int, seconds: float) -> dict:
    """``clients`` threads sending one-item /score requests until ``seconds`` have passed."""
    client = RewardClient(url, timeout=60, retries=0)
    latencies: list[list[float]] = [[] for _ in range(clients)]
    sent, failed = [0] * clients, [0] * clients
    stop = time.monotonic() + seconds

    def worker(index: int) -> None:
        rng = random.Random(index)
        while time.monotonic() < stop:
            sent[index] += 1
            start = time.perf_counter()
            try:
                results = client.score([rng.choice(items)])
                if len(results) != 1 or not results[0]["step_scores"]:
                    raise ValueError(f"bad reply {results!r}")
            except Exception as error:  # noqa: BLE001 - counted as dropped, reported below
                failed[index] += 1
                print(f"client {index}: {error}", file=sys.stderr)
                continue
            latencies[index].append(time.perf_counter() - start)

    begin = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - begin
    done = [x for per_client in latencies for x in per_client]
    metrics = client.metrics()
    answered = sum(r["count"] for r in metrics["requests"] if r["endpoint"] == "/score" and r["status"] == 200)
    return {"sent": sum(sent), "ok": len(done), "failed": sum(failed), "server_ok": answered,
            "rps": len(done) / elapsed, "p50_ms": 1000 * percentile(done, 50), "p99_ms": 1000 * percentile(done, 99),
            "mean_batch": metrics["batches"]["mean_size"], "max_batch_seen": metrics["batches"]["max_size"]}


def run_one(prm: str, items: list[dict], args: argparse.Namespace, clients: int, max_batch: int) -> dict:
    process, url = start_server(prm, max_batch, args.max_wait_ms, args.threads)
    try:
        load(url, items, min(clients, 4), 1.0)  # warm-up (not counted: metrics are differenced below)
        warm = RewardClient(url).metrics()
        warm_ok = sum(r["count"] for r in warm["requests"] if r["endpoint"] == "/score" and r["status"] == 200)
        result = load(url, items, clients, args.seconds)
        result["server_ok"] -= warm_ok
        after = RewardClient(url).metrics()["batches"]
        result["mean_batch"] = (after["items"] - warm["batches"]["items"]) / (after["count"] - warm["batches"]["count"])
        result["model_busy"] = (after["busy_s"] - warm["batches"]["busy_s"]) / args.seconds
        return result
    finally:
        process.terminate()
        process.wait(30)


def run_batching(prm: str, items: list[dict], args: argparse.Namespace, clients: int) -> None:
    batched = run_one(prm, items, args, clients, args.max_batch)
    single = run_one(prm, items, args, clients, 1)
    print(f"{clients} clients x {args.seconds:g} s, tiny PRM (hidden {args.hidden}, {args.layers} layers), "
          f"server torch threads {args.threads}, loopback")
    print("| server | requests/s | p50 ms | p99 ms | mean batch | max batch | model busy | sent | answered | failed |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, r in ((f"max-batch {args.max_batch}, wait {args.max_wait_ms:g} ms", batched), ("max-batch 1", single)):
        print(f"| {name} | {r['rps']:.1f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['mean_batch']:.2f} | "
              f"{r['max_batch_seen']} | {100 * r['model_busy']:.0f}% | {r['sent']} | {r['ok']} | {r['failed']} |")
    print(f"batching gain (throughput ratio): {batched['rps'] / single['rps']:.2f}x")
    for r in (batched, single):
        assert r["failed"] == 0 and r["ok"] == r["sent"], f"dropped requests: {r}"
        assert r["server_ok"] == r["ok"], f"server answered {r['server_ok']} but clients got {r['ok']}"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("batching", "mix"), default="batching")
    parser.add_argument("--seconds", type=float, default=20.0, help="per client count (and per server in batching)")
    parser.add_argument("--clients", default="32", help="client counts, run in turn: 1,8,32")
    parser.add_argument("--max-batch", type=int, default=32)
    parser.add_argument("--max-wait-ms", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads in the server")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    mix = parser.add_argument_group("mix mode")
    mix.add_argument("--mix", default="score=4,verify=3,hostile=1,malformed=2", help="weights of the request kinds")
    mix.add_argument("--seed", type=int, default=0)
    mix.add_argument("--workers", type=int, default=2, help="server --workers (and its sandbox size)")
    mix.add_argument("--timeout-s", type=float, default=3.0, help="server --timeout-s")
    mix.add_argument("--max-body-bytes", type=int, default=256 << 10, help="server --max-body-bytes")
    mix.add_argument("--warmup-s", type=float, default=5.0, help="2 clients before the first phase, not counted")
    mix.add_argument("--sample-s", type=float, default=1.0, help="memory / worker sampling period")
    mix.add_argument("--memory-rows", type=int, default=5, help="rows per N in the memory table")
    args = parser.parse_args()
    args.clients = [int(n) for n in args.clients.split(",")]
    weights = dict(part.split("=") for part in args.mix.split(","))
    unknown = set(weights) - set(KINDS)
    if unknown:
        parser.error(f"--mix: unknown kinds {sorted(unknown)}; known: {', '.join(KINDS)}")
    args.weights = [float(weights.get(kind, 0)) for kind in KINDS]
    return args


def main() -> int:
    args = parse_args()
    problems = generate_problems(200, seed=7, split="test")
    items = [{"problem": p.problem, "solution": p.solution} for p in problems]
    with tempfile.TemporaryDirectory() as tmp:
        prm = build_prm(Path(tmp), args.hidden, args.layers)
        if args.mode == "mix":
            return run_mix(prm, items, args, start_server)
        for clients in args.clients:
            run_batching(prm, items, args, clients)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
