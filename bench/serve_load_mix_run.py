"""Mixed-load phases on one ``prm serve`` process (``bench/serve_load.py --mode mix``), the monitor of its
memory and sandbox workers, the Markdown report and the pass/fail verdict.

For each client count N in turn, N threads send a seeded random mix of the requests of
``serve_load_mix.py`` for ``--seconds``; a sampler reads VmRSS of the server and of its child processes
(the sympy sandbox workers) and counts the live children every ``--sample-s``. The run fails on any lost
request, a request answered twice, a 5xx, a valid request not answered 200, a malformed one not 4xx, a
hostile check that is not a ``timeout`` verdict within timeout + 1 s, a server request count (``/metrics``)
that differs from the clients' count, more live workers than ``--workers``, workers not back to
``--workers`` after the load, or the server's memory growing through a phase.
"""

from __future__ import annotations

import argparse
import random
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from serve_load_mix import FAILING, KINDS, Payload, exchange, judge, make_pools

from prm.serve.client import RewardClient
from prm.serve.metrics import ENDPOINTS, percentile

GROWTH_MB, GROWTH_FRACTION = 32.0, 0.10  # a phase's memory "grows" past both (last third vs first third)


@dataclass
class Sample:
    t: float
    clients: int  # the phase (0: warm-up and after)
    server_mb: float  # VmRSS of the server process
    workers_mb: float  # VmRSS of its live children summed
    workers: int  # live (not zombie) children: the sandbox workers
    threads: int


def _proc_status(pid: int) -> dict[str, str]:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    return {key: value.strip() for key, _, value in (line.partition(":") for line in text.splitlines())}


def _mib(status: dict[str, str]) -> float:
    return int(status.get("VmRSS", "0 kB").split()[0]) / 1024


def live_children(pid: int) -> list[int]:
    """Children of ``pid`` that are not zombies (scanning /proc/*/stat)."""
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if len(fields) > 1 and fields[1] == str(pid) and fields[0] != "Z":
                children.append(int(entry.name))
    return children


class Monitor:
    """Samples the server's memory and workers on a thread every ``interval`` seconds."""

    def __init__(self, pid: int, interval: float) -> None:
        self.pid, self.interval, self.clients = pid, interval, 0
        self.samples: list[Sample] = []
        self._begin = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="monitor", daemon=True)

    def sample(self) -> Sample:
        server, children = _proc_status(self.pid), live_children(self.pid)
        workers_mb = sum(_mib(_proc_status(child)) for child in children)
        return Sample(time.monotonic() - self._begin, self.clients, _mib(server), workers_mb, len(children),
                      int(server.get("Threads", "0")))

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.samples.append(self.sample())

    def __enter__(self) -> Monitor:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Record:
    rid: str
    payload: Payload
    status: int | None
    seconds: float
    responses: int
    problem: str | None  # a FAILING or NOTES category
    detail: str  # the verdict label, or the error


def endpoint(path: str) -> str:
    return path if path in ENDPOINTS else "other"


def run_clients(url: str, pools: dict[str, list[Payload]], weights: list[float], clients: int, seconds: float,
                seed: int, timeout_s: float) -> tuple[list[Record], float]:
    """``clients`` threads sending the seeded mix for ``seconds``; every exchange's record, and the wall time."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    records: list[list[Record]] = [[] for _ in range(clients)]
    stop = time.monotonic() + seconds
    client_timeout = max(60.0, 10 * timeout_s)

    def client(index: int) -> None:
        rng = random.Random(f"{seed}-{clients}-{index}")
        while time.monotonic() < stop:
            payload = rng.choice(pools[rng.choices(KINDS, weights)[0]])
            rid = f"n{clients}-c{index}-r{len(records[index])}"
            start = time.perf_counter()
            reply = exchange(host, port, payload, rid, client_timeout)
            elapsed = time.perf_counter() - start
            problem, detail = judge(payload, reply, elapsed, timeout_s)
            records[index].append(Record(rid, payload, reply.status, elapsed, reply.responses, problem, detail))

    begin = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,), name=f"client-{i}") for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [r for per_client in records for r in per_client], time.perf_counter() - begin


def server_counts(url: str) -> Counter[tuple[str, int]]:
    """The server's answered requests by (endpoint, status), /metrics and /health left out."""
    rows = RewardClient(url, timeout=30, retries=2).metrics()["requests"]
    return Counter({(r["endpoint"], r["status"]): r["count"] for r in rows
                    if r["endpoint"] not in ("/metrics", "/health")})


