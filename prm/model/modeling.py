"""The PRM model: any Hugging Face causal-LM backbone with a token-classification head read at step tags.

The backbone loads as ``AutoModelForTokenClassification`` (the LM head is dropped, a linear head
``score`` or ``classifier`` reads every position's hidden state) with ``num_labels=2`` (the default:
a 2-class head, P(step correct) = softmax(logits)[1], trained by cross-entropy against the probability
pair (1 - y, y), so soft labels work) or ``num_labels=1`` (a scalar head, P = sigmoid(logit), trained
with binary cross-entropy). A step-tag token (a new special token by default, or an existing token)
is added to the tokenizer. Saved folders are plain ``save_pretrained`` output plus ``prm_config.json``
(:class:`PRMConfig`), so they load and score without this package (see :mod:`prm.model.scoring`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal, TypeVar

import torch
import torch.nn.functional as F
from transformers import AutoConfig, PreTrainedModel

from prm.lm import load_lm, load_tokenizer, save_tokenizer_portable
from prm.model.tags import DEFAULT_STEP_TAG, IGNORE_INDEX
from prm.prompts import CHAT_INSTRUCTION, PLAIN_TEMPLATE, has_chat_template

__all__ = [
    "DEFAULT_STEP_TAG", "PRM_CONFIG_FILE", "HeadType", "PRMConfig", "add_step_tag", "load_backbone",
    "step_probabilities", "prm_loss", "head_module_name", "save_prm",
    "read_json_fields", "write_json_fields", "warn_if_prompt_changed",
]  # fmt: skip

logger = logging.getLogger(__name__)

PRM_CONFIG_FILE = "prm_config.json"
HeadType = Literal["two_class", "scalar"]
T = TypeVar("T")
NUM_LABELS: dict[str, int] = {"two_class": 2, "scalar": 1}


@dataclass
class PRMConfig:
    """What a scorer needs besides the weights: written to ``prm_config.json`` beside ``config.json``."""

    tag_token: str = DEFAULT_STEP_TAG
    tag_token_id: int = -1
    head: HeadType = "two_class"
    step_separator: str = "\n\n"
    segmentation: str = "blank_line"  # data.segment mode that splits raw text into steps
    prompt_template: str = PLAIN_TEMPLATE  # or CHAT_INSTRUCTION inside the tokenizer's chat template
    uses_chat_template: bool = False
    objective: Literal["process", "outcome"] = "process"
    max_length: int = 1024
    format_version: int = 1

    def save(self, folder: str | Path) -> Path:
        return write_json_fields(self, Path(folder) / PRM_CONFIG_FILE)

    @classmethod
    def load(cls, folder: str | Path) -> PRMConfig:
        path = Path(folder) / PRM_CONFIG_FILE
        if not path.exists():
            raise FileNotFoundError(f"{path} not found: not a PRM saved by `prm train` (need prm_config.json)")
        config = read_json_fields(cls, path)
        if config.head not in NUM_LABELS:
            raise ValueError(f"{path}: head should be one of {sorted(NUM_LABELS)}, got {config.head!r}")
        return config

    def check_prompt(self, tokenizer: Any) -> None:
        warn_if_prompt_changed(tokenizer, self.prompt_template)


def warn_if_prompt_changed(tokenizer: Any, trained_with: str) -> None:
    """Warn when prm.prompts changed since a reward model was trained (its prompts would differ)."""
    current = CHAT_INSTRUCTION if has_chat_template(tokenizer) else PLAIN_TEMPLATE
    if current != trained_with:
        logger.warning("the prompt template differs from the one this reward model was trained with: %r vs %r",
                       current, trained_with)


def write_json_fields(record: Any, path: Path) -> Path:
    """A dataclass instance as indented JSON at ``path``."""
    path.write_text(json.dumps(asdict(record), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def read_json_fields(cls: type[T], path: Path) -> T:
    """An instance of dataclass ``cls`` from the JSON at ``path`` (keys it does not know are ignored)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    known = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in known})


