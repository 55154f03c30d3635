"""The generator side of GRPO: a sampling backend kept in sync with the policy being trained.

- ``hf``: :class:`prm.sampling.hf.HFSampler` wraps the live model object in-process, so every update is
  seen by the next ``generate`` with no copy (``sync`` is a no-op). Each step's call is re-seeded with
  ``seed + step``, so a resumed run draws the same completions as an uninterrupted one. The CPU default.
- ``vllm``: a :class:`prm.sampling.vllm_backend.VLLMSampler` engine (worker processes). After each update
  the weights are written to ``out/vllm_weights`` (safetensors, LoRA merged) and reloaded in place by every
  worker with ``LLM.collective_rpc("reload_weights", kwargs={"weights_path": ...})`` (vLLM's in-place
  reload, which ``CPUWorker`` inherits), then the prefix cache is reset (its KV entries were computed with
  the old weights). The engine is seeded once, so vLLM rollouts are not reproducible across a resume.
  Reloading from a file costs a save and a load per step (milliseconds for the 1.6M-parameter policy; for
  large models on GPUs a NCCL weight broadcast is the usual data plane instead).
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import time
from pathlib import Path
from typing import Any

from prm.sampling.base import Completion, SamplingConfig

__all__ = ["Generator", "export_weights"]

logger = logging.getLogger(__name__)

SYNC_DIR = "vllm_weights"


def export_weights(model: Any, path: Path) -> None:
    """Save ``model``'s full weights (LoRA adapters merged in, names of the base model) to ``path``."""
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    if hasattr(model, "merge_adapter"):  # a peft model: merge, save the base model's own names, unmerge
        model.merge_adapter()
        try:
            base = model.get_base_model()
            state = {name.replace(".base_layer", ""): tensor for name, tensor in base.state_dict().items()
                     if "lora_" not in name}
            base.save_pretrained(str(tmp), state_dict=state)
        finally:
            model.unmerge_adapter()
    else:
        model.save_pretrained(str(tmp))
    shutil.rmtree(path, ignore_errors=True)
    tmp.rename(path)


class Generator:
    """Draws G completions per prompt with the configured backend and keeps its weights current."""

    def __init__(self, backend: str, model: Any, tokenizer: Any, model_path: str, out_dir: Path, seed: int,
                 device: str = "cpu", max_model_len: int | None = None, gpu_memory_utilization: float = 0.3) -> None:
        self.backend, self.seed, self.model = backend, seed, model
        self.sync_dir = out_dir / SYNC_DIR
        if backend == "hf":
            from prm.sampling.hf import HFSampler

            self.sampler: Any = HFSampler(model, tokenizer=tokenizer, device=device, seed=seed)
        elif backend == "vllm":
            from prm.sampling.vllm_backend import VLLMSampler

            # the engine shares the GPU with the policy being trained: it gets a bounded share
            self.sampler = VLLMSampler(model_path, seed=seed, max_model_len=max_model_len, dtype="float32",
                                       gpu_memory_utilization=gpu_memory_utilization)
        else:
            raise ValueError(f"unknown generation backend {backend!r}; choose hf or vllm")
        self.sampler.tokenizer = tokenizer  # one tokenizer for prompts, completions and updates

    def generate(self, prompts: list[str], n: int, params: SamplingConfig, step: int) -> list[list[Completion]]:
        if self.backend == "hf":
            params = dataclasses.replace(params, seed=self.seed + step)
            self.model.eval()
        return self.sampler.generate(prompts, n, params)

    def sync(self) -> float:
        """Push the current weights to the engine (vLLM); returns the seconds it took (0 for HF)."""
        if self.backend == "hf":
            return 0.0
        start = time.perf_counter()
        export_weights(self.model, self.sync_dir)
        llm = self.sampler.llm
        llm.collective_rpc("reload_weights", kwargs={"weights_path": str(self.sync_dir.resolve())})
        llm.reset_prefix_cache()
        seconds = time.perf_counter() - start
        logger.debug("vLLM weights reloaded in %.2f s", seconds)
        return seconds

    def close(self) -> None:
        if self.backend == "vllm":
            self.sampler.close()
