"""The Hugging Face backend: batched ``model.generate`` with left padding, on any device.

Rows (every prompt repeated ``n`` times) are sorted by prompt length and generated ``batch_size``
at a time. Stop strings are watched by a stopping criterion that decodes the tail of each row's
generated tokens (never the prompt), so it works with any tokenizer; the step at which a row's stop
string appeared gives its exact token count, and its text is cut before the stop string, as vLLM
does. Sampling is explicit (``top_k`` off, no repetition penalty) so a model's
``generation_config.json`` cannot change the semantics behind the caller's back.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from transformers import GenerationConfig, StoppingCriteria, StoppingCriteriaList

from prm.lm import load_lm
from prm.runtime import checkpoint_dtype, dtype_name, inference_dtype, resolve_device
from prm.sampling.base import (
    Completion,
    Sampler,
    SamplingConfig,
    check_prompts,
    cut_at_stop,
    encode_prompt,
)

__all__ = ["HFSampler"]

logger = logging.getLogger(__name__)

class _StopOnStrings(StoppingCriteria):
    """Per-row stop when the generated text (not the prompt) contains a stop string."""

    def __init__(self, tokenizer: Any, stops: list[str], prompt_len: int, rows: int) -> None:
        self.tokenizer = tokenizer
        self.stops = stops
        self.prompt_len = prompt_len
        # A stop string of k characters spans at most 4k byte-level tokens; two more for merges.
        self.window = 4 * max(len(s) for s in stops) + 2
        self.stopped_at: list[int | None] = [None] * rows

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        generated = input_ids.shape[1] - self.prompt_len
        start = input_ids.shape[1] - min(generated, self.window)
        tails = self.tokenizer.batch_decode(input_ids[:, start:].tolist(), skip_special_tokens=True)
        for row, tail in enumerate(tails):
            if self.stopped_at[row] is None and any(stop in tail for stop in self.stops):
                self.stopped_at[row] = generated
        done = [at is not None for at in self.stopped_at]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


class HFSampler(Sampler):
    """``model``: a folder or hub id (or a loaded causal LM, with ``tokenizer`` given)."""

    backend = "hf"

    def __init__(
        self,
        model: str | Any,
        *,
        tokenizer: Any | None = None,
        device: str = "auto",
        dtype: str = "auto",
        batch_size: int = 64,
        seed: int = 0,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.device = resolve_device(device)
        if isinstance(model, str):
            torch_dtype = inference_dtype(dtype, self.device, checkpoint_dtype(model))
            loaded, self.tokenizer = load_lm(model, torch_dtype, tokenizer=tokenizer)
            self.model = loaded.to(self.device)
        else:
            if tokenizer is None:
                raise ValueError("a loaded model needs its tokenizer")
            self.tokenizer, self.model = tokenizer, model.to(self.device)
        self.model.eval()
        self.precision = dtype_name(self.model.dtype)
        self.batch_size = batch_size
        eos = self.model.generation_config.eos_token_id
        eos = eos if eos is not None else self.tokenizer.eos_token_id
        self.eos_ids = set(eos if isinstance(eos, list) else [eos]) - {None}
        if not self.eos_ids:
            raise ValueError("the model has no end-of-sequence token (generation_config or tokenizer)")
        pad = self.tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else min(self.eos_ids)
        torch.manual_seed(seed)
        logger.info("HF sampler: %s on %s in %s, batch %d", getattr(model, "name_or_path", model), self.device,
                    self.precision, batch_size)

    def generate(self, prompts: list[str], n: int, params: SamplingConfig) -> list[list[Completion]]:
        check_prompts(prompts, n)
        if not prompts:
            return []
        if params.seed is not None:
            torch.manual_seed(params.seed)
        encoded = [encode_prompt(self.tokenizer, prompt) for prompt in prompts]
        rows = sorted(((i, k) for i in range(len(prompts)) for k in range(n)), key=lambda r: len(encoded[r[0]]))
        results: list[list[Completion | None]] = [[None] * n for _ in prompts]
        for start in range(0, len(rows), self.batch_size):
            batch = rows[start : start + self.batch_size]
            completions = self._generate_batch([encoded[i] for i, _ in batch], params)
            for (i, k), completion in zip(batch, completions, strict=True):
                results[i][k] = completion
        return results  # type: ignore[return-value]

    def _generation_config(self, params: SamplingConfig) -> GenerationConfig:
        sampling: dict[str, Any] = dict(do_sample=False)  # greedy; sampling flags would only draw warnings
        if not params.greedy:
            sampling = dict(do_sample=True, temperature=params.temperature, top_p=params.top_p, top_k=0, typical_p=1.0)
        return GenerationConfig(
            **sampling, repetition_penalty=1.0, no_repeat_ngram_size=0, num_beams=1,
            max_new_tokens=params.max_tokens, min_new_tokens=0, eos_token_id=sorted(self.eos_ids),
            pad_token_id=self.pad_id, bos_token_id=self.tokenizer.bos_token_id,
        )

    @torch.inference_mode()
    def _generate_batch(self, batch: list[list[int]], params: SamplingConfig) -> list[Completion]:
        width = max(len(ids) for ids in batch)
        input_ids = torch.tensor([[self.pad_id] * (width - len(ids)) + ids for ids in batch], device=self.device)
        mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in batch], device=self.device)
        stops = params.stop_strings
        watcher = _StopOnStrings(self.tokenizer, stops, width, len(batch)) if stops else None
        output = self.model.generate(
            input_ids=input_ids, attention_mask=mask, generation_config=self._generation_config(params),
            stopping_criteria=StoppingCriteriaList([watcher] if watcher else []),
        )
        generated = output[:, width:].tolist()
        return [self._completion(row, tokens, watcher, stops) for row, tokens in enumerate(generated)]

    def _completion(self, row: int, tokens: list[int], watcher: _StopOnStrings | None, stops: list[str]) -> Completion:
        eos_at = next((j + 1 for j, token in enumerate(tokens) if token in self.eos_ids), None)
        stop_at = watcher.stopped_at[row] if watcher is not None else None
        if stop_at is not None and (eos_at is None or stop_at <= eos_at):
            text, found = cut_at_stop(self.tokenizer.decode(tokens[:stop_at], skip_special_tokens=True), stops)
            return Completion(text, stop_at, "stop", found, tokens[:stop_at])
        if eos_at is not None:
            return Completion(self.tokenizer.decode(tokens[:eos_at], skip_special_tokens=True), eos_at, "stop",
                              token_ids=tokens[:eos_at])
        return Completion(self.tokenizer.decode(tokens, skip_special_tokens=True), len(tokens), "length",
                          token_ids=tokens)

    def close(self) -> None:
        self.model = None
