"""Child processes that run sympy work under a hard wall-clock deadline, callable from any thread.

Signal-based timeouts (``SIGALRM``) only work on the main thread of the main interpreter, which is
why answer checkers built on them fail inside trainers that call rewards from threads. Here the
work runs in a separate Python process: the caller waits on the pipe with ``select`` (legal in
any thread), and a worker that overruns is killed and replaced. The same works inside
multiprocessing and DataLoader workers, because workers are plain ``subprocess`` children rather
than (daemonic) multiprocessing children.

Every call carries one absolute deadline (``time.monotonic()`` seconds), and every wait spends it:
waiting for a free worker (stage ``queue``), waiting for a worker to finish starting
(``worker_start``) and the sympy work itself (``sympy``). :class:`SandboxTimeout` names the stage
in which the deadline fired; only a ``sympy`` timeout kills the worker (the others leave the pool as
it was). Workers start on a background thread under their own start-up budget, so a caller that
gives up on a starting worker does not waste its start: the next caller gets it.

Workers are long-lived (start-up, about half a second, is paid once), each serves one call at a
time, and the pool grows on demand up to ``PRM_MATH_SYMPY_WORKERS`` (default: the CPU count).
A worker's address space is capped (``PRM_MATH_WORKER_MEMORY_MB``, default 4096) so a hostile
input cannot take the machine's memory before its timeout fires.

No worker outlives its pool: ``close`` (and interpreter exit) stops them all, and a pool process killed
outright takes its workers with it, because each worker asks the kernel for SIGKILL when its parent
dies (``verifiers._worker``). Linux ties that signal to the *thread* that spawned the child, so every
worker of a process is spawned by one thread that lives as long as the process (:class:`_Spawner`).
"""

from __future__ import annotations

import atexit
import logging
import os
import pickle
import queue
import select
import struct
import subprocess
import sys
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Literal

__all__ = ["SandboxTimeout", "SandboxError", "Sandbox", "Stage", "get_sandbox"]

logger = logging.getLogger(__name__)
_HEADER = struct.Struct("<I")
_LOCK = threading.Lock()
STARTUP_TIMEOUT_S = 120.0
PARENT_ENV = "PRM_MATH_SANDBOX_PARENT"  # the worker exits when its parent (the pool's process) is gone

Stage = Literal["queue", "worker_start", "sympy"]


class SandboxTimeout(Exception):
    """The call's deadline passed; ``stage`` says where it was waiting (only ``sympy`` kills a worker)."""

    def __init__(self, stage: Stage = "sympy") -> None:
        super().__init__(stage)
        self.stage: Stage = stage


class SandboxError(RuntimeError):
    """The worker died or answered garbage."""


def _worker_env() -> dict[str, str]:
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    env[PARENT_ENV] = str(os.getpid())
    return env


class _Spawner:
    """The one thread of this process that spawns workers; it lives as long as the process (see above)."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self._requests: queue.SimpleQueue[Future[subprocess.Popen[bytes]]] = queue.SimpleQueue()
        threading.Thread(target=self._loop, name="sympy-spawner", daemon=True).start()

    def _loop(self) -> None:
        while True:
            request = self._requests.get()
            try:
                request.set_result(subprocess.Popen(
                    [sys.executable, "-m", "verifiers._worker"],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=_worker_env(),
                ))
            except BaseException as error:  # noqa: BLE001 - handed to the thread that asked
                request.set_exception(error)

    def popen(self) -> subprocess.Popen[bytes]:
        request: Future[subprocess.Popen[bytes]] = Future()
        self._requests.put(request)
        return request.result(timeout=STARTUP_TIMEOUT_S)


_SPAWNER: _Spawner | None = None


def _spawn() -> subprocess.Popen[bytes]:
    """A new worker process, spawned by this process's spawner thread (a forked child gets its own)."""
    global _SPAWNER
    with _LOCK:
        if _SPAWNER is None or _SPAWNER.pid != os.getpid():
            _SPAWNER = _Spawner()
        spawner = _SPAWNER
    return spawner.popen()


