"""A tiny Llama causal LM and byte-level BPE tokenizer built in-process: a PRM backbone for tests,
benchmarks and offline smoke runs when no trained policy (``runs/policy-default``) is at hand.

::

    from prm.model.tiny import save_tiny_backbone, save_tiny_prm
    save_tiny_backbone("/tmp/backbone", texts)   # loads with AutoModelForCausalLM / AutoTokenizer
    save_tiny_prm("/tmp/prm", "/tmp/backbone")   # an untrained PRM on it, with spread-out scores
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedModel, PreTrainedTokenizerFast

from prm.lm import save_tokenizer_portable
from prm.model.modeling import HeadType, PRMConfig, load_backbone, save_prm

__all__ = ["tiny_tokenizer", "tiny_llama", "save_tiny_backbone", "tiny_prm", "save_tiny_prm"]

logger = logging.getLogger(__name__)

EOS, PAD = "<|endoftext|>", "<|pad|>"


def tiny_tokenizer(texts: Iterable[str], vocab_size: int = 320) -> PreTrainedTokenizerFast:
    """Byte-level BPE (digits split one by one) with eos and pad tokens and no chat template."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOS, PAD], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token=EOS, pad_token=PAD, model_max_length=512,
                                   clean_up_tokenization_spaces=False)


def tiny_llama(vocab_size: int, eos_id: int, pad_id: int, hidden: int = 64, layers: int = 2, heads: int = 2,
               seed: int = 0) -> LlamaForCausalLM:
    """A freshly initialised Llama (head size hidden / heads; 64 / 2 = 32, the smallest vLLM's CPU runs)."""
    config = LlamaConfig(vocab_size=vocab_size, hidden_size=hidden, intermediate_size=2 * hidden,
                         num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
                         head_dim=hidden // heads, max_position_embeddings=512, tie_word_embeddings=True,
                         bos_token_id=eos_id, eos_token_id=eos_id, pad_token_id=pad_id)
    torch.manual_seed(seed)
    return LlamaForCausalLM(config)


def save_tiny_backbone(folder: str | Path, texts: Iterable[str], vocab_size: int = 320, hidden: int = 64,
                       layers: int = 2, heads: int = 2, seed: int = 0) -> Path:
    """Train the tokenizer on ``texts``, build the model and save both into ``folder``."""
    folder = Path(folder)
    tokenizer = tiny_tokenizer(texts, vocab_size)
    model = tiny_llama(len(tokenizer), tokenizer.eos_token_id, tokenizer.pad_token_id, hidden, layers, heads, seed)
    model.save_pretrained(str(folder))
    save_tokenizer_portable(tokenizer, folder)
    logger.info("tiny backbone (%d parameters, vocab %d) saved to %s",
                sum(p.numel() for p in model.parameters()), len(tokenizer), folder)
    return folder


def tiny_prm(backbone: str | Path, head_std: float = 0.2, seed: int = 0, head: HeadType = "two_class"
             ) -> tuple[PreTrainedModel, PreTrainedTokenizerFast, PRMConfig]:
    """An untrained PRM on ``backbone`` whose head weights are drawn with ``head_std``, so its step
    scores spread over (0, 1) instead of sitting at 0.5: (model, tokenizer, its PRMConfig)."""
    model, tokenizer, tag_id, _ = load_backbone(str(backbone), head)
    torch.manual_seed(seed)
    torch.nn.init.normal_(model.score.weight, std=head_std)
    return model, tokenizer, PRMConfig(tag_token_id=tag_id, head=head)


def save_tiny_prm(folder: str | Path, backbone: str | Path, head_std: float = 0.2, seed: int = 0,
                  head: HeadType = "two_class") -> Path:
    """:func:`tiny_prm` saved as a PRM folder (loads with ``PRMScorer`` or plain transformers)."""
    model, tokenizer, config = tiny_prm(backbone, head_std, seed, head)
    return save_prm(model, tokenizer, config, folder)
