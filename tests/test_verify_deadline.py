"""One deadline per verify call: the wait for a free sandbox worker, for a worker to start and the sympy work all
spend ``timeout_s``, so a hostile answer returns within the budget from the main thread, threads, processes and
the server; the verdict names the wait the deadline fired in; no worker process outlives its pool.

``test_verify_safety.py`` covers timeouts off the main thread at a loose bound and the parser-breaking inputs;
``test_concurrency.py`` the answers under load. Here the bound is tight (timeout + 1 s) and the callers compete.
"""

from __future__ import annotations

import importlib
import itertools
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from verifiers import Status, Verdict, VerifyConfig, verify
from verifiers.sandbox import Sandbox, get_sandbox

verify_module = importlib.import_module("verifiers.verify")  # the package's ``verify`` is the function

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="counts processes through /proc")

TIMEOUT_S = 1.0
SLACK_S = 1.0  # the promise: every call returns within timeout + 1 s
FAST = VerifyConfig(timeout_s=TIMEOUT_S)
ROOMY = VerifyConfig(timeout_s=60.0)  # for warm-up calls that must reach a worker whatever the load
# Answers that pass the in-process checks and reach sympy, where each would run far past any budget.
HOSTILE = [("5", "(10^8)!"), ("x", "\\prod_{k=1}^{10^{12}} k"), ("x", "2^{3^{4^{5}}}"), ("y", "10^{10^{10^{10}}} x")]
_FRESH = itertools.count(10_007)


def _cheap() -> tuple[str, str]:
    """A symbolic pair (it needs a sandbox worker) that no earlier call has cached."""
    return "x", f"x+{next(_FRESH)}"


def _timed(gold: str, pred: str, config: VerifyConfig = FAST) -> tuple[float, Verdict]:
    start = time.monotonic()
    verdict = verify(gold, pred, config)
    return time.monotonic() - start, verdict


def _timed_hostile_calls(_: int = 0) -> list[tuple[float, str, str | None]]:
    """Every hostile pair from this process's main thread (run in a spawned child too)."""
    return [(seconds, v.status.value, v.timeout_stage) for seconds, v in (_timed(*pair) for pair in HOSTILE)]


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of ``pid``; None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], int(fields[1])


def _is_worker(pid: int) -> bool:
    try:
        return b"verifiers._worker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _alive(pid: int) -> bool:
    stat = _proc_stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")


def worker_children() -> set[int]:
    """Sandbox worker processes (not zombies) whose parent is this process."""
    me = os.getpid()
    pids = (int(name) for name in os.listdir("/proc") if name.isdigit())
    return {pid for pid in pids if (stat := _proc_stat(pid)) and stat[1] == me and _alive(pid) and _is_worker(pid)}


def _all_at_once(calls: list[Callable[[], tuple[float, Verdict]]]) -> list[tuple[float, Verdict]]:
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], tuple[float, Verdict]]) -> tuple[float, Verdict]:
        barrier.wait(timeout=60)
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def _assert_within_budget(results: list[tuple[float, Verdict]]) -> list[str | None]:
    for seconds, verdict in results:
        assert seconds < TIMEOUT_S + SLACK_S, (round(seconds, 2), verdict)
        assert verdict.status is Status.TIMEOUT, verdict
        assert verdict.timeout_stage in ("queue", "worker_start", "sympy"), verdict
    return [verdict.timeout_stage for _, verdict in results]


@pytest.fixture
def own_pool(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[int], Sandbox]]:
    """``make(n)``: a fresh pool of ``n`` workers that ``verify`` uses for the rest of the test.

    The process-wide pool is closed first, so every sandbox worker child of this process is the test's own.
    """
    get_sandbox().close()
    pools: list[Sandbox] = []

    def make(workers: int) -> Sandbox:
        pools.append(Sandbox(workers))
        monkeypatch.setattr(verify_module, "get_sandbox", lambda: pools[-1])
        return pools[-1]

    yield make
    for pool in pools:
        pool.close()


def test_hostile_answers_from_4_threads_return_within_the_budget(own_pool) -> None:
    assert own_pool(2).prestart(2) == 2  # both workers started and idle
    seen: set[str | None] = set()
    for _ in range(2):  # the second round meets workers still being replaced after the first
        stages = _assert_within_budget(_all_at_once([lambda pair=pair: _timed(*pair) for pair in HOSTILE]))
        assert {"queue", "worker_start"} & set(stages), stages  # two callers never got a worker
        seen.update(stages)
    assert "sympy" in seen, seen  # and the two that did were killed at the deadline


def test_a_deadline_in_the_queue_names_the_queue_and_kills_no_worker(own_pool) -> None:
    own_pool(1)
    assert _timed(*_cheap(), ROOMY)[1].status is Status.NOT_EQUAL
    (worker,) = worker_children()
    busy = threading.Thread(target=lambda: verify(*HOSTILE[1], VerifyConfig(timeout_s=1.5)))
    busy.start()
    time.sleep(0.3)  # the hostile call holds the only worker
    seconds, verdict = _timed(*_cheap(), VerifyConfig(timeout_s=0.5))
    assert verdict.status is Status.TIMEOUT and verdict.timeout_stage == "queue", verdict
    assert "free" in verdict.reason and seconds < 0.5 + SLACK_S
    assert worker_children() == {worker}  # the busy worker was not killed for the queued call's deadline
    busy.join(timeout=30)


