"""Step-end token indices on two tokenizers trained in-process: the project's byte-level BPE and a
sentencepiece-style BPE with byte fallback (Llama-style: merges across spaces, multi-byte characters
spelled as byte tokens). Checked against a brute-force scan over every prefix and by hand."""

from __future__ import annotations

import json

import pytest
from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, trainers
from transformers import PreTrainedTokenizerFast

from data.segment import split_steps
from prm.grpo.step_spans import step_char_ends, step_end_token_indices
from prm.policy.tokenizer import train_tokenizer

CORPUS = ["We add 12 and 3 to get 15.\n\nSo the answer is \\boxed{15}.",
          "First, $3 \\times 4 = 12$.\n\nThen $12 + 1 = 13$.\n\nSo the answer is $\\boxed{13}$."] * 20


def sentencepiece_style() -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE(byte_fallback=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    byte_tokens = [f"<0x{b:02X}>" for b in range(256)]
    tok.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=320, special_tokens=["</s>", *byte_tokens],
                                                        show_progress=False))
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])  # a decode drops one leading space: not additive
    spec = json.loads(tok.to_str())  # byte tokens are ordinary vocabulary, not special tokens
    spec["added_tokens"] = [t for t in spec["added_tokens"] if t["content"] not in byte_tokens]
    return PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(json.dumps(spec)), eos_token="</s>",
                                   clean_up_tokenization_spaces=False)


TOKENIZERS = {"byte_level": lambda: train_tokenizer(CORPUS, vocab_size=300), "sentencepiece": sentencepiece_style}


@pytest.fixture(scope="module", params=list(TOKENIZERS))
def tokenizer(request) -> PreTrainedTokenizerFast:
    return TOKENIZERS[request.param]()


def brute_force(tokenizer, ids: list[int], text: str, separator: str = "\n\n") -> list[int]:
    """The definition, one prefix at a time: the first prefix that spells the step up to its last character."""
    prefixes = [tokenizer.decode(ids[: k + 1], skip_special_tokens=True) for k in range(len(ids))]
    ends = step_char_ends(text, separator)
    return [next(k for k, p in enumerate(prefixes) if p.startswith(text[:end])) for end in ends]


TEXTS = [  # (text, last character of each step)
    ("We add 12 and 3 to get 15.\n\nSo the answer is \\boxed{15}.", [".", "."]),
    ("one step only", ["y"]),
    ("First, $3 \\times 4 = 12$.\n\nThen $12 + 1 = 13$.  \n \n\n\nSo $\\boxed{13}$.\n", [".", ".", "."]),
    ("\n\n  leading blank lines\n\nx", ["s", "x"]),
    ("price 5 €\n\nthen 中\n\nend 😀", ["€", "中", "😀"]),  # multi-byte step ends: split over byte tokens
    ("é\n\nü", ["é", "ü"]),
    ("a\n\nb\n\nc\n\nd", ["a", "b", "c", "d"]),
]


@pytest.mark.parametrize(("text", "last_chars"), TEXTS)
def test_step_ends_match_the_definition(tokenizer, text: str, last_chars: list[str]) -> None:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    ends = step_end_token_indices(tokenizer, ids)
    assert len(ends) == len(split_steps(text)) == len(last_chars)
    assert ends == brute_force(tokenizer, ids, text)
    assert ends == sorted(ends) and all(0 <= e < len(ids) for e in ends)
    for end, char, step in zip(ends, last_chars, split_steps(text), strict=True):
        assert step.endswith(char)
        assert step in tokenizer.decode(ids[: end + 1])
        assert step not in tokenizer.decode(ids[:end])  # one token fewer does not finish the step
    assert step_end_token_indices(tokenizer, ids, text=text) == ends


def test_multibyte_characters_are_split_over_tokens(tokenizer) -> None:
    """The table's multi-byte case is meaningful: a prefix ends inside a character (decodes to U+FFFD)."""
    text = "price 5 €\n\nthen 中\n\nend 😀"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert any("\ufffd" in tokenizer.decode(ids[:k]) for k in range(len(ids)))
    ends = step_end_token_indices(tokenizer, ids)
    assert ends[-1] == len(ids) - 1 and "\ufffd" in tokenizer.decode(ids[: ends[-1]])


@pytest.mark.parametrize(("text", "separator", "steps"), [
    ("a\nb\n\nc", "\n", 3), ("a\nb\n\nc", "\n\n", 2), ("a\nb\n\nc", "newline", 3),
    ("Step 1: a\nStep 2: b", "step_marker", 2), ("x ; y ; z", ";", 3), ("x ; ; z", ";", 2),
])
def test_separators(tokenizer, text: str, separator: str, steps: int) -> None:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    ends = step_end_token_indices(tokenizer, ids, separator=separator)
    assert len(ends) == steps and ends == brute_force(tokenizer, ids, text, separator)


def test_empty_and_special_tokens(tokenizer) -> None:
    assert step_end_token_indices(tokenizer, []) == []
    assert step_end_token_indices(tokenizer, tokenizer("  \n\n ", add_special_tokens=False)["input_ids"]) == []
    ids = tokenizer("a\n\nb", add_special_tokens=False)["input_ids"]
    with_eos = [*ids, tokenizer.eos_token_id, tokenizer.eos_token_id]  # as generated: eos (and padding) after
    assert step_end_token_indices(tokenizer, with_eos) == step_end_token_indices(tokenizer, ids)
    with pytest.raises(ValueError, match="not the decode of completion_ids"):
        step_end_token_indices(tokenizer, ids, text="a\n\nc")


class CountingTokenizer:
    """A real tokenizer that counts decodes and the tokens they decode."""

    def __init__(self, inner) -> None:
        self.inner, self.calls, self.tokens = inner, 0, 0

    def decode(self, ids, **kwargs) -> str:
        self.calls, self.tokens = self.calls + 1, self.tokens + len(ids)
        return self.inner.decode(ids, **kwargs)


def test_long_completion_decodes_little(tokenizer) -> None:
    steps = [f"Step {i}: we add {i} and {i + 1} to get {2 * i + 1}, é 中." for i in range(40)]
    text = "\n\n".join(steps)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    counting = CountingTokenizer(tokenizer)
    ends = step_end_token_indices(counting, ids)
    n = len(ids)
    assert len(ends) == 40 and n > 600
    assert counting.calls < n  # fewer decodes than a scan over every prefix, and short ones:
    assert counting.tokens < 20 * n  # O(n log(step length)) tokens decoded, vs n^2 / 2 for a scan
    assert ends == brute_force(tokenizer, ids, text)


def test_non_additive_decoding_falls_back_to_whole_prefixes() -> None:
    """A window decode that drops a leading space does not match the text: that step is searched again."""
    tokenizer = sentencepiece_style()
    text = "x ; y ; z"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids[1:]) != text[1:]  # decoding is not additive here
    assert step_end_token_indices(tokenizer, ids, separator=";") == brute_force(tokenizer, ids, text, ";")


@pytest.mark.parametrize("name", list(TOKENIZERS))
def test_two_steps_ending_in_one_token(name: str) -> None:
    tokenizer = TOKENIZERS[name]()
    tokenizer.add_tokens([AddedToken("q\n\nr", normalized=False)])  # spells a step end, a blank line, a step
    ids = tokenizer("We add.\n\nq\n\nr\n\nSo 1.", add_special_tokens=False)["input_ids"]
    text = tokenizer.decode(ids)  # (the sentencepiece style adds a space after an added token)
    ends = step_end_token_indices(tokenizer, ids)
    assert ends == brute_force(tokenizer, ids, text) and len(ends) == 4 and ends[1] == ends[2]