class _Worker:
    """One child process speaking length-prefixed pickles over its stdin/stdout."""

    def __init__(self, generation: int) -> None:
        self.generation = generation
        self.proc = _spawn()
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.fd_out = self.proc.stdout.fileno()

    def handshake(self) -> None:
        """Wait for the worker's "ready" (its imports and warm-up), under the start-up budget."""
        if self._receive(time.monotonic() + STARTUP_TIMEOUT_S, "worker_start") != "ready":
            raise SandboxError("worker failed its handshake")

    def call(self, payload: Any, deadline: float) -> Any:
        data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(_HEADER.pack(len(data)) + data)
            self.proc.stdin.flush()
        except OSError as error:  # a worker stopped by close, or dead of its memory limit
            raise SandboxError(f"worker exited (code {self.proc.poll()}): {error}") from error
        return self._receive(deadline, "sympy")

    def _read_exact(self, size: int, deadline: float, stage: Stage) -> bytes:
        chunks, remaining = [], size
        while remaining:
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([self.fd_out], [], [], min(wait, 3600.0))[0]:
                raise SandboxTimeout(stage)
            chunk = os.read(self.fd_out, remaining)
            if not chunk:
                raise SandboxError(f"worker exited (code {self.proc.poll()})")
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)

    def _receive(self, deadline: float, stage: Stage) -> Any:
        (size,) = _HEADER.unpack(self._read_exact(_HEADER.size, deadline, stage))
        # The reply is trusted: it comes from our own worker module, not from model text.
        return pickle.loads(self._read_exact(size, deadline, stage))

    def stop(self) -> None:
        """Kill and reap the process; its pipes stay open (another thread may be reading them)."""
        try:
            self.proc.kill()
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            logger.warning("could not reap sympy worker %s", self.proc.pid)

    def kill(self) -> None:
        """Kill and reap the process and close its pipes (only by the thread that owns the worker)."""
        self.stop()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass


class _Start:
    """One background start; ``error`` is set when it failed (read by the caller that asked for it)."""

    __slots__ = ("error",)

    def __init__(self) -> None:
        self.error: str | None = None


