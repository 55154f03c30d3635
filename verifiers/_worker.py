"""Entry point of a sandbox worker process (``python -m verifiers._worker``).

Reads length-prefixed pickled requests from stdin and answers on a private copy of stdout (the
real stdout is pointed at stderr so that a library's stray print cannot corrupt the protocol).
The parent kills this process when a request overruns its deadline, and this process dies with the
parent (a parent killed outright cannot stop its workers): on Linux the kernel sends SIGKILL when the
parent's spawning thread ends (``PR_SET_PDEATHSIG``; ``verifiers.sandbox`` spawns from a thread that
lives as long as its process), which works even inside a C call that holds the GIL; elsewhere a
watchdog thread polls the parent pid between Python bytecodes.
"""

from __future__ import annotations

import ctypes
import os
import pickle
import resource
import signal
import struct
import sys
import threading
import time
from typing import Any, BinaryIO

_HEADER = struct.Struct("<I")
_PARENT_ENV = "PRM_MATH_SANDBOX_PARENT"  # verifiers.sandbox.PARENT_ENV (not imported: keep this module bare)
_PARENT_POLL_S = 0.5
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _limit_memory() -> None:
    megabytes = int(os.environ.get("PRM_MATH_WORKER_MEMORY_MB", "4096"))
    if megabytes > 0:
        limit = megabytes * 1024 * 1024
        try:
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        except (ValueError, OSError):
            pass


def _exit_with_parent() -> None:
    """Exit (at once, mid-request too) when the pool's process is gone: this process is then reparented."""
    parent = int(os.environ.get(_PARENT_ENV) or os.getppid())
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before the signal was asked for
        os._exit(0)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(_PARENT_POLL_S)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _send(stream: BinaryIO, message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def _read(stream: BinaryIO, size: int) -> bytes | None:
    data = stream.read(size)
    return data if data and len(data) == size else None


def main() -> None:
    protocol_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    _exit_with_parent()
    _limit_memory()
    from verifiers.config import DEFAULT_CONFIG
    from verifiers.decide import handle_request  # heavy imports (sympy) after the fd dance

    try:  # warm up: sympy and the LaTeX parser load here, under the start-up budget, not in a call's timeout
        handle_request(("decide", "\\frac{x^2}{2}+1", "1+x^2/2", DEFAULT_CONFIG))
    except Exception:  # noqa: BLE001 - a failed warm-up only means the first call pays for the imports
        pass
    _send(protocol_out, "ready")
    stdin = sys.stdin.buffer
    while True:
        header = _read(stdin, _HEADER.size)
        if header is None:
            return
        body = _read(stdin, _HEADER.unpack(header)[0])
        if body is None:
            return
        try:
            reply = handle_request(pickle.loads(body))
        except MemoryError:
            reply = ("error", "memory limit reached")
        except Exception as error:  # noqa: BLE001 - the parent turns this into a verdict
            reply = ("error", f"{type(error).__name__}: {error}"[:300])
        _send(protocol_out, reply)


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:  # the parent closed our pipe (it exited, or gave up on this worker): nobody to tell
        os._exit(0)
