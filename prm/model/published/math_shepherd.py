"""Math-Shepherd's token PRM: a causal LM whose next-token probabilities at a step tag are the step scores.

Published checkpoint: ``peiyi9979/math-shepherd-mistral-7b-prm`` (Wang et al. 2024, "Math-Shepherd: Verify
and Reinforce LLMs Step-by-step without Human Annotations", arXiv:2312.08935), a Mistral-7B fine-tuned to
predict ``+`` (good step) or ``-`` (bad step) after each step tag ``ки``. The recipe of its model card::

    good_token, bad_token, step_tag = "+", "-", "ки"
    candidate_tokens = tokenizer.encode(f"{good_token} {bad_token}")[1:]      # [648, 387]: drop the BOS
    step_tag_id = tokenizer.encode(f"{step_tag}")[-1]                         # 12902
    output = "Step 1: ... ки\\nStep 2: ... ки"                                 # each step + " ки", "\\n" between
    input_id = torch.tensor([tokenizer.encode(f"{question} {output}")])       # BOS + question + " " + output
    logits = model(input_id).logits[:, :, candidate_tokens]
    step_scores = logits.softmax(dim=-1)[:, :, 0][input_id == step_tag_id]    # P("+") at every tag

:class:`MathShepherdScorer` builds that text from (problem, steps): ``problem + " " + step_1 + " ки" + "\\n" +
step_2 + " ки" ...`` (``step_separator`` "\\n"; an optional ``step_prefix`` such as ``"Step {n}: "`` writes the
``Step k:`` markers of the training data; a trailing tag already on a step is not doubled). It reads the
inserted tags by their character offsets, so a literal ``ки`` inside the problem or a step is never read as a
step end (the card's ``input_id == step_tag_id`` would read it). One forward per solution, batched; the
two-way softmax runs in float32 (the card's in the model's dtype). Where the tokenizer transformers picks
breaks the card's premise (``encode("ки")[-1]`` never follows a step: transformers 5 reads a Mistral-typed
config's lone ``tokenizer.model`` without sentencepiece's dummy prefix), the LlamaTokenizer the checkpoint
declares is used instead, with a warning; failing that, load refuses.

Detection: the config is a plain causal LM (its hub page tags it ``llama``; the card calls it Mistral) with the
stock Mistral tokenizer, where ``ки`` is an ordinary token, so the tokenizer alone cannot tell it from any
Mistral. :func:`detect` wants the published name (``math-shepherd`` / ``math_shepherd`` in ``_name_or_path``,
the folder name or a hub-cache ``models--owner--name`` folder), a ``*ForCausalLM`` architecture, no
``prm train`` files, and ``ки`` in ``tokenizer.json`` when there is one (the published repo ships only
``tokenizer.model``). Any other causal LM trained on this recipe: ``--prm-format math_shepherd``.

Loading and the batched readout at the tag positions are :mod:`prm.model.published.causal`'s (shared with
:mod:`prm.model.published.rlhflow`); the name and config tests are :mod:`prm.model.published.common`'s.
``backend="vllm"`` reads the same tag positions from a vLLM engine
(:class:`prm.model.published.vllm_pooling.CandidateEngine`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prm.model.published import common
from prm.model.published.causal import PositionScorer, check_segmentation, config_from_options, load_for_backend

__all__ = ["SUMMARY", "MathShepherdConfig", "MathShepherdScorer", "candidate_ids", "detect", "load"]

logger = logging.getLogger(__name__)

SUMMARY = "Math-Shepherd token PRM (peiyi9979/math-shepherd-mistral-7b-prm): P('+') vs '-' at each ' ки' step tag"
NAMES = ("math-shepherd", "math_shepherd", "mathshepherd")


@common.detector
def detect(folder: Path) -> bool:
    """A Math-Shepherd PRM by its published name, a causal-LM config and (with a tokenizer.json) the ``ки`` tag.
    Config files only; never raises (a malformed file is another format's or none)."""
    if not common.is_causal_lm(folder) or not any(name in common.name_of(folder) for name in NAMES):
        return False
    if not (folder / "tokenizer.json").is_file():
        return True  # the published repo: tokenizer.model (sentencepiece) only
    return common.has_token(folder, "ки") or common.has_token(folder, "▁ки")


@dataclass
class MathShepherdConfig:
    """How steps become the PRM's text and which tokens it reads (load options of the same names)."""

    step_tag: str = "ки"
    good_token: str = "+"
    bad_token: str = "-"
    step_separator: str = "\n"  # between one step's tag and the next step
    step_prefix: str = ""  # before each step; ``{n}`` is the step number (e.g. "Step {n}: ")
    segmentation: str = "blank_line"  # data.segment mode that splits raw text into steps

    def __post_init__(self) -> None:
        check_segmentation(self.segmentation)
        for name in ("step_tag", "good_token", "bad_token"):
            if not str(getattr(self, name)).strip():
                raise ValueError(f"{name} must not be empty")
        try:
            self.step_prefix.format(n=1)
        except (KeyError, IndexError, ValueError) as error:
            raise ValueError(f"step_prefix {self.step_prefix!r}: only {{n}} may be formatted ({error})") from None

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> MathShepherdConfig:
        """From load options (``\\n`` and ``\\t`` written as two characters read as the characters)."""
        return config_from_options(cls, options, "the Math-Shepherd PRM")


def candidate_ids(tokenizer: Any, good: str, bad: str) -> list[int]:
    """The card's ``tokenizer.encode(f"{good} {bad}")[1:]`` (its leading BOS dropped): one id per token."""
    ids = list(tokenizer.encode(f"{good} {bad}"))
    if ids and ids[0] == tokenizer.bos_token_id:
        ids = ids[1:]
    if len(ids) != 2:
        raise ValueError(f"good/bad tokens {good!r} {bad!r} encode to {len(ids)} tokens, not one each "
                         f"({tokenizer.convert_ids_to_tokens(ids)})")
    return ids


def _tag_positions(offsets: Sequence[tuple[int, int]], ids: Sequence[int], spans: Sequence[tuple[int, int]],
                   tag_id: int) -> list[int | None]:
    """The index of the ``tag_id`` token that covers each inserted tag's characters (None where none does)."""
    positions: list[int | None] = [None] * len(spans)
    k = 0
    for index, ((start, end), token) in enumerate(zip(offsets, ids, strict=True)):
        while k < len(spans) and spans[k][1] <= start:
            k += 1
        if k == len(spans):
            break
        if token == tag_id and start < spans[k][1] and end > spans[k][0]:
            positions[k] = index
    return positions


class MathShepherdScorer(PositionScorer):
    """P("+") at each step tag of a Math-Shepherd PRM; the same ``score``/``score_batch`` as every scorer."""

    format = "math_shepherd"
    config: MathShepherdConfig

    def __init__(self, model: Any, tokenizer: Any, device: Any, config: MathShepherdConfig | None = None,
                 batch_size: int = 16, max_length: int | None = None) -> None:
        super().__init__(model, tokenizer, device, config or MathShepherdConfig(), batch_size, max_length)
        self.candidates = candidate_ids(tokenizer, self.config.good_token, self.config.bad_token)
        self.tag_id = tokenizer.encode(self.config.step_tag)[-1]  # the card's encode(step_tag)[-1]

    def layout(self, problem: str, steps: Sequence[str]) -> tuple[str, list[tuple[int, int]]]:
        """The PRM's text for one solution and each inserted tag's character span."""
        cfg = self.config
        text, spans = f"{problem} ", []
        for n, step in enumerate(steps, 1):
            body = step.strip()
            if body.endswith(cfg.step_tag):
                body = body[: -len(cfg.step_tag)].rstrip()
            text += (cfg.step_separator if n > 1 else "") + cfg.step_prefix.format(n=n) + body + " "
            spans.append((len(text), len(text) + len(cfg.step_tag)))
            text += cfg.step_tag
        return text, spans

    def encode(self, problem: str, steps: Sequence[str]) -> tuple[list[int], list[int | None]]:
        """Token ids (BOS first, cut at ``max_length``) and each step's tag position (None past the cut)."""
        text, spans = self.layout(problem, steps)
        encoding = self.tokenizer(text, return_offsets_mapping=True)
        ids = list(encoding["input_ids"])
        positions = _tag_positions(encoding["offset_mapping"], ids, spans, self.tag_id)
        if any(p is None for p in positions):
            logger.warning("a step tag %r did not tokenise to its id %d (merged with the step's text?): that "
                           "step scores None", self.config.step_tag, self.tag_id)
        return ids[: self.max_length], [p if p is not None and p < self.max_length else None for p in positions]

def _tag_survives(tokenizer: Any, tag: str) -> bool:
    """The card's premise: ``encode(step_tag)[-1]`` is the id the tag gets after a step's text."""
    return tokenizer.encode(tag)[-1] in tokenizer.encode(f"Step 1: 1 + 1 = 2. {tag}\nStep 2: done. {tag}")


def _matching_tokenizer(name_or_folder: Path | str, tokenizer: Any, tag: str) -> Any:
    """``tokenizer``, or the sentencepiece LlamaTokenizer the checkpoint declares where the one transformers
    picked breaks the premise (transformers 5 loads a Mistral-typed config's lone ``tokenizer.model`` without
    sentencepiece's dummy prefix: ``ки`` alone and ``" ки"`` in text then differ)."""
    if _tag_survives(tokenizer, tag):
        return tokenizer
    from transformers import LlamaTokenizer

    try:
        fallback = LlamaTokenizer.from_pretrained(str(name_or_folder))
    except (OSError, ValueError, TypeError) as error:
        logger.debug("no LlamaTokenizer for %s: %s", name_or_folder, error)
        fallback = None
    if fallback is None or not _tag_survives(fallback, tag):
        raise ValueError(f"{name_or_folder}: the step tag {tag!r} alone tokenises to "
                         f"{tokenizer.convert_ids_to_tokens(tokenizer.encode(tag))}, and that last id never follows "
                         "a step: this tokenizer cannot read the recipe's tags (set step_tag)")
    logger.warning("%s: %s splits the step tag %r differently alone and in text; using LlamaTokenizer (the "
                   "sentencepiece tokenizer the checkpoint declares)", name_or_folder, type(tokenizer).__name__, tag)
    if fallback.pad_token_id is None:
        fallback.pad_token = fallback.eos_token
    return fallback


def load(name_or_folder: Path | str, *, device: Any = "auto", dtype: Any = None, batch_size: int = 16,
         max_length: int | None = None, backend: str = "hf", **options: Any) -> MathShepherdScorer:
    """A Math-Shepherd PRM from a folder or hub id; options: step_tag, good_token, bad_token, step_separator,
    step_prefix, segmentation (see :class:`MathShepherdConfig`). ``backend="vllm"``: read by a vLLM engine."""
    config = MathShepherdConfig.from_options(options)
    model, tokenizer, device = load_for_backend(name_or_folder, backend, device, dtype, "Math-Shepherd PRM")
    tokenizer = _matching_tokenizer(name_or_folder, tokenizer, config.step_tag)
    scorer = MathShepherdScorer(model, tokenizer, device, config, batch_size, max_length)
    if backend == "vllm":
        scorer.use_vllm(name_or_folder, dtype, max_length)
    return scorer