class Sandbox:
    """A thread-safe pool of workers; each call borrows one worker until its deadline.

    ``close`` stops every worker of the pool (idle, starting and busy: a busy call then sees a dead
    worker) and leaves the pool usable: the next call starts fresh workers.
    """

    def __init__(self, max_workers: int) -> None:
        self.max_workers = max(1, max_workers)
        self._idle: list[_Worker] = []
        self._live: set[_Worker] = set()  # every process of the pool: starting, idle or busy
        self._alive = 0  # slots taken: live workers and starts under way
        self._starting = 0
        self._starters: set[threading.Thread] = set()
        self._generation = 0  # bumped by close: older workers are stopped, never reused
        self._cond = threading.Condition()

    def ensure_capacity(self, workers: int) -> None:
        with self._cond:
            self.max_workers = max(self.max_workers, workers)
            self._cond.notify_all()

    def prestart(self, workers: int, wait_s: float = STARTUP_TIMEOUT_S) -> int:
        """Start workers until ``workers`` are alive (the pool grows to that size if smaller), wait up to
        ``wait_s`` for the starts, and return how many workers are idle.

        A call's deadline covers a worker's start (half a second, seconds on a busy machine); a caller with a
        tight budget (a server, a reward function) can pay for the starts here, before its first call.
        """
        end = time.monotonic() + wait_s
        with self._cond:
            self.max_workers = max(self.max_workers, workers)
            for _ in range(workers - self._alive):
                self._start_locked()
            while self._starting and (left := end - time.monotonic()) > 0:
                self._cond.wait(min(left, 3600.0))
            return len(self._idle)

    def run(self, payload: Any, *, deadline: float) -> Any:
        """Send ``payload`` to a worker; SandboxTimeout (naming the stage) if no answer by ``deadline``.

        ``deadline`` is absolute (``time.monotonic()`` seconds) and covers the wait for a free worker,
        the wait for one to start and the work itself; only a timeout during the work kills the worker.
        """
        worker = self._acquire(deadline)
        try:
            result = worker.call(payload, deadline)
        except BaseException:
            self._drop(worker, replace=True)
            raise
        self._release(worker)
        return result

    def _acquire(self, deadline: float) -> _Worker:
        start: _Start | None = None
        with self._cond:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    self._cond.notify()  # pass on a wake-up this caller may have taken
                    raise SandboxTimeout("worker_start" if self._starting else "queue")
                if self._idle:
                    return self._idle.pop()
                if start is not None and start.error is not None:
                    raise SandboxError(start.error)
                if self._alive < self.max_workers:
                    start = self._start_locked()
                self._cond.wait(min(left, 3600.0))

    def _start_locked(self) -> _Start:
        """Take a slot and start a worker on a background thread (the caller holds ``_cond``)."""
        start = _Start()
        self._alive += 1
        self._starting += 1
        thread = threading.Thread(target=self._start, args=(start, self._generation),
                                  name="sympy-worker-start", daemon=True)
        try:
            thread.start()
        except RuntimeError as error:  # no threads left, or the interpreter is shutting down
            self._alive -= 1
            self._starting -= 1
            start.error = f"cannot start a worker: {error}"
        else:
            self._starters.add(thread)
        return start

    def _start(self, start: _Start, generation: int) -> None:
        """Spawn a worker and wait for its handshake: on its own thread, under the start-up budget, not a call's."""
        worker: _Worker | None = None
        ready = False
        try:
            worker = _Worker(generation)
            with self._cond:
                self._live.add(worker)
                if generation != self._generation:
                    raise SandboxError("the pool was closed while the worker started")
            worker.handshake()
            ready = True
        except Exception as error:  # noqa: BLE001 - told to the caller that asked for this worker
            closed = generation != self._generation  # stopped by close: expected, not worth a warning
            logger.log(logging.DEBUG if closed else logging.WARNING, "sympy worker failed to start: %s", error)
            start.error = f"worker failed to start: {error}"
        with self._cond:
            self._starting -= 1
            self._starters.discard(threading.current_thread())
            if ready and worker is not None and worker.generation == self._generation:
                self._idle.append(worker)
                self._cond.notify_all()
                return
        self._drop(worker)

    def _release(self, worker: _Worker) -> None:
        with self._cond:
            if worker.generation == self._generation:
                self._idle.append(worker)
                self._cond.notify()
                return
        self._drop(worker)

    def _drop(self, worker: _Worker | None, replace: bool = False) -> None:
        """Kill ``worker`` (None: a start that never spawned) and free its slot; ``replace``: start another."""
        if worker is not None:
            worker.kill()
        with self._cond:
            if worker is not None:
                self._live.discard(worker)
            self._alive -= 1
            current = worker is not None and worker.generation == self._generation
            if replace and current and self._alive < self.max_workers:
                self._start_locked()  # the replacement starts now, not on the next caller's budget
            self._cond.notify_all()

    def close(self, wait_s: float = 10.0) -> None:
        """Stop every worker, and wait up to ``wait_s`` for starts under way to end (they are stopped too).

        The pool stays usable: the next call starts fresh workers.
        """
        with self._cond:
            self._generation += 1
            idle, self._idle = self._idle, []
            self._alive -= len(idle)
            self._live.difference_update(idle)
            others = list(self._live)  # starting or busy: their own threads free the slots
            starters = list(self._starters)
        for worker in idle:
            worker.kill()
        for worker in others:
            worker.stop()
        end = time.monotonic() + wait_s
        for thread in starters:  # a start not yet spawned sees the new generation and stops its process
            thread.join(max(0.0, end - time.monotonic()))


_SANDBOX: tuple[int, Sandbox] | None = None


def get_sandbox() -> Sandbox:
    """The process-wide pool (a forked child gets a fresh one rather than its parent's pipes)."""
    global _SANDBOX
    with _LOCK:
        if _SANDBOX is None or _SANDBOX[0] != os.getpid():
            workers = int(os.environ.get("PRM_MATH_SYMPY_WORKERS", os.cpu_count() or 1))
            _SANDBOX = (os.getpid(), Sandbox(workers))
        return _SANDBOX[1]


@atexit.register
def _shutdown() -> None:
    if _SANDBOX is not None and _SANDBOX[0] == os.getpid():
        _SANDBOX[1].close()
