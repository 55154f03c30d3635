"""Shared fixtures: the read-only public datasets beside the repository, when present."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SHARED_DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


@pytest.fixture(scope="session")
def math500_rows() -> list[dict]:
    path = SHARED_DATASETS / "math500" / "test.jsonl"
    if not path.exists():
        pytest.skip(f"MATH-500 not found at {path}")
    return read_jsonl(path)
