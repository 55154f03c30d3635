"""Entry point of a sandbox worker process (``python -m verifiers._worker``).

Reads length-prefixed pickled requests from stdin and answers on a private copy of stdout (the
real stdout is pointed at stderr so that a library's stray print cannot corrupt the protocol).
The parent kills this process when a request overruns its timeout.
"""

from __future__ import annotations

import os
import pickle
import resource
import struct
import sys
from typing import Any, BinaryIO

_HEADER = struct.Struct("<I")


def _limit_memory() -> None:
    megabytes = int(os.environ.get("PRM_MATH_WORKER_MEMORY_MB", "4096"))
    if megabytes > 0:
        limit = megabytes * 1024 * 1024
        try:
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        except (ValueError, OSError):
            pass


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
    main()