def run_phase(url: str, pools: dict[str, list[Payload]], args: argparse.Namespace, clients: int,
              seconds: float) -> dict:
    before = server_counts(url)
    records, elapsed = run_clients(url, pools, args.weights, clients, seconds, args.seed, args.timeout_s)
    server = server_counts(url)
    server.subtract(before)
    client = Counter((endpoint(r.payload.path), r.status) for r in records if r.status is not None)
    ids = Counter(r.rid for r in records)
    return {"clients": clients, "elapsed": elapsed, "records": records, "server": +server, "client": client,
            "duplicate_ids": sum(n - 1 for n in ids.values())}


def wait_for_workers(monitor: Monitor, workers: int, seconds: float = 20.0) -> int:
    """Live workers once the load is over (waits up to ``seconds`` for replacements to finish starting)."""
    end = time.monotonic() + seconds
    while (count := monitor.sample().workers) != workers and time.monotonic() < end:
        time.sleep(0.5)
    return count


def run_mix(prm: str, problems: list[dict[str, str]], args: argparse.Namespace,
            start_server: Callable[..., tuple]) -> int:
    """Warm up, run every client count of ``args.clients`` on one server, print the report; 1 on failure."""
    pools = make_pools(problems, args.seed, args.max_body_bytes)
    extra = ["--workers", str(args.workers), "--timeout-s", str(args.timeout_s),
             "--max-body-bytes", str(args.max_body_bytes)]
    process, url = start_server(prm, args.max_batch, args.max_wait_ms, args.threads, extra,
                                {"PRM_MATH_SYMPY_WORKERS": str(args.workers)})
    try:
        with Monitor(process.pid, args.sample_s) as monitor:
            run_clients(url, pools, args.weights, 2, args.warmup_s, args.seed + 1, args.timeout_s)  # not counted
            phases = []
            for clients in args.clients:
                monitor.clients = clients
                phases.append(run_phase(url, pools, args, clients, args.seconds))
            monitor.clients = 0
            settled = wait_for_workers(monitor, args.workers)
    finally:
        process.terminate()
        process.wait(30)
    return print_report(phases, monitor.samples, settled, args)


def memory_growth(samples: list[Sample]) -> float | None:
    """MiB the server's RSS grew through a phase: median of its last third minus that of its first third."""
    if len(samples) < 6:
        return None
    third = len(samples) // 3
    return statistics.median(s.server_mb for s in samples[-third:]) - statistics.median(
        s.server_mb for s in samples[:third])


def failures(phases: list[dict], samples: list[Sample], settled: int, workers: int) -> list[str]:
    """Every reason the run fails (empty: pass)."""
    found = []
    for phase in phases:
        n = phase["clients"]
        problems = Counter(r.problem for r in phase["records"] if r.problem in FAILING)
        for problem, count in sorted(problems.items()):
            first = next(r for r in phase["records"] if r.problem == problem)
            found.append(f"N={n}: {count} {problem} (first: {first.payload.kind} {first.payload.name} "
                         f"{first.rid}: {first.detail} in {first.seconds:.2f} s)")
        if phase["server"] != phase["client"]:
            found.append(f"N={n}: server counted {dict(phase['server'])}, clients got {dict(phase['client'])}")
        if phase["duplicate_ids"]:
            found.append(f"N={n}: {phase['duplicate_ids']} request ids used twice")
        mine = [s for s in samples if s.clients == n]
        growth = memory_growth(mine)
        if growth is not None and growth > max(GROWTH_MB, GROWTH_FRACTION * mine[0].server_mb):
            found.append(f"N={n}: server memory grew {growth:.0f} MiB through the phase")
        if mine and max(s.workers for s in mine) > workers:
            found.append(f"N={n}: {max(s.workers for s in mine)} live workers > --workers {workers}")
    if settled != workers:
        found.append(f"{settled} live workers after the load, expected {workers}")
    return found


def latency_ms(records: list[Record], q: float) -> str:
    value = percentile([r.seconds for r in records], q)
    return "-" if value is None else f"{1000 * value:.0f}"


