"""vLLM pooling engines for ``prm score --backend vllm``: the published PRMs' step scores computed by vLLM.

Two kinds of engine, both ``LLM(runner="pooling")`` fed the token ids the HF scorer builds (so both backends
read the same input, and the same positions):

- :func:`pooling_engine`: a model vLLM implements as a pooling model (``Qwen2ForProcessRewardModel``), read
  with its own head;
- :class:`CandidateEngine`: a causal-LM PRM (Math-Shepherd, RLHFlow) converted with ``convert="classify"``:
  ``hf_overrides`` ``classifier_from_token`` (the candidate tokens, e.g. ``+`` and ``-``) with
  ``method="no_post_processing"`` make vLLM's score layer the LM head's rows of those tokens, and the
  ``token_classify`` task with the ``ALL`` token pooler softmaxes them at every position; the scorer keeps
  the step positions it chose. P(candidates[0]) there equals the HF readout's softmax over the candidates.

Formats without an engine here (value heads, token-classification heads, two-model implicit PRMs) refuse
``backend="vllm"`` in :func:`prm.model.formats.load_scorer`. vLLM is imported only when an engine starts.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["CandidateEngine", "pooling_engine"]

logger = logging.getLogger(__name__)

Encoded = tuple[list[int], list[int | None]]  # (token ids, each step's position; None where cut off)


def pooling_engine(name_or_folder: str | Path, *, dtype: str = "auto", max_length: int | None = None,
                   gpu_memory_utilization: float = 0.9, **engine_args: Any) -> Any:
    """A ``vllm.LLM`` pooling engine for the PRM (``dtype`` as :func:`prm.runtime.vllm_dtype` resolves it)."""
    from vllm import LLM

    from prm.runtime import vllm_dtype

    model = str(name_or_folder)
    return LLM(model=model, runner="pooling", dtype=vllm_dtype(dtype or "auto", model), max_model_len=max_length,
               gpu_memory_utilization=gpu_memory_utilization, seed=0, **engine_args)


class CandidateEngine:
    """A causal-LM PRM in vLLM, read as the softmax over candidate tokens' logits at chosen positions."""

    def __init__(self, name_or_folder: str | Path, tokenizer: Any, candidates: Sequence[int], *,
                 dtype: str = "auto", max_length: int | None = None, gpu_memory_utilization: float = 0.9) -> None:
        from vllm.config import PoolerConfig

        tokens = tokenizer.convert_ids_to_tokens(list(candidates))
        self.llm = pooling_engine(
            name_or_folder, dtype=dtype, max_length=max_length, gpu_memory_utilization=gpu_memory_utilization,
            convert="classify",
            hf_overrides={"classifier_from_token": tokens, "method": "no_post_processing",
                          "num_labels": len(tokens)},
            pooler_config=PoolerConfig(task="token_classify", tok_pooling_type="ALL"))
        try:
            own = self.llm.get_tokenizer().convert_tokens_to_ids(tokens)
            if list(own) != list(candidates):
                raise ValueError(f"{name_or_folder}: vLLM's tokenizer maps the candidate tokens {tokens} to {own}, "
                                 f"not {list(candidates)}: its score layer would read other tokens")
        except BaseException:
            self.close()
            raise
        self.model_config = self.llm.llm_engine.model_config  # .dtype, .max_model_len
        self.max_length: int = self.model_config.max_model_len

    def read(self, encoded: Sequence[Encoded]) -> list[list[float | None]]:
        """P(candidates[0]) at each position of each encoded solution; None positions stay None."""
        results: list[list[float | None]] = [[None] * len(positions) for _, positions in encoded]
        todo = [i for i, (ids, positions) in enumerate(encoded) if ids and any(p is not None for p in positions)]
        if not todo:
            return results
        outputs = self.llm.encode([{"prompt_token_ids": list(encoded[i][0])} for i in todo],
                                  pooling_task="token_classify", use_tqdm=False)
        for index, output in zip(todo, outputs, strict=True):
            data = output.outputs.data
            if data.shape[0] != len(encoded[index][0]):  # e.g. prefix-cached tokens left out: positions would shift
                raise RuntimeError(f"vLLM pooled {data.shape[0]} positions for a prompt of {len(encoded[index][0])} "
                                   "tokens: the step positions cannot be read (was prefix caching read?)")
            probabilities = data[:, 0].float()
            results[index] = [None if p is None else float(probabilities[p]) for p in encoded[index][1]]
        return results

    def close(self) -> None:
        from prm.sampling.vllm_backend import shutdown

        shutdown(getattr(self, "llm", None))
        self.llm = None
