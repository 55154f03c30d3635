"""Implicit PRMs: an outcome-trained causal LM read as a PRM through its log-likelihood ratio to a reference LM.

Covers PRIME-RL/EurusPRM-Stage1 and PRIME-RL/EurusPRM-Stage2 (Qwen2.5-Math-7B based causal LMs trained with
the cross-entropy implicit-PRM objective), the Llama-3.1 implicit PRMs of "Free Process Rewards without Process
Labels" (Yuan et al., arXiv 2412.01981; e.g. Windy0822/ImplicitPRM_CE), and any local implicit PRM, e.g. the
online implicit PRM that PRIME (arXiv 2502.01456) trains beside its policy.

The recipe, from the "Usage" code of the EurusPRM-Stage1/Stage2 model cards on huggingface.co:

- input: the PRM tokenizer's chat template with the problem as the user turn and the steps joined by ``"\\n\\n"``
  as the assistant turn (no generation prompt); the same token ids go through the PRM (pi) and the reference
  (pi_ref, ``Qwen/Qwen2.5-Math-7B-Instruct`` for EurusPRM) in two forward passes;
- per token t: ``lr_t = log pi(y_t | y_<t) - log pi_ref(y_t | y_<t)``;
- step boundaries: for k = 0..n, the chat template of the first k steps, stripped, plus ``"\\n\\n"`` when
  0 < k < n, is tokenised; ``e_k`` = its length - 2;
- the card's output for step k (k = 1..n) is ``q_k = beta * sum(lr_t for e_0 <= t <= e_k + 1)`` with
  ``beta = 0.001`` (``coef``): the cumulative implicit reward up to the step (the Q value of the paper's
  proposition), not a per-step difference and not a probability. The marks come from separately tokenised
  prefixes, so where the separator merges with the step's last character (Qwen's tokenizer has ``".\\n\\n"`` as
  one token) ``q_k`` also covers the first tokens of step k+1; this is kept as published.

Readouts (option ``readout``): ``q`` (default: the card's output above), ``reward`` (``q_k - q_{k-1}``, the
per-step process reward ``r^t = q^t - q^{t-1}`` of the card's text and PRIME's step reward) and ``sigmoid``
(``sigmoid(q_k)``: the CE objective's P(correct) read at each step; not on the card). ``q`` and ``reward`` are
log-ratio sums, not probabilities; rankings (min / last) and thresholds chosen on a dev set work unchanged.

Marking a local implicit PRM: put ``implicit_prm.json`` beside its config, e.g.
``{"reference": "Qwen/Qwen2.5-Math-7B-Instruct", "beta": 0.05, "readout": "reward"}`` (a relative
``reference`` path is read from the checkpoint folder). Options given to :func:`load` win over the sidecar,
which wins over the published defaults (EurusPRM: its card's reference and beta 0.001). Without any reference
:func:`load` fails before loading weights. The name and config tests are :mod:`prm.model.published.common`'s,
the weight loading :mod:`prm.model.published.causal`'s.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prm.lm import load_model
from prm.model.published.common import architectures, config_folder, detector, is_own_format, name_of, read_json
from prm.model.scorer import ScorerBase, StepsOrText, check_item, length_batches, pad_right

__all__ = ["DEFAULT_BETA", "EURUS_REFERENCE", "FORMAT", "READOUTS", "SIDECAR", "SUMMARY", "ImplicitPRMConfig",
           "ImplicitPRMScorer", "detect", "load", "resolve_settings"]

logger = logging.getLogger(__name__)

FORMAT = "implicit_prm"
SIDECAR = "implicit_prm.json"
SUMMARY = ("implicit PRMs (PRIME-RL/EurusPRM-Stage1|Stage2, ImplicitPRM_CE|DPO, or a causal LM with "
           "implicit_prm.json): beta * log-ratio of the PRM to a reference LM")
EURUS_REFERENCE = "Qwen/Qwen2.5-Math-7B-Instruct"  # the ref_model of the EurusPRM model cards' usage code
DEFAULT_BETA = 0.001  # the EurusPRM cards' coef
READOUTS = ("q", "reward", "sigmoid")
SEPARATOR = "\n\n"
_NAME_MARKS = ("eurusprm", "implicitprm", "implicit-prm", "implicit_prm")


def _causal_architecture(name: str) -> bool:
    """A causal LM class, or a bare base model class (an early EurusPRM-Stage2 config names ``Qwen2Model``)."""
    return name.endswith("ForCausalLM") or (name.endswith("Model") and "For" not in name)


@detector
def detect(folder: Path) -> bool:
    """An implicit PRM folder: ``implicit_prm.json`` beside a model config, or a published implicit PRM's name
    (``eurusprm`` / ``implicitprm`` / ``implicit-prm``) on a causal-LM config. Config files only; never raises."""
    if not (folder / "config.json").is_file() or is_own_format(folder):
        return False
    if (folder / SIDECAR).is_file():
        return True
    if not any(mark in name_of(folder) for mark in _NAME_MARKS):
        return False
    names = architectures(folder)
    return not names or any(_causal_architecture(name) for name in names)


@dataclass
class ImplicitPRMConfig:
    """How the scorer reads the two LMs (``segmentation`` / ``step_separator``: the Scorer protocol's)."""

    reference: str
    beta: float = DEFAULT_BETA
    readout: str = "q"
    segmentation: str = "blank_line"
    step_separator: str = SEPARATOR


def _beta(value: Any, where: str) -> float:
    try:
        beta = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: beta should be a number, got {value!r}") from None
    if not math.isfinite(beta) or beta <= 0:
        raise ValueError(f"{where}: beta should be a positive number, got {value!r}")
    return beta


def resolve_settings(spec: str | Path, reference: str | Path | None = None, beta: Any = None,
                     readout: str | None = None) -> ImplicitPRMConfig:
    """The reference, beta and readout for checkpoint ``spec``: options, else ``implicit_prm.json``, else the
    published defaults; ValueError (before any weight loads) when no reference is known."""
    folder = config_folder(spec)  # a hub id: its config files only
    sidecar = read_json(folder, SIDECAR)
    where = f"{spec} ({SIDECAR})" if sidecar else str(spec)
    unknown = sorted(set(sidecar) - {"reference", "beta", "readout"})
    if unknown:
        raise ValueError(f"{folder / SIDECAR}: unknown keys {unknown}; known: reference, beta, readout")
    eurus = "eurusprm" in f"{name_of(folder)} {Path(str(spec)).name.lower()}"
    chosen = reference or sidecar.get("reference") or (EURUS_REFERENCE if eurus else None)
    if not chosen:
        raise ValueError(f"{spec}: an implicit PRM needs its reference LM (the model it was trained against): "
                         f"pass --prm-options reference=FOLDER_OR_HUB_ID, or write {SIDECAR} "
                         '({"reference": ..., "beta": ...}) beside its config.json')
    if not reference and not Path(str(chosen)).is_absolute() and (folder / str(chosen)).is_dir():
        chosen = folder / str(chosen)  # a sidecar's path relative to the checkpoint
    readout = readout or sidecar.get("readout") or "q"
    if readout not in READOUTS:
        raise ValueError(f"{where}: unknown readout {readout!r}; choose one of {', '.join(READOUTS)}")
    value = beta if beta is not None else sidecar.get("beta", DEFAULT_BETA)
    return ImplicitPRMConfig(reference=str(chosen), beta=_beta(value, where), readout=readout)


class ImplicitPRMScorer(ScorerBase):
    """Step scores of an implicit PRM: the EurusPRM card's recipe, batched (two forwards per batch)."""

    format = FORMAT

    def __init__(self, model_path: str | Path, config: ImplicitPRMConfig, device: str = "auto", dtype: Any = None,
                 batch_size: int = 16, max_length: int | None = None) -> None:
        from prm.lm import load_tokenizer, to_device
        from prm.prompts import has_chat_template
        from prm.runtime import checkpoint_dtype, device_map_for, inference_dtype, resolve_device

        self.config = config
        device_map, self.device = device_map_for(device), resolve_device(device)
        self.batch_size = int(batch_size)
        self.tokenizer = load_tokenizer(model_path)
        if not has_chat_template(self.tokenizer):
            raise ValueError(f"{model_path}: the tokenizer has no chat template; the implicit-PRM recipe puts the "
                             "problem and the solution in the chat template's user and assistant turns")
        torch_dtype = inference_dtype(dtype, self.device, checkpoint_dtype(str(model_path)))
        self.model, self.reference = (
            to_device(load_model(path, torch_dtype, what=what, device_map=device_map).eval(), self.device)
            for path, what in ((model_path, "implicit PRM"), (config.reference, "reference LM")))
        vocab = min(m.get_input_embeddings().num_embeddings for m in (self.model, self.reference))
        if vocab < len(self.tokenizer):
            raise ValueError(f"{config.reference}: the reference LM's vocabulary ({vocab}) is smaller than the "
                             f"PRM tokenizer's ({len(self.tokenizer)}): they must share a tokenizer")
        positions = [getattr(m.config, "max_position_embeddings", None) for m in (self.model, self.reference)]
        limit = min([p for p in positions if p] or [4096])
        self.max_length = min(int(max_length), limit) if max_length else limit
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        logger.info("implicit PRM %s vs reference %s: beta %g, readout %s, %s on %s", model_path, config.reference,
                    config.beta, config.readout, torch_dtype, self.device)

    def _ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _conversation(self, problem: str, steps: Sequence[str]) -> str:
        messages = [{"role": "user", "content": problem}, {"role": "assistant", "content": SEPARATOR.join(steps)}]
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)

    def encode(self, problem: str, steps: Sequence[str]) -> tuple[list[int], list[int]]:
        """The conversation's token ids and the card's step marks ``e_0..e_n`` (see the module docstring)."""
        ids = self._ids(self._conversation(problem, steps))
        marks = []
        for k in range(len(steps) + 1):
            text = self._conversation(problem, steps[:k]).strip()
            if 0 < k < len(steps):
                text += SEPARATOR
            marks.append(len(self._ids(text)) - 2)
        return ids, marks

    def _log_ratios(self, batch: Sequence[list[int]]) -> list[list[float]]:
        """Per row: ``lr_t`` for t = 1..len-1 (index t-1), PRM minus reference log-probability of token t."""
        import torch

        ids, mask = pad_right(batch, self.pad_id)
        ids, mask = ids.to(self.device), mask.to(self.device)
        with torch.no_grad():
            rows = []
            for model in (self.model, self.reference):
                logits = model(input_ids=ids, attention_mask=mask).logits
                rows.append([torch.log_softmax(logits[r, : len(seq) - 1].float(), dim=-1)
                             .gather(-1, ids[r, 1: len(seq), None])[:, 0].double().cpu()
                             for r, seq in enumerate(batch)])
                del logits
        return [(a - b).tolist() for a, b in zip(*rows, strict=True)]

    def _readout(self, ratios: list[float], marks: list[int], n_steps: int) -> list[float | None]:
        """The step scores from one row's log-ratios; None from the first step whose span is cut off."""
        start = max(marks[0], 1)
        scores: list[float | None] = []
        previous = 0.0
        for k in range(1, n_steps + 1):
            end = marks[k] + 1
            if end > len(ratios) or end < 1:  # ratios[t-1] is token t: token `end` is past the kept tokens
                break
            q = self.config.beta * math.fsum(ratios[start - 1: end])
            if self.config.readout == "reward":
                scores.append(q - previous)
            elif self.config.readout == "sigmoid":
                scores.append(1.0 / (1.0 + math.exp(-q)) if q >= 0 else math.exp(q) / (1.0 + math.exp(q)))
            else:
                scores.append(q)
            previous = q
        return scores + [None] * (n_steps - len(scores))

    def score_batch(self, items: Sequence[tuple[str, StepsOrText]], batch_size: int | None = None
                    ) -> list[list[float | None]]:
        """Step scores (the configured readout) of (problem, steps or text) pairs; None past max_length."""
        pairs = [check_item(index, item) for index, item in enumerate(items)]
        steps = [self.steps_of(solution) for _, solution in pairs]
        encoded = [self.encode(problem, s) if s else ([], []) for (problem, _), s in zip(pairs, steps, strict=True)]
        kept = [ids[: self.max_length] for ids, _ in encoded]
        results: list[list[float | None]] = [[None] * len(s) for s in steps]
        keep = [bool(s) and len(kept[i]) >= 2 for i, s in enumerate(steps)]
        for chunk in length_batches([len(ids) for ids in kept], int(batch_size or self.batch_size), keep):
            for index, ratios in zip(chunk, self._log_ratios([kept[i] for i in chunk]), strict=True):
                results[index] = self._readout(ratios, encoded[index][1], len(steps[index]))
        return results


def load(name_or_folder: Path | str, *, device: str = "auto", dtype: Any = None, batch_size: int = 16,
         max_length: int | None = None, reference: str | Path | None = None, beta: Any = None,
         readout: str | None = None, **options: Any) -> ImplicitPRMScorer:
    """The scorer of an implicit PRM (a folder or hub id) against ``reference`` (a folder or hub id; default
    from ``implicit_prm.json`` or the published card), with ``beta`` and ``readout`` (q | reward | sigmoid)."""
    if options:
        raise ValueError(f"{name_or_folder}: unknown {FORMAT} options {sorted(options)}; known: reference, beta, "
                         "readout")
    config = resolve_settings(name_or_folder, reference, beta, readout)
    return ImplicitPRMScorer(name_or_folder, config, device=device, dtype=dtype, batch_size=batch_size,
                             max_length=max_length)
