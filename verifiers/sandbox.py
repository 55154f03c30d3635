"""Child processes that run sympy work under a hard wall-clock timeout, callable from any thread.

Signal-based timeouts (``SIGALRM``) only work on the main thread of the main interpreter, which is
why answer checkers built on them fail inside trainers that call rewards from threads. Here the
work runs in a separate Python process: the caller waits on the pipe with ``select`` (legal in
any thread), and a worker that overruns is killed and replaced. The same works inside
multiprocessing and DataLoader workers, because workers are plain ``subprocess`` children rather
than (daemonic) multiprocessing children.

Workers are long-lived (start-up, about half a second, is paid once), each serves one call at a
time, and the pool grows on demand up to ``PRM_MATH_SYMPY_WORKERS`` (default: the CPU count).
A worker's address space is capped (``PRM_MATH_WORKER_MEMORY_MB``, default 4096) so a hostile
input cannot take the machine's memory before its timeout fires.
"""

from __future__ import annotations

import atexit
import logging
import os
import pickle
import select
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["SandboxTimeout", "SandboxError", "Sandbox", "get_sandbox"]

logger = logging.getLogger(__name__)
_HEADER = struct.Struct("<I")
STARTUP_TIMEOUT_S = 120.0


class SandboxTimeout(Exception):
    """The call overran its budget; the worker was killed."""


class SandboxError(RuntimeError):
    """The worker died or answered garbage."""


def _worker_env() -> dict[str, str]:
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    return env


class _Worker:
    """One child process speaking length-prefixed pickles over its stdin/stdout."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "verifiers._worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=_worker_env(),
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.fd_out = self.proc.stdout.fileno()
        if self._receive(time.monotonic() + STARTUP_TIMEOUT_S) != "ready":
            self.kill()
            raise SandboxError("worker failed its handshake")

    def call(self, payload: Any, timeout_s: float) -> Any:
        data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
        assert self.proc.stdin is not None
        self.proc.stdin.write(_HEADER.pack(len(data)) + data)
        self.proc.stdin.flush()
        return self._receive(time.monotonic() + timeout_s)

    def _read_exact(self, size: int, deadline: float) -> bytes:
        chunks, remaining = [], size
        while remaining:
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([self.fd_out], [], [], wait)[0]:
                raise SandboxTimeout
            chunk = os.read(self.fd_out, remaining)
            if not chunk:
                raise SandboxError(f"worker exited (code {self.proc.poll()})")
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)

    def _receive(self, deadline: float) -> Any:
        (size,) = _HEADER.unpack(self._read_exact(_HEADER.size, deadline))
        # The reply is trusted: it comes from our own worker module, not from model text.
        return pickle.loads(self._read_exact(size, deadline))

    def kill(self) -> None:
        try:
            self.proc.kill()
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            logger.warning("could not reap sympy worker %s", self.proc.pid)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass


class Sandbox:
    """A thread-safe pool of workers; each call borrows one worker."""

    def __init__(self, max_workers: int) -> None:
        self.max_workers = max(1, max_workers)
        self._idle: list[_Worker] = []
        self._alive = 0
        self._cond = threading.Condition()

    def ensure_capacity(self, workers: int) -> None:
        with self._cond:
            self.max_workers = max(self.max_workers, workers)

    def _acquire(self) -> _Worker:
        with self._cond:
            while not self._idle and self._alive >= self.max_workers:
                self._cond.wait()
            if self._idle:
                return self._idle.pop()
            self._alive += 1
        try:
            return _Worker()
        except BaseException:
            self._release(None)
            raise

    def _release(self, worker: _Worker | None) -> None:
        with self._cond:
            if worker is None:
                self._alive -= 1
            else:
                self._idle.append(worker)
            self._cond.notify()

    def run(self, payload: Any, timeout_s: float) -> Any:
        """Send ``payload`` to a worker; raise SandboxTimeout if no answer within ``timeout_s``."""
        worker = self._acquire()
        try:
            result = worker.call(payload, timeout_s)
        except BaseException:
            worker.kill()
            self._release(None)
            raise
        self._release(worker)
        return result

    def close(self) -> None:
        with self._cond:
            idle, self._idle = self._idle, []
            self._alive -= len(idle)
        for worker in idle:
            worker.kill()


_LOCK = threading.Lock()
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
