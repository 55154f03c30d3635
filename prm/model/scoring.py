"""Score solutions with a saved PRM: one forward pass per solution reads P(step correct) at every tag.

::

    from prm.model import PRMScorer, load_scorer
    scorer = PRMScorer("runs/prm-exact")
    scorer.score(problem, ["step one ...", "step two ... \\boxed{5}"])   # [0.93, 0.88]
    scorer.score(problem, "step one ...\\n\\nstep two ...")              # raw text: split into steps
    scorer.score_batch([(problem, steps_or_text), ...])                  # padding-aware batches
    load_scorer(folder)              # any format (prm.model.formats): PRMScorer for a `prm train` head

One solution score from step scores: :func:`eval.aggregate.solution_score` (``min``, ``product``, ``last``,
``mean``), the registry the best-of-N harness, the rewards and the server share.

``score_batch`` sorts solutions by length so each batch pads little, pads on the right (a causal
backbone's earlier positions never see the padding) and runs one forward per batch. Steps that do not
fit in ``max_length`` get None (aggregations skip them).

Scoring with plain transformers, without this package (a folder written by ``prm train``)::

    import json, torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    cfg = json.load(open(f"{folder}/prm_config.json"))
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForTokenClassification.from_pretrained(folder).eval()
    if cfg["uses_chat_template"]:
        message = {"role": "user", "content": cfg["prompt_template"].format(problem=problem)}
        ids = tok(tok.apply_chat_template([message], tokenize=False, add_generation_prompt=True),
                  add_special_tokens=False)["input_ids"]
    else:
        ids = tok(cfg["prompt_template"].format(problem=problem))["input_ids"]
    tags = []
    for i, step in enumerate(steps):                      # steps: the solution split on blank lines
        ids += tok(step if i == 0 else cfg["step_separator"] + step, add_special_tokens=False)["input_ids"]
        tags.append(len(ids))
        ids.append(cfg["tag_token_id"])                   # insert the tag id; do not tokenise it from text
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0, tags]
    scores = logits.softmax(-1)[:, 1] if cfg["head"] == "two_class" else logits[:, 0].sigmoid()
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from prm.lm import load_lm, to_device
from prm.model.modeling import PRMConfig, step_probabilities
from prm.model.scorer import ScorerBase, StepsOrText, check_item, length_batches, pad_right
from prm.model.tags import TaggedSequence, encode_pieces, place_labels
from prm.runtime import checkpoint_dtype, device_map_for, inference_dtype, resolve_device

__all__ = ["PRMScorer"]

logger = logging.getLogger(__name__)

class PRMScorer(ScorerBase):
    """Step scores from a PRM folder written by ``prm train`` (or any folder with ``prm_config.json``)."""

    format = "prm_math"

    def __init__(self, model_path: str | Path, device: str = "auto", dtype: torch.dtype | None = None,
                 batch_size: int = 16, max_length: int | None = None) -> None:
        run_on = resolve_device(device)
        dtype = inference_dtype(dtype, run_on, checkpoint_dtype(str(model_path)))
        model, tokenizer = load_lm(model_path, dtype, task="token_classification", device_map=device_map_for(device))
        self._setup(model, tokenizer, PRMConfig.load(model_path), run_on, batch_size, max_length)

    @classmethod
    def from_model(cls, model: Any, tokenizer: Any, prm_config: PRMConfig, device: str = "auto",
                   batch_size: int = 16, max_length: int | None = None) -> PRMScorer:
        """A scorer around an already loaded model and tokenizer (training's evaluation, tests)."""
        scorer = cls.__new__(cls)
        scorer._setup(model, tokenizer, prm_config, resolve_device(device), batch_size, max_length)
        return scorer

    def _setup(self, model: Any, tokenizer: Any, prm_config: PRMConfig, device: torch.device, batch_size: int,
               max_length: int | None) -> None:
        self.model = to_device(model, device).eval()
        self.tokenizer = tokenizer
        self.config = prm_config
        self.device = device
        self.batch_size = batch_size
        positions = getattr(model.config, "max_position_embeddings", None)
        self.max_length = max_length or positions or prm_config.max_length
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        prm_config.check_prompt(tokenizer)

    def _pieces(self, problem: str, steps: Sequence[str]) -> tuple[list[int], list[list[int]]]:
        return encode_pieces(self.tokenizer, problem, steps, self.config.step_separator, self.config.tag_token)

    def encode(self, problem: str, steps_or_text: StepsOrText) -> TaggedSequence:
        """The model's input for one solution: prompt, steps and a tag after each step."""
        prompt_ids, step_ids = self._pieces(problem, self.steps_of(steps_or_text))
        return place_labels(prompt_ids, step_ids, self.config.tag_token_id, None, self.max_length)

    @torch.no_grad()
    def forward_tags(self, sequences: Sequence[TaggedSequence]) -> list[list[float]]:
        """One padded forward over ``sequences``; P(correct) at each sequence's tag positions."""
        if not sequences:
            return []
        ids, mask = pad_right([seq.input_ids for seq in sequences], self.pad_id)
        logits = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device)).logits
        probs = step_probabilities(logits, self.config.head).cpu()
        return [probs[row, seq.tag_positions].tolist() for row, seq in enumerate(sequences)]

    def score_encoded(self, encoded: Sequence[TaggedSequence], batch_size: int | None = None
                      ) -> list[list[float | None]]:
        """Scores of pre-encoded solutions, longest first in batches of ``batch_size``; None past max_length."""
        size = batch_size or self.batch_size
        # A solution whose prompt leaves no room for its first step has nothing to read: no forward at all
        # (its prompt alone may be far longer than the model's context).
        results: list[list[float | None]] = [[None] * seq.num_steps for seq in encoded]
        for chunk in length_batches([len(seq.input_ids) for seq in encoded], size,
                                    [bool(seq.tag_positions) for seq in encoded]):
            for index, scores in zip(chunk, self.forward_tags([encoded[i] for i in chunk]), strict=True):
                results[index] = [*scores, *[None] * (encoded[index].num_steps - len(scores))]
        truncated = sum(seq.truncated for seq in encoded)
        if truncated:
            logger.warning("%d of %d solutions exceed %d tokens: their last steps score None", truncated,
                           len(encoded), self.max_length)
        return results

    def score_batch(self, items: Sequence[tuple[str, StepsOrText]], batch_size: int | None = None
                    ) -> list[list[float | None]]:
        """Step scores for many (problem, steps or text) pairs, one forward pass per solution.

        A malformed item (not a pair, a problem that is not a string, a step that is not one, text that
        is not valid Unicode) raises ValueError naming the item.
        """
        checked = [check_item(index, item) for index, item in enumerate(items)]
        return self.score_encoded([self.encode(problem, steps) for problem, steps in checked], batch_size)

    def encode_prefixes(self, problem: str, steps_or_text: StepsOrText) -> list[TaggedSequence]:
        """One sequence per step prefix (prompt + steps 1..j with their tags) that fits in max_length."""
        prompt_ids, step_ids = self._pieces(problem, self.steps_of(steps_or_text))
        prefixes = []
        for j in range(1, len(step_ids) + 1):
            seq = place_labels(prompt_ids, step_ids[:j], self.config.tag_token_id, None, self.max_length)
            if seq.truncated:
                break
            prefixes.append(seq)
        return prefixes

    def score_per_prefix(self, problem: str, steps_or_text: StepsOrText) -> list[float]:
        """The slow reference: one forward per step prefix, reading the last tag each time."""
        return [self.forward_tags([seq])[0][-1] for seq in self.encode_prefixes(problem, steps_or_text)]
