"""Server metrics for ``GET /metrics``: request counts by endpoint and status, latency percentiles,
batch sizes and queue depth, as JSON or in Prometheus' text exposition format."""

from __future__ import annotations

import threading
from collections import Counter, deque
from typing import Any

from prm.serve.batcher import BatchStats

__all__ = ["Metrics", "percentile"]

ENDPOINTS = ("/score", "/verify", "/get_reward", "/health", "/metrics")
_WINDOW = 4096  # latencies kept per endpoint for the percentiles


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0..100) of ``values`` by nearest rank; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[rank]


class Metrics:
    """Thread-safe request counters and a sliding window of latencies per endpoint."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[tuple[str, int]] = Counter()
        self.latencies: dict[str, deque[float]] = {}

    @staticmethod
    def endpoint(path: str) -> str:
        return path if path in ENDPOINTS else "other"

    def observe(self, path: str, status: int, seconds: float) -> None:
        name = self.endpoint(path)
        with self._lock:
            self.requests[(name, status)] += 1
            self.latencies.setdefault(name, deque(maxlen=_WINDOW)).append(seconds)

    def snapshot(self, batch: BatchStats | None, queue_depth: int) -> dict[str, Any]:
        with self._lock:
            counts = [{"endpoint": e, "status": s, "count": n} for (e, s), n in sorted(self.requests.items())]
            windows = {name: list(values) for name, values in self.latencies.items()}
        latency = {name: {f"p{q}": percentile(values, q) for q in (50, 90, 99)} | {"window": len(values)}
                   for name, values in windows.items()}
        data: dict[str, Any] = {"requests": counts, "latency_s": latency, "queue_depth": queue_depth}
        if batch is not None:
            data["batches"] = {"count": batch.batches, "items": batch.items, "max_size": batch.max_size,
                               "mean_size": batch.items / batch.batches if batch.batches else None,
                               "failures": batch.failures, "busy_s": batch.busy_s,
                               "size_histogram": {str(k): v for k, v in sorted(batch.sizes.items())}}
        return data


def prometheus_text(snapshot: dict[str, Any]) -> str:
    """The JSON snapshot in Prometheus' text format (counters, gauges, a batch-size histogram)."""
    lines = ["# TYPE prm_requests_total counter"]
    lines += [f'prm_requests_total{{endpoint="{r["endpoint"]}",status="{r["status"]}"}} {r["count"]}'
              for r in snapshot["requests"]]
    lines.append("# TYPE prm_request_latency_seconds gauge")
    for name, values in snapshot["latency_s"].items():
        for key in ("p50", "p90", "p99"):
            if values[key] is not None:
                quantile = int(key[1:]) / 100
                lines.append(f'prm_request_latency_seconds{{endpoint="{name}",quantile="{quantile}"}} {values[key]}')
    lines += ["# TYPE prm_queue_depth gauge", f"prm_queue_depth {snapshot['queue_depth']}"]
    batches = snapshot.get("batches")
    if batches:
        lines.append("# TYPE prm_batch_size histogram")
        sizes = {int(k): v for k, v in batches["size_histogram"].items()}
        bound, cumulative = 1, 0
        while bound < max(sizes, default=1) * 2:
            cumulative = sum(v for k, v in sizes.items() if k <= bound)
            lines.append(f'prm_batch_size_bucket{{le="{bound}"}} {cumulative}')
            bound *= 2
        lines += [f'prm_batch_size_bucket{{le="+Inf"}} {batches["count"]}',
                  f"prm_batch_size_sum {batches['items']}", f"prm_batch_size_count {batches['count']}"]
    return "\n".join(lines) + "\n"
