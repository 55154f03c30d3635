"""The likelihood PRM: a frozen causal LM is the verifier; a step's score is how plausible the LM finds it.

A tiny fine-tuned classification head cannot check arithmetic that its backbone gets wrong, and on the
offline task it does not even use what the backbone knows: its step scores rank a problem's samples at
chance while the same LM's token log-likelihoods rank them well. This PRM reads that knowledge directly.
For every step it computes features of the LM's log-probabilities of the step's own tokens (the prompt
and the earlier steps are the context, exactly as the policy wrote them) and maps them to P(step
correct) with a logistic model fitted on step labels (``prm train --head likelihood``: seconds; the LM
is never updated). It works as well as the verifier LM computes: use an LM stronger than the policy.

Features of step k (log-probabilities are natural logs of each token given everything before it):

- ``min_logprob``, ``mean_logprob``: over the step's tokens (the separator before it excluded);
- ``min_number_logprob``: over its tokens that hold a digit (``min_logprob`` when there is none);
- ``prefix_min_logprob``, ``prefix_min_number_logprob``: the same minima over steps 0..k, so the last
  step's features describe the whole solution (what an outcome RM, one label on the last step, needs).

A saved likelihood PRM is the LM's own folder (``AutoModelForCausalLM`` loads it) plus
``likelihood_head.json`` (:class:`LikelihoodHead`); :class:`LikelihoodScorer` scores it with the same
``score`` / ``score_batch`` calls as :class:`prm.model.scoring.PRMScorer`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from prm.lm import load_lm, to_device
from prm.model.modeling import read_json_fields, warn_if_prompt_changed, write_json_fields
from prm.model.scorer import ScorerBase, check_item, length_batches, pad_right
from prm.model.tags import encode_pieces
from prm.prompts import PLAIN_TEMPLATE
from prm.runtime import device_map_for, inference_dtype, resolve_device

__all__ = ["FEATURES", "HEAD_FILE", "LikelihoodHead", "LikelihoodScorer", "StepFeaturizer", "fit_head",
           "is_likelihood_prm", "standardise"]

logger = logging.getLogger(__name__)

HEAD_FILE = "likelihood_head.json"
FEATURES = ("min_logprob", "mean_logprob", "min_number_logprob", "prefix_min_logprob",
            "prefix_min_number_logprob")


def is_likelihood_prm(folder: str | Path) -> bool:
    """True when ``folder`` holds a likelihood PRM (has ``likelihood_head.json``)."""
    return (Path(folder) / HEAD_FILE).is_file()


@dataclass
class LikelihoodHead:
    """The fitted logistic model and what scoring needs to rebuild the LM's inputs."""

    weights: list[float]
    bias: float
    mean: list[float]
    scale: list[float]
    features: list[str] = field(default_factory=lambda: list(FEATURES))
    objective: Literal["process", "outcome"] = "process"
    step_separator: str = "\n\n"
    segmentation: str = "blank_line"  # data.segment mode that splits raw text into steps
    prompt_template: str = PLAIN_TEMPLATE
    uses_chat_template: bool = False
    max_length: int = 1024
    format_version: int = 1

    def probabilities(self, step_features: Sequence[Sequence[float]]) -> list[float]:
        """P(step correct) for each step's feature vector."""
        out = []
        for vector in step_features:
            z = self.bias + sum(w * (x - m) / s for w, x, m, s in
                                zip(self.weights, vector, self.mean, self.scale, strict=True))
            out.append(1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z)))
        return out

    def save(self, folder: str | Path) -> Path:
        return write_json_fields(self, Path(folder) / HEAD_FILE)

    @classmethod
    def load(cls, folder: str | Path) -> LikelihoodHead:
        path = Path(folder) / HEAD_FILE
        head = read_json_fields(cls, path)
        if list(head.features) != list(FEATURES):
            raise ValueError(f"{path}: features {head.features} differ from this version's {list(FEATURES)}")
        if not len(head.weights) == len(head.mean) == len(head.scale) == len(FEATURES):
            raise ValueError(f"{path}: weights, mean and scale need {len(FEATURES)} values each")
        return head

    def check_prompt(self, tokenizer: Any) -> None:
        warn_if_prompt_changed(tokenizer, self.prompt_template)


