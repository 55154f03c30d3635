"""RLHFlow's chat PRMs: a Llama-3.1 chat model that answers ``+`` (good step) or ``-`` (bad step) after each step.

Published checkpoints: ``RLHFlow/Llama3.1-8B-PRM-Deepseek-Data`` and ``RLHFlow/Llama3.1-8B-PRM-Mistral-Data``
(Xiong, Zhang, Jiang, Zhang 2024, "An Implementation of Generative PRM"; Llama-3.1-8B-Instruct fine-tuned on
Math-Shepherd-style hard labels; code: github.com/RLHFlow/RLHF-Reward-Modeling, ``math-rm/``). The recipe of
``math-rm/prm_evaluate.py``::

    plus_tag_id, minus_tag_id = tokenizer.encode("+")[-1], tokenizer.encode("-")[-1]
    conversation = []
    for k, step in enumerate(steps):                      # each step .strip()ped
        text = prompt + " " + step if k == 0 else step    # the question rides in the first user turn
        conversation.append({"content": text, "role": "user"})
        conversation.append({"content": "+", "role": "assistant"})
        input_ids = tokenizer.apply_chat_template(conversation, return_tensors="pt")
        logits = model(input_ids).logits[:, -3, [plus_tag_id, minus_tag_id]]   # "-3": the position predicting "+"
        step_score = logits.softmax(dim=-1)[:, 0]         # P("+")

that is one forward per step prefix. With the Llama-3.1 template a prefix conversation ends
``...<|start_header_id|>assistant<|end_header_id|>\\n\\n`` ``+`` ``<|eot_id|>``, and its rendering is a prefix
of the whole conversation's (every turn closes with ``<|eot_id|>``, a special token, so the token ids are a
prefix too). :class:`RLHFlowScorer` therefore runs ONE forward over the whole conversation and reads, for
step k, the position that predicts the ``+`` of the k-th assistant turn (the token before it: the card's -3 of
the k-th prefix). Causal attention makes this equal to the per-prefix loop. A template whose prefixes are not
prefixes of the whole, or whose ``+`` reply is not a token of its own, is refused at load.

Raw text is split with ``segmentation`` (blank lines, the Deepseek-data layout; their Mistral-data files split
on ``"ки\\n"``: pass such steps as a list). Steps whose prefix conversation exceeds ``max_length`` score None.

Detection: :func:`detect` wants a published name (``rlhflow`` and ``prm``, or one of the two model names, in
``_name_or_path``, the folder name or a hub-cache folder), a ``*ForCausalLM`` config and no ``prm train`` files;
any other chat model trained this way: ``--prm-format rlhflow_prm``. Loading and the batched readout at the
reply positions are :mod:`prm.model.published.causal`'s (shared with :mod:`prm.model.published.math_shepherd`);
``backend="vllm"`` reads the same positions from a vLLM engine (:mod:`prm.model.published.vllm_pooling`).
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prm.model.published import common
from prm.model.published.causal import PositionScorer, check_segmentation, config_from_options, load_for_backend

__all__ = ["SUMMARY", "RLHFlowConfig", "RLHFlowScorer", "conversation", "detect", "load"]

logger = logging.getLogger(__name__)

SUMMARY = ("RLHFlow chat PRMs (RLHFlow/Llama3.1-8B-PRM-Deepseek-Data, -Mistral-Data): user turn per step, "
           "P('+') vs '-' of each assistant reply")
MODEL_NAMES = ("llama3.1-8b-prm-deepseek-data", "llama3.1-8b-prm-mistral-data")


@common.detector
def detect(folder: Path) -> bool:
    """An RLHFlow PRM by its published name and a causal-LM config. Config files only; never raises."""
    if not common.is_causal_lm(folder):
        return False
    name = common.name_of(folder)
    return ("rlhflow" in name and "prm" in name) or any(model in name for model in MODEL_NAMES)


@dataclass
class RLHFlowConfig:
    """Which reply tokens are read and how raw text splits into steps (load options of the same names)."""

    good_token: str = "+"
    bad_token: str = "-"
    segmentation: str = "blank_line"  # data.segment mode that splits raw text into steps
    step_separator: str = "\n\n"  # how steps join when written out as one text (each step is its own turn)

    def __post_init__(self) -> None:
        check_segmentation(self.segmentation)
        if not self.good_token.strip() or not self.bad_token.strip():
            raise ValueError("good_token and bad_token must not be empty")

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> RLHFlowConfig:
        """From load options (``\\n`` written as two characters read as a newline)."""
        return config_from_options(cls, options, "the RLHFlow PRM", escapes={"\\n": "\n"})


def conversation(problem: str, steps: Sequence[str], reply: str = "+") -> list[dict[str, str]]:
    """The chat: for each step a user turn (the problem + " " + the step for the first) and an assistant ``reply``."""
    messages: list[dict[str, str]] = []
    for k, step in enumerate(steps):
        messages.append({"content": f"{problem} {step.strip()}" if k == 0 else step.strip(), "role": "user"})
        messages.append({"content": reply, "role": "assistant"})
    return messages


class RLHFlowScorer(PositionScorer):
    """P("+") of every assistant turn of an RLHFlow PRM conversation, one forward per solution."""

    format = "rlhflow_prm"
    config: RLHFlowConfig
    default_max_length = 8192

    def __init__(self, model: Any, tokenizer: Any, device: Any, config: RLHFlowConfig | None = None,
                 batch_size: int = 16, max_length: int | None = None) -> None:
        super().__init__(model, tokenizer, device, config or RLHFlowConfig(), batch_size, max_length)
        # prm_evaluate.py: tokenizer.encode('+')[-1], tokenizer.encode('-')[-1]
        self.candidates = [tokenizer.encode(self.config.good_token)[-1], tokenizer.encode(self.config.bad_token)[-1]]
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError("the RLHFlow PRM needs its chat template (Llama-3.1's, in tokenizer_config.json); "
                             "this tokenizer has none")
        self.encode("1 + 1 = ?", ["1 + 1 = 2.", "The answer is 2."])  # refuse a template this reading cannot use

    def _render(self, messages: list[dict[str, str]]) -> str:
        return self.tokenizer.apply_chat_template(messages, tokenize=False)

    def encode(self, problem: str, steps: Sequence[str]) -> tuple[list[int], list[int | None]]:
        """The whole conversation's token ids (cut at ``max_length``) and, per step, the position whose logits
        predict its assistant reply (None where the step's prefix conversation does not fit)."""
        if not steps:
            return [], []
        messages = conversation(problem, steps, self.config.good_token)
        prefixes = [self._render(messages[: 2 * k + 2]) for k in range(len(steps))]
        whole = prefixes[-1]
        if any(not whole.startswith(prefix) for prefix in prefixes):
            raise ValueError("the chat template renders a conversation's first turns differently from the "
                             "whole conversation: one forward cannot score every step")
        encoding = self.tokenizer(whole, add_special_tokens=False, return_offsets_mapping=True)
        ids = list(encoding["input_ids"])
        ends = [end for _, end in encoding["offset_mapping"]]
        good = self.candidates[0]
        positions: list[int | None] = []
        for prefix in prefixes:
            length = bisect.bisect_right(ends, len(prefix))  # the prefix conversation's own token count
            reply = next((j for j in range(length - 1, 0, -1) if ids[j] == good), None)
            if reply is None or length - reply > 4:
                raise ValueError(f"the assistant reply {self.config.good_token!r} is not a token of its own at the "
                                 "end of its turn under this chat template and tokenizer")
            positions.append(reply - 1 if length <= self.max_length else None)
        return ids[: self.max_length], positions


def load(name_or_folder: Path | str, *, device: Any = "auto", dtype: Any = None, batch_size: int = 16,
         max_length: int | None = None, backend: str = "hf", **options: Any) -> RLHFlowScorer:
    """An RLHFlow PRM from a folder or hub id; options: good_token, bad_token, segmentation, step_separator.
    ``backend="vllm"``: the same positions read by a vLLM engine."""
    config = RLHFlowConfig.from_options(options)
    model, tokenizer, device = load_for_backend(name_or_folder, backend, device, dtype, "RLHFlow PRM")
    scorer = RLHFlowScorer(model, tokenizer, device, config, batch_size, max_length)
    if backend == "vllm":
        scorer.use_vllm(name_or_folder, dtype, max_length)
    return scorer