def add_step_tag(tokenizer: Any, tag_token: str = DEFAULT_STEP_TAG) -> tuple[int, bool]:
    """The id of ``tag_token`` (added as a special token unless it is already one token); (id, added)."""
    from tokenizers import AddedToken

    existing = tokenizer.convert_tokens_to_ids(tag_token)
    if existing is not None and existing != tokenizer.unk_token_id:
        return int(existing), False
    tokenizer.add_tokens([AddedToken(tag_token, special=True, normalized=False)], special_tokens=True)
    tag_id = tokenizer.convert_tokens_to_ids(tag_token)
    if tag_id is None or tag_id == tokenizer.unk_token_id:
        raise ValueError(f"could not add the step tag {tag_token!r} to the tokenizer")
    return int(tag_id), True


def head_module_name(model: torch.nn.Module) -> str:
    """The attribute name of the token-classification head (``score`` for Llama-likes, else ``classifier``)."""
    for name in ("score", "classifier"):
        if isinstance(getattr(model, name, None), torch.nn.Module):
            return name
    raise ValueError(f"{type(model).__name__} has no `score` or `classifier` head")


def load_backbone(
    name_or_path: str, head: HeadType = "two_class", tag_token: str = DEFAULT_STEP_TAG,
    dtype: torch.dtype | None = None, head_dropout: float = 0.0, quantization: Any | None = None,
) -> tuple[PreTrainedModel, Any, int, bool]:
    """A causal LM (folder or hub id) as a token-classification PRM and its tokenizer with the step tag.

    Returns (model, tokenizer, tag id, whether the tag was added). Embeddings grow for a new tag.
    """
    tokenizer = load_tokenizer(name_or_path)
    tag_id, added = add_step_tag(tokenizer, tag_token)
    names = ["incorrect", "correct"] if head == "two_class" else ["correct"]
    config = AutoConfig.from_pretrained(name_or_path, num_labels=NUM_LABELS[head],
                                        id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)})
    config.classifier_dropout = head_dropout
    model, _ = load_lm(name_or_path, dtype, task="token_classification", config=config, tokenizer=tokenizer,
                       quantization=quantization, strict=False)  # the head is new
    if len(tokenizer) > model.get_input_embeddings().num_embeddings:
        model.resize_token_embeddings(len(tokenizer))
    model.config.pad_token_id = tokenizer.pad_token_id
    logger.info("PRM from %s: %s head, step tag %r (id %d, %s), %d parameters", name_or_path, head, tag_token,
                tag_id, "added" if added else "existing", sum(p.numel() for p in model.parameters()))
    return model, tokenizer, tag_id, added


def step_probabilities(logits: torch.Tensor, head: HeadType) -> torch.Tensor:
    """P(step correct) at every position from the head's logits (..., num_labels) -> (...)."""
    if head == "two_class":
        return torch.softmax(logits.float(), dim=-1)[..., 1]
    return torch.sigmoid(logits.float()[..., 0])


def prm_loss(
    logits: torch.Tensor, labels: torch.Tensor, head: HeadType, num_items: torch.Tensor | int | None = None
) -> torch.Tensor:
    """Summed per-tag loss over labelled positions, divided by ``num_items`` (default: their count).

    Two-class: cross-entropy against the pair (1 - y, y); scalar: binary cross-entropy with logits.
    Both accept soft labels. ``num_items`` is the Trainer's label count over the whole accumulated
    (and, across devices, gathered) batch, which makes gradient accumulation and DDP exact.
    """
    mask = labels != IGNORE_INDEX
    targets = labels[mask].float()
    picked = logits[mask].float()
    if head == "two_class":
        log_probs = F.log_softmax(picked, dim=-1)
        losses = -(targets * log_probs[:, 1] + (1.0 - targets) * log_probs[:, 0])
    else:
        losses = F.binary_cross_entropy_with_logits(picked[:, 0], targets, reduction="none")
    count = num_items if num_items is not None else mask.sum()
    count = count.to(losses.device).clamp(min=1) if torch.is_tensor(count) else max(int(count), 1)
    return losses.sum() / count


def save_prm(model: PreTrainedModel, tokenizer: Any, prm_config: PRMConfig, folder: str | Path) -> Path:
    """Write a loadable PRM folder: weights + config (``save_pretrained``), tokenizer, ``prm_config.json``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(folder))
    save_tokenizer_portable(tokenizer, folder)
    prm_config.save(folder)
    logger.info("saved the PRM to %s", folder)
    return folder
