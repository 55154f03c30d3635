"""Sampling backends: N solutions per prompt with vLLM or Hugging Face ``generate``, same semantics.

::

    from prm.sampling import SamplingConfig, make_sampler
    with make_sampler("auto", "runs/policy-default") as sampler:
        groups = sampler.generate(prompts, n=16, params=SamplingConfig(temperature=0.8, max_tokens=256))

Backends are imported lazily: ``prm.sampling`` itself imports neither torch nor vLLM.
"""

from __future__ import annotations

from typing import Any

from prm.sampling.base import (
    BACKENDS,
    STEP_SEPARATOR,
    Completion,
    Sampler,
    SamplingConfig,
    cut_at_stop,
    encode_prompt,
    resolve_backend,
)

__all__ = [
    "BACKENDS", "STEP_SEPARATOR", "Completion", "Sampler", "SamplingConfig",
    "cut_at_stop", "encode_prompt", "make_sampler", "resolve_backend",
]  # fmt: skip


def make_sampler(backend: str, model: str, *, seed: int = 0, **kwargs: Any) -> Sampler:
    """A sampler for ``model``: backend ``vllm``, ``hf`` or ``auto``; ``kwargs`` go to that backend's class."""
    name = resolve_backend(backend)
    if name == "vllm":
        from prm.sampling.vllm_backend import VLLMSampler

        return VLLMSampler(model, seed=seed, **kwargs)
    from prm.sampling.hf import HFSampler

    return HFSampler(model, seed=seed, **kwargs)
