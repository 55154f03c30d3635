"""Dynamic batching: work items from many concurrent requests merged into one call of a batch function.

One worker thread owns the batch function (the PRM forward pass). It takes the first waiting item,
then keeps collecting until ``max_batch`` items are in hand or ``max_wait_s`` has passed since the
first, calls ``fn(payloads)`` once, and resolves each item's future. Callers on an event loop await
:meth:`DynamicBatcher.run`; plain threads may call :meth:`submit` and wait on the futures.

If a merged batch raises, its items are retried one by one, so one bad item fails only its own
request, never the requests it happened to be merged with.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

__all__ = ["DynamicBatcher", "BatchStats"]

logger = logging.getLogger(__name__)

P = TypeVar("P")
R = TypeVar("R")

_STOP = object()


@dataclass
class BatchStats:
    """Counters of the batches run so far; ``sizes`` maps a batch size to how many batches had it."""

    batches: int = 0
    items: int = 0
    max_size: int = 0
    failures: int = 0
    busy_s: float = 0.0
    sizes: dict[int, int] = field(default_factory=dict)

    def record(self, size: int, seconds: float) -> None:
        self.batches += 1
        self.items += size
        self.max_size = max(self.max_size, size)
        self.busy_s += seconds
        self.sizes[size] = self.sizes.get(size, 0) + 1


class DynamicBatcher(Generic[P, R]):
    """Merge concurrent single-item calls into calls of ``fn(list of payloads) -> list of results``."""

    def __init__(self, fn: Callable[[list[P]], Sequence[R]], max_batch: int = 32, max_wait_s: float = 0.005,
                 name: str = "batcher") -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self.fn = fn
        self.max_batch = max_batch
        self.max_wait_s = max(0.0, max_wait_s)
        self.stats = BatchStats()
        self._lock = threading.Lock()
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    @property
    def queue_depth(self) -> int:
        """Items waiting for a batch (not counting the batch running now)."""
        return self._queue.qsize()

    def submit(self, payloads: Sequence[P]) -> list[Future]:
        """Queue ``payloads``; one future per payload, resolved by the worker thread."""
        futures = []
        for payload in payloads:
            future: Future = Future()
            self._queue.put((payload, future))
            futures.append(future)
        return futures

    async def run(self, payloads: Sequence[P]) -> list[R]:
        """Results of ``payloads``, in order, batched with whatever else is waiting."""
        return list(await asyncio.gather(*(asyncio.wrap_future(f) for f in self.submit(payloads))))

    def close(self, timeout: float = 5.0) -> None:
        """Finish the queued work and stop the worker thread."""
        self._queue.put(_STOP)
        self._thread.join(timeout)

    def _collect(self, first: tuple[P, Future]) -> tuple[list[tuple[P, Future]], bool]:
        batch, stop = [first], False
        deadline = time.monotonic() + self.max_wait_s
        while len(batch) < self.max_batch:
            remaining = deadline - time.monotonic()
            try:
                entry = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if entry is _STOP:
                stop = True
                break
            batch.append(entry)
        return batch, stop

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch, stop = self._collect(first)
            live = [(payload, future) for payload, future in batch if future.set_running_or_notify_cancel()]
            if live:
                self._run_batch(live)
            if stop:
                return

    def _call(self, payloads: list[P]) -> list[R]:
        results = list(self.fn(payloads))
        if len(results) != len(payloads):
            raise RuntimeError(f"batch function returned {len(results)} results for {len(payloads)} inputs")
        return results

    def _run_batch(self, batch: list[tuple[P, Future]]) -> None:
        start = time.perf_counter()
        try:
            results = self._call([payload for payload, _ in batch])
        except Exception:  # noqa: BLE001 - isolate the failing item: retry one by one
            logger.exception("batch of %d failed; retrying its items one at a time", len(batch))
            if len(batch) == 1:
                results = None
            else:
                for entry in batch:
                    self._run_batch([entry])
                return
        with self._lock:
            self.stats.record(len(batch), time.perf_counter() - start)
        if results is None:
            with self._lock:
                self.stats.failures += 1
            for _, future in batch:
                future.set_exception(RuntimeError("the model failed on this item"))
            return
        for (_, future), result in zip(batch, results, strict=True):
            future.set_result(result)
