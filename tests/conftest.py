"""Shared fixtures: the read-only public datasets beside the repository, when present."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

SHARED_DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


@pytest.fixture(scope="module")
def torch_one_thread() -> Iterator[None]:
    """Tiny models run fastest on one thread, above all when other processes share the cores."""
    from prm.runtime import torch_threads

    with torch_threads(1):
        yield


@pytest.fixture(scope="session")
def math500_rows() -> list[dict]:
    path = SHARED_DATASETS / "math500" / "test.jsonl"
    if not path.exists():
        pytest.skip(f"MATH-500 not found at {path}")
    return read_jsonl(path)


@pytest.fixture(scope="session")
def tiny_policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny trained policy of ``tests/tiny_policy.py``, built once per session (read-only for tests)."""
    from tiny_policy import build_tiny_policy

    return build_tiny_policy(tmp_path_factory.mktemp("policy") / "tiny")
