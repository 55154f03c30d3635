"""``prm serve``: the PRM and the answer verifier as an HTTP service for GRPO trainers on other machines.

Modules: ``schemas`` (request bodies, options, limits), ``batcher`` (dynamic batching of concurrent
requests into one PRM forward pass), ``service`` (scoring, verification, OpenRLHF-style rewards),
``metrics``, ``app`` (the FastAPI factory :func:`create_app`), ``runner`` (uvicorn in the foreground or
on a background thread) and ``client`` (:class:`RewardClient`, the TRL reward :func:`remote_reward`;
standard library only). Names are imported lazily: the client needs neither FastAPI nor torch.
"""

from __future__ import annotations

from prm.lazy import lazy_exports

_EXPORTS = {
    "ServeConfig": "schemas", "DynamicBatcher": "batcher", "create_app": "app", "BackgroundServer": "runner",
    "RewardClient": "client", "ServeError": "client", "remote_reward": "client",
}  # fmt: skip

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
