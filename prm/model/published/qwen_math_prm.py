"""Qwen2.5-Math-PRM (Qwen/Qwen2.5-Math-PRM-7B, Qwen/Qwen2.5-Math-PRM-72B), loaded natively, without its remote code.

The checkpoint (``architectures: ["Qwen2ForProcessRewardModel"]``, ``model_type: qwen2``) is a Qwen2 decoder saved
under ``model.*`` and a two-class head ``score = Sequential(Linear(hidden, hidden), ReLU(), Linear(hidden, 2))``
saved as ``score.0.weight/bias`` and ``score.2.weight/bias`` (vLLM's ``Qwen2ForProcessRewardModel`` loads the same
names). Its ``auto_map`` points at ``modeling_qwen2_rm.py``; this module never runs that code: it builds
transformers' ``Qwen2Model`` from the folder's config, loads the ``model.*`` weights into it (sharded checkpoints
through ``model.safetensors.index.json``) and the ``score.*`` tensors into a plain ``nn.Sequential``.

The recipe, from the model card (huggingface.co/Qwen/Qwen2.5-Math-PRM-7B, "Quick Start")::

    system = "Please reason step by step, and put your final answer within \\\\boxed{}."
    messages = [{"role": "system", "content": system},
                {"role": "user", "content": problem},
                {"role": "assistant", "content": "<extra_0>".join(steps) + "<extra_0>"}]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)
    input_ids = tokenizer.encode(text)
    step_sep_id = tokenizer.encode("<extra_0>")[0]
    # step score = softmax(logits)[..., 1] at every position where input_ids == step_sep_id

Steps are split on blank lines (the card: "We recommend using double line breaks"). One forward per solution;
a step whose ``<extra_0>`` lies past ``max_length`` scores None. A literal ``<extra_0>`` inside the problem or a
step would add a step position the recipe does not expect: it is removed, with a warning.

The backbone, the weight reading and the batching are :mod:`prm.model.published.backbone`'s (shared with
:mod:`prm.model.published.skywork_prm`). ``backend="vllm"`` (``prm score --backend vllm``) runs the same input
through vLLM's pooling runner instead: vLLM implements ``Qwen2ForProcessRewardModel`` natively, and its STEP
pooler with ``step_tag_id`` returns the softmaxed head output at each ``<extra_0>``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from prm.model.published.backbone import Encoded, HeadOnBackboneScorer, load_checkpoint
from prm.model.published.common import architectures
from prm.prompts import QWEN_MATH_SYSTEM_PROMPT

__all__ = ["FORMAT", "SUMMARY", "QwenMathPRMConfig", "QwenMathPRMScorer", "detect", "load"]

logger = logging.getLogger(__name__)

FORMAT = "qwen2_5_math_prm"
ARCHITECTURE = "Qwen2ForProcessRewardModel"
STEP_TOKEN = "<extra_0>"
HEAD_KEYS = ("score.0.weight", "score.0.bias", "score.2.weight", "score.2.bias")
SUMMARY = ("Qwen2ForProcessRewardModel: Qwen/Qwen2.5-Math-PRM-7B, Qwen/Qwen2.5-Math-PRM-72B (<extra_0> after each "
           "step, softmax(score)[1] there)")


def detect(folder: Path) -> bool:
    """A Qwen2.5-Math-PRM checkpoint: ``config.json`` names the ``Qwen2ForProcessRewardModel`` architecture."""
    return ARCHITECTURE in architectures(Path(folder))


@dataclass(frozen=True)
class QwenMathPRMConfig:
    """How solutions become the model's input (the model card's recipe)."""

    system_prompt: str = QWEN_MATH_SYSTEM_PROMPT
    step_token: str = STEP_TOKEN  # appended after every step; its position is read
    segmentation: str = "blank_line"  # raw text is split on blank lines, as the card recommends
    step_separator: str = STEP_TOKEN  # what stands between two steps in the model's input


class QwenMathPRMScorer(HeadOnBackboneScorer):
    """P(step correct) = softmax(score(hidden))[1] at each ``<extra_0>`` of the card's chat-formatted input."""

    format = FORMAT
    config: QwenMathPRMConfig

    def __init__(self, model: Any, head: torch.nn.Module, tokenizer: Any, config: QwenMathPRMConfig,
                 device: torch.device, batch_size: int = 16, max_length: int | None = None) -> None:
        super().__init__(model, head, tokenizer, config, device, batch_size, max_length)
        self.step_id = tokenizer.encode(config.step_token)[0]
        if tokenizer.convert_ids_to_tokens(self.step_id) != config.step_token:
            raise ValueError(f"the tokenizer has no {config.step_token} token: not a Qwen2.5-Math-PRM tokenizer")

    def _clean(self, text: str, where: str) -> str:
        if self.config.step_token in text:
            logger.warning("%s contains %s, which marks step ends for this PRM: removed", where,
                           self.config.step_token)
            return text.replace(self.config.step_token, "")
        return text

    def encode(self, problem: str, steps: Sequence[str]) -> Encoded:
        """The card's input for one solution: token ids and the position of each step's ``<extra_0>``."""
        if not steps:
            return [], []
        token = self.config.step_token
        messages = [{"role": "system", "content": self._clean(self.config.system_prompt, "the system prompt")},
                    {"role": "user", "content": self._clean(problem, "a problem")},
                    {"role": "assistant", "content": token.join(self._clean(s, "a step") for s in steps) + token}]
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)
        ids = self.tokenizer.encode(text)
        positions = [i for i, t in enumerate(ids) if t == self.step_id]
        if len(positions) != len(steps):
            raise ValueError(f"the chat template gave {len(positions)} {token} tokens for {len(steps)} steps")
        return ids, positions

    def step_probabilities(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.head(hidden).float().softmax(-1)[:, 1]


def _head(tensors: dict[str, torch.Tensor], folder: Path) -> torch.nn.Sequential:
    hidden, labels = tensors["score.0.weight"].shape[1], tensors["score.2.weight"].shape[0]
    if labels != 2:
        raise ValueError(f"{folder}: score.2.weight has {labels} outputs; Qwen2.5-Math-PRM's head has 2")
    head = torch.nn.Sequential(torch.nn.Linear(hidden, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, labels))
    head.load_state_dict({key.removeprefix("score."): value for key, value in tensors.items()})
    return head


class QwenMathPRMVLLMScorer(QwenMathPRMScorer):
    """The same input and readout, computed by a vLLM pooling engine (``LLM(runner="pooling")``)."""

    def __init__(self, name_or_folder: str, config: QwenMathPRMConfig, dtype: str = "auto", batch_size: int = 16,
                 max_length: int | None = None, gpu_memory_utilization: float = 0.9) -> None:
        from prm.lm import load_tokenizer
        from prm.model.published.vllm_pooling import pooling_engine
        from prm.runtime import resolve_device

        self.tokenizer, self.config, self.batch_size = load_tokenizer(name_or_folder), config, batch_size
        self.step_id = self.tokenizer.encode(config.step_token)[0]
        self.llm = pooling_engine(name_or_folder, dtype=dtype, max_length=max_length,
                                  gpu_memory_utilization=gpu_memory_utilization)
        self.max_length = self.llm.llm_engine.model_config.max_model_len
        self.device = resolve_device("auto")
        self.model = self.llm.llm_engine.model_config  # has .dtype, as prm score's metrics read it
        self.pad_id = 0

    def _forward(self, encoded: Sequence[Encoded]) -> list[list[float]]:
        from vllm import PoolingParams

        outputs = self.llm.encode([{"prompt_token_ids": list(ids)} for ids, _ in encoded], use_tqdm=False,
                                  pooling_task="token_classify", pooling_params=PoolingParams(step_tag_id=self.step_id))
        return [output.outputs.data[:, 1].float().tolist() for output in outputs]

    def close(self) -> None:
        from prm.sampling.vllm_backend import shutdown

        shutdown(getattr(self, "llm", None))
        self.llm = None


def load(name_or_folder: Path | str, *, device: str | torch.device = "auto", dtype: Any = None,
         batch_size: int = 16, max_length: int | None = None, system_prompt: str | None = None,
         backend: str = "hf", **options: Any) -> QwenMathPRMScorer:
    """A scorer for a Qwen2.5-Math-PRM folder or hub id. ``system_prompt`` replaces the card's system message;
    ``backend`` is ``hf`` (transformers, any device) or ``vllm`` (vLLM's pooling runner)."""
    if options:
        raise ValueError(f"unknown option(s) for {FORMAT}: {', '.join(sorted(options))}; known: system_prompt")
    config = QwenMathPRMConfig(system_prompt=QWEN_MATH_SYSTEM_PROMPT if system_prompt is None else system_prompt)
    if backend == "vllm":
        return QwenMathPRMVLLMScorer(str(name_or_folder), config, dtype or "auto", batch_size, max_length)
    if backend != "hf":
        raise ValueError(f"unknown scoring backend {backend!r} for {FORMAT}; choose hf or vllm")
    loaded = load_checkpoint(name_or_folder, FORMAT, device, dtype, HEAD_KEYS, _head, ("score.",))
    return QwenMathPRMScorer(loaded.model, loaded.head, loaded.tokenizer, config, loaded.device, batch_size,
                             max_length)