def test_a_deadline_during_start_up_names_it_and_the_start_is_not_wasted(own_pool) -> None:
    own_pool(1)
    seconds, verdict = _timed(*_cheap(), VerifyConfig(timeout_s=0.05))  # start-up takes far longer
    assert verdict.status is Status.TIMEOUT and verdict.timeout_stage == "worker_start", verdict
    assert seconds < 0.05 + SLACK_S
    started = worker_children()
    assert len(started) == 1
    assert _timed(*_cheap(), ROOMY)[1].status is Status.NOT_EQUAL
    assert worker_children() == started  # the next call got the worker the first one started


def test_hostile_answers_from_the_main_thread_return_within_the_budget() -> None:
    verify(*_cheap(), ROOMY)
    _assert_within_budget([_timed(*pair) for pair in HOSTILE])


def test_hostile_answers_from_a_spawned_process_return_within_the_budget() -> None:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        rows = pool.map(_timed_hostile_calls, [0])[0]
    for seconds, status, stage in rows:
        assert seconds < TIMEOUT_S + SLACK_S and status == "timeout" and stage, rows


def test_hostile_answers_through_the_server_return_within_the_budget() -> None:
    from prm.serve.app import create_app
    from prm.serve.runner import BackgroundServer
    from prm.serve.schemas import ServeConfig

    verify(*_cheap(), ROOMY)
    with BackgroundServer(create_app(ServeConfig(timeout_s=TIMEOUT_S, workers=2))) as server:

        def post(pair: tuple[str, str]) -> tuple[float, dict]:
            start = time.monotonic()
            reply = httpx.post(f"{server.url}/verify", json={"pairs": [{"gold": pair[0], "answer": pair[1]}]},
                               timeout=30)
            return time.monotonic() - start, reply.json()["results"][0]

        # three times as many concurrent checks as sandbox workers: the server must not queue them outside the
        # deadline (it once ran them on --workers threads, so the sixth came back after three timeouts)
        pairs = [HOSTILE[i % len(HOSTILE)] for i in range(6)]
        with ThreadPoolExecutor(max_workers=len(pairs)) as pool:
            for seconds, result in pool.map(post, pairs):
                assert seconds < TIMEOUT_S + SLACK_S and result["status"] == "timeout", (seconds, result)
                assert result["timeout_stage"] in ("queue", "worker_start", "sympy")


def test_worker_processes_stay_within_the_pool_and_end_with_it() -> None:
    pool = get_sandbox()
    pool.ensure_capacity(2)
    # 1200 calls take 3-8 s on 2 busy cores; each hostile call costs a worker start besides (1-2 s there)
    calls, every, threads, counts, done = 1200, 600, 4, [], threading.Event()

    def sample() -> None:
        while not done.is_set():
            counts.append(len(worker_children()))
            time.sleep(0.05)

    def work(index: int) -> str:
        if index % every == every // 2:  # now and then a worker is killed at its deadline and replaced
            return verify(*HOSTILE[index % len(HOSTILE)], VerifyConfig(timeout_s=0.3)).status.value
        return verify(*_cheap(), ROOMY).status.value

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        with ThreadPoolExecutor(max_workers=threads) as executor:
            statuses = list(executor.map(work, range(calls)))
    finally:
        done.set()
        sampler.join()
    assert statuses.count("timeout") == calls // every and statuses.count("not_equal") == calls - calls // every
    assert counts and max(counts) <= pool.max_workers, (max(counts), pool.max_workers)
    pool.close()
    assert worker_children() == set()
    assert verify(*_cheap(), ROOMY).status is Status.NOT_EQUAL  # a closed pool starts fresh workers


def test_a_closed_pool_stops_busy_and_starting_workers(own_pool) -> None:
    pool = own_pool(2)
    assert _timed(*_cheap(), ROOMY)[1].status is Status.NOT_EQUAL
    busy = threading.Thread(target=lambda: verify(*HOSTILE[0], VerifyConfig(timeout_s=30.0)))
    busy.start()
    time.sleep(0.3)
    _timed(*_cheap(), VerifyConfig(timeout_s=0.05))  # the second worker starts, and is still starting
    pool.close()
    assert worker_children() == set()
    busy.join(timeout=5)
    assert not busy.is_alive()  # its worker was stopped under it: the call ended long before its 30 s


_ORPHAN_SCRIPT = """
import threading, time
from verifiers import VerifyConfig, verify
verify("x", "x+1", VerifyConfig(timeout_s=60))
# 2^(3^1024): one C big-int power that holds the GIL, so only the kernel can stop it (not a Python thread)
threading.Thread(target=verify, args=("x", "2^{3^{4^{5}}}", VerifyConfig(timeout_s=600)), daemon=True).start()
time.sleep(0.5)
print("busy", flush=True)
time.sleep(600)
"""


def test_workers_exit_when_their_pool_process_is_killed() -> None:
    child = subprocess.Popen([sys.executable, "-c", _ORPHAN_SCRIPT], stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PRM_MATH_SYMPY_WORKERS": "1"})
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "busy"
        pids = [int(n) for n in os.listdir("/proc") if n.isdigit() and (_proc_stat(int(n)) or ("", 0))[1] == child.pid]
        workers = [pid for pid in pids if _is_worker(pid)]
        assert len(workers) == 1, pids
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    end = time.monotonic() + 5
    while _alive(workers[0]) and time.monotonic() < end:
        time.sleep(0.05)
    outlived = _alive(workers[0])
    if outlived:
        os.kill(workers[0], signal.SIGKILL)  # leave no orphan computing behind a failed test
    assert not outlived, "the busy worker outlived the process of its pool"