def standardise(vectors: Sequence[Sequence[float]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(standardised vectors, mean, scale) of feature vectors, as the head stores them."""
    x = torch.tensor(vectors, dtype=torch.float64)
    mean, scale = x.mean(0), x.std(0, unbiased=False).clamp(min=1e-6)
    return (x - mean) / scale, mean, scale


def fit_head(vectors: Sequence[Sequence[float]], labels: Sequence[float], l2: float = 1e-3,
             fixed_weights: Sequence[float] | None = None, **meta: Any) -> LikelihoodHead:
    """Logistic regression of ``labels`` (in [0, 1], soft allowed) on standardised ``vectors`` (L-BFGS, L2);
    with ``fixed_weights`` (a pairwise fit's) only the bias is fitted."""
    if not vectors:
        raise ValueError("no labelled step to fit the likelihood head on")
    z, mean, scale = standardise(vectors)
    y = torch.tensor(labels, dtype=torch.float64)
    fixed = fixed_weights is not None
    weights = torch.tensor(list(fixed_weights), dtype=torch.float64) if fixed else \
        torch.zeros(z.shape[1], dtype=torch.float64, requires_grad=True)
    bias = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([bias] if fixed else [weights, bias], max_iter=500, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(z @ weights + bias, y) + l2 * weights.square().sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return LikelihoodHead(weights=weights.detach().tolist(), bias=float(bias.detach()), mean=mean.tolist(),
                          scale=scale.tolist(), **meta)


class StepFeaturizer:
    """Per-step log-likelihood features (:data:`FEATURES`) of solutions under a causal LM."""

    def __init__(self, model: Any, tokenizer: Any, separator: str = "\n\n", max_length: int | None = None,
                 device: torch.device | None = None) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.separator = separator
        self.device = device or next(model.parameters()).device
        positions = getattr(model.config, "max_position_embeddings", None)
        self.max_length = min(x for x in (max_length, positions) if x) if (max_length or positions) else 1024
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self._separator_ids = tokenizer(separator, add_special_tokens=False)["input_ids"] if separator else []
        vocab = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
        self._number_token = torch.tensor([any(ch.isdigit() for ch in str(tok)) for tok in vocab])

    def _encode(self, problem: str, steps: Sequence[str]) -> tuple[list[int], list[tuple[int, int]]]:
        """Token ids of prompt + steps, and each step's own token span (separator excluded) that fits.

        An empty step has no tokens of its own: its span is its separator, or (the first step) the last
        prompt token, so every step that fits gets finite features.
        """
        prompt_ids, step_ids = encode_pieces(self.tokenizer, problem, steps, self.separator)
        ids, spans = list(prompt_ids), []
        for i, piece in enumerate(step_ids):
            skip = len(self._separator_ids) if i and piece[: len(self._separator_ids)] == self._separator_ids else 0
            if len(ids) + len(piece) > self.max_length or (not piece and len(ids) < 2):
                break
            if len(piece) > skip:
                spans.append((len(ids) + skip, len(ids) + len(piece)))
            else:
                spans.append((len(ids), len(ids) + len(piece)) if piece else (len(ids) - 1, len(ids)))
            ids += piece
        return ids, spans

    @torch.no_grad()
    def _token_logprobs(self, batch: Sequence[list[int]]) -> torch.Tensor:
        """[B, T] log p(token t | tokens < t) (position 0 and padding are 0), right-padded."""
        ids, mask = pad_right(batch, self.pad_id)
        logits = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device)).logits
        logprobs = torch.log_softmax(logits[:, :-1].float(), dim=-1).gather(-1, ids[:, 1:, None].to(self.device))
        out = torch.zeros(ids.shape, dtype=torch.float32)
        out[:, 1:] = logprobs[..., 0].cpu()
        return out

    def _step_vectors(self, ids: list[int], spans: list[tuple[int, int]], logprobs: torch.Tensor) -> list[list[float]]:
        vectors: list[list[float]] = []
        prefix_min = prefix_number_min = math.inf
        for start, end in spans:
            values = logprobs[start:end]
            numbers = values[self._number_token[torch.tensor(ids[start:end])]]
            low = float(values.min())
            number_low = float(numbers.min()) if len(numbers) else low
            prefix_min, prefix_number_min = min(prefix_min, low), min(prefix_number_min, number_low)
            vectors.append([low, float(values.mean()), number_low, prefix_min, prefix_number_min])
        return vectors

    def features(self, items: Sequence[tuple[str, Sequence[str]]], batch_size: int = 16
                 ) -> list[list[list[float]]]:
        """For each (problem, steps): one feature vector per step that fits in ``max_length``."""
        encoded = [self._encode(problem, steps) for problem, steps in items]
        results: list[list[list[float]]] = [[] for _ in encoded]
        lengths, has_steps = [len(ids) for ids, _ in encoded], [bool(spans) for _, spans in encoded]
        for chunk in length_batches(lengths, batch_size, has_steps):
            logprobs = self._token_logprobs([encoded[i][0] for i in chunk])
            for row, index in enumerate(chunk):
                ids, spans = encoded[index]
                results[index] = self._step_vectors(ids, spans, logprobs[row])
        return results


class LikelihoodScorer(ScorerBase):
    """Step scores from a likelihood PRM folder; the same ``score``/``score_batch`` calls as ``PRMScorer``."""

    format = "prm_math_likelihood"

    def __init__(self, model_path: str | Path, device: str = "auto", dtype: torch.dtype | None = None,
                 batch_size: int = 16, max_length: int | None = None) -> None:
        self.config = LikelihoodHead.load(model_path)
        self.device = resolve_device(device)
        # float32 unless asked, as in training: the head was fitted on float32 log-probabilities
        model, self.tokenizer = load_lm(model_path, inference_dtype(dtype or "float32", self.device),
                                        device_map=device_map_for(device))
        self.model = to_device(model, self.device).eval()
        self.batch_size = batch_size
        self.featurizer = StepFeaturizer(self.model, self.tokenizer, self.config.step_separator,
                                         max_length or self.config.max_length, self.device)
        self.max_length = self.featurizer.max_length
        self.config.check_prompt(self.tokenizer)

    def score_batch(self, items: Sequence[tuple[str, Sequence[str] | str]], batch_size: int | None = None
                    ) -> list[list[float | None]]:
        """P(correct) of every step of many (problem, steps or text) pairs; None for steps past max_length."""
        pairs = [check_item(index, item) for index, item in enumerate(items)]
        steps = [self.steps_of(solution) for _, solution in pairs]
        vectors = self.featurizer.features([(problem, s) for (problem, _), s in zip(pairs, steps, strict=True)],
                                           batch_size or self.batch_size)
        return [[*self.config.probabilities(v), *[None] * (len(s) - len(v))] for v, s in zip(vectors, steps,
                                                                                             strict=True)]
