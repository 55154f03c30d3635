"""Tiny GGUF files written with the ``gguf`` package's writer, in llama.cpp's exact layout (llama architecture,
a GPT-2 byte-level BPE tokenizer with a ChatML template): what ``prm.gguf`` converts, at a size that loads in
seconds. ``tensor_type`` picks how the weights are stored (F32, F16, Q8_0, or F64, which no dequantizer reads).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

CHAT_TEMPLATE = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
                 "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}"
                 "{% endif %}")
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
HIDDEN, INTERMEDIATE, LAYERS, HEADS = 64, 128, 2, 4


def _byte_tokens() -> list[str]:
    """GPT-2's byte-to-unicode alphabet: every byte is one token, so any text encodes."""
    visible = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), 256))
    extra, chars = 0, []
    for byte in range(256):
        if byte in visible:
            chars.append(chr(byte))
        else:
            chars.append(chr(256 + extra))
            extra += 1
    return chars


def write_tiny_gguf(path: Path, tensor_type: str = "F32", seed: int = 0, architecture: str = "llama") -> Path:
    """A 2-layer llama GGUF at ``path`` with random weights (``seed``) stored as ``tensor_type``."""
    import gguf

    tokens = SPECIAL + _byte_tokens()
    vocab = len(tokens)
    writer = gguf.GGUFWriter(str(path), architecture)
    writer.add_name("tiny-chatml-llama")
    writer.add_block_count(LAYERS)
    writer.add_context_length(256)
    writer.add_embedding_length(HIDDEN)
    writer.add_feed_forward_length(INTERMEDIATE)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(HEADS)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_freq_base(10000.0)
    writer.add_vocab_size(vocab)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types([3] * len(SPECIAL) + [1] * (vocab - len(SPECIAL)))
    writer.add_token_scores([0.0] * vocab)
    writer.add_token_merges([])
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_pad_token_id(2)
    writer.add_chat_template(CHAT_TEMPLATE)
    rng = np.random.default_rng(seed)

    def add(name: str, shape: tuple[int, ...], norm: bool = False) -> None:
        values = np.ones(shape, np.float32) if norm else (0.05 * rng.standard_normal(shape)).astype(np.float32)
        if tensor_type == "F64":
            writer.add_tensor(name, values.astype(np.float64))
        elif tensor_type == "F16":
            writer.add_tensor(name, values.astype(np.float16))
        elif tensor_type == "Q8_0" and not norm:
            quantized = gguf.quants.quantize(values, gguf.GGMLQuantizationType.Q8_0)
            writer.add_tensor(name, quantized, raw_shape=quantized.shape, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        else:
            writer.add_tensor(name, values)

    add("token_embd.weight", (vocab, HIDDEN))
    add("output_norm.weight", (HIDDEN,), norm=True)
    for layer in range(LAYERS):
        for name, shape in (("attn_q", (HIDDEN, HIDDEN)), ("attn_k", (HIDDEN, HIDDEN)), ("attn_v", (HIDDEN, HIDDEN)),
                            ("attn_output", (HIDDEN, HIDDEN)), ("ffn_gate", (INTERMEDIATE, HIDDEN)),
                            ("ffn_up", (INTERMEDIATE, HIDDEN)), ("ffn_down", (HIDDEN, INTERMEDIATE))):
            add(f"blk.{layer}.{name}.weight", shape)
        add(f"blk.{layer}.attn_norm.weight", (HIDDEN,), norm=True)
        add(f"blk.{layer}.ffn_norm.weight", (HIDDEN,), norm=True)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