def _tally(values: list[str]) -> str:
    return ", ".join(f"{value} x{count}" for value, count in sorted(Counter(values).items())) or "-"


def _overview(phases: list[dict], samples: list[Sample]) -> None:
    print("| N | s | sent | answered | lost | twice | req/s | 5xx | server count = clients' | server RSS MiB "
          "first > last (max) | growth MiB | workers RSS MiB max | live workers min-max | server threads max |")
    print("|" + "---|" * 14)
    for phase in phases:
        records, n = phase["records"], phase["clients"]
        answered = [r for r in records if r.status is not None]
        mine = [s for s in samples if s.clients == n] or [Sample(0, n, 0, 0, 0, 0)]
        growth = memory_growth(mine)
        print(f"| {n} | {phase['elapsed']:.0f} | {len(records)} | {len(answered)} | {len(records) - len(answered)} | "
              f"{sum(r.problem == 'twice' for r in records)} | {len(answered) / phase['elapsed']:.1f} | "
              f"{sum(r.status is not None and r.status >= 500 for r in records)} | "
              f"{'yes' if phase['server'] == phase['client'] else 'NO'} | {mine[0].server_mb:.0f} > "
              f"{mine[-1].server_mb:.0f} ({max(s.server_mb for s in mine):.0f}) | "
              f"{'-' if growth is None else f'{growth:+.0f}'} | {max(s.workers_mb for s in mine):.0f} | "
              f"{min(s.workers for s in mine)}-{max(s.workers for s in mine)} | {max(s.threads for s in mine)} |")


def _latency(phases: list[dict]) -> None:
    print("| N | kind | requests | p50 ms | p99 ms | max ms | HTTP status | verdicts / problems |")
    print("|" + "---|" * 8)
    for phase in phases:
        for kind in KINDS:
            mine = [r for r in phase["records"] if r.payload.kind == kind]
            if not mine:
                continue
            answered = [r for r in mine if r.status is not None]
            notes = [r.detail or r.problem for r in mine if r.detail or r.problem]  # verdict, error or problem
            print(f"| {phase['clients']} | {kind} | {len(mine)} | {latency_ms(answered, 50)} | "
                  f"{latency_ms(answered, 99)} | {1000 * max((r.seconds for r in answered), default=0):.0f} | "
                  f"{_tally([str(r.status) for r in mine])} | {_tally(notes)} |")


def _malformed(phases: list[dict]) -> None:
    records = [r for phase in phases for r in phase["records"] if r.payload.kind == "malformed"]
    print("| malformed case | expected | got (all N) |")
    print("|---|---|---|")
    for name in sorted({r.payload.name for r in records}):
        mine = [r for r in records if r.payload.name == name]
        print(f"| {name} | {mine[0].payload.expect} | {_tally([str(r.status) for r in mine])} |")


def _memory(samples: list[Sample], rows: int) -> None:
    print("| t s | N | server RSS MiB | workers RSS MiB | live workers | server threads |")
    print("|---|---|---|---|---|---|")
    for clients in dict.fromkeys(s.clients for s in samples if s.clients):
        mine = [s for s in samples if s.clients == clients]
        picks = sorted({round(i * (len(mine) - 1) / max(1, rows - 1)) for i in range(rows)})
        for s in (mine[i] for i in picks):
            print(f"| {s.t:.0f} | {s.clients} | {s.server_mb:.0f} | {s.workers_mb:.0f} | {s.workers} | {s.threads} |")


def print_report(phases: list[dict], samples: list[Sample], settled: int, args: argparse.Namespace) -> int:
    print(f"prm serve mixed load: N = {', '.join(map(str, args.clients))} clients x {args.seconds:g} s each, "
          f"mix {args.mix}, seed {args.seed}; --workers {args.workers}, --timeout-s {args.timeout_s:g}, "
          f"--max-body-bytes {args.max_body_bytes}; tiny PRM on CPU, loopback\n")
    _overview(phases, samples)
    print()
    _latency(phases)
    print()
    _malformed(phases)
    print(f"\nmemory and workers over time (sampled every {args.sample_s:g} s):\n")
    _memory(samples, args.memory_rows)
    print(f"\nlive workers after the load: {settled} (--workers {args.workers})")
    found = failures(phases, samples, settled, args.workers)
    print("PASS" if not found else "FAIL: " + "; ".join(found))
    return 1 if found else 0
