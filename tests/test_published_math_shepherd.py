"""The Math-Shepherd token PRM (prm.model.published.math_shepherd) on a tiny checkpoint in the published layout.

The folder mirrors ``peiyi9979/math-shepherd-mistral-7b-prm``: config.json (Mistral-7B's shapes in a Llama
config, as the hub page's ``llama`` tag says: LlamaForCausalLM, grouped-query attention, bf16),
``pytorch_model-0000k-of-000002.bin`` shards + ``pytorch_model.bin.index.json``, a sentencepiece
``tokenizer.model`` (BPE, byte fallback, digits split) with the old LlamaTokenizer tokenizer_config.json and
special_tokens_map.json, no tokenizer.json. Scores are checked against the model card's recipe, written out
here with plain transformers.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
import torch
from published_helpers import (
    assert_batches_match_one_at_a_time,
    claimed_by_others,
    copy_configs,
    load_through_registry,
    own_format_folders,
    sibling_detectors,
)
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM, LlamaTokenizer

from prm.model.published import common, math_shepherd

QUESTION = "Janet has 16 eggs. She eats 3 and sells the rest for $2 each. How much does she make?"
STEPS = ["Step 1: She has 16 - 3 = 13 eggs left.", "Step 2: She makes 13 * 2 = 26 dollars.",
         "Step 3: The answer is: 26"]
MISTRAL = {"sliding_window": 4096}
OTHER = ("Tom reads 12 pages a day for 5 days. How many pages?",
         ["He reads 12 * 5 = 60 pages.", "The answer is: 60"])


def _corpus() -> list[str]:
    texts = []
    for i in range(300):
        a, b = i % 37 + 2, i % 11 + 1
        texts.append(f"Janet has {a} eggs and eats {b}. Step 1: She has {a} - {b} = {a - b} eggs left. ки\n"
                     f"Step 2: She sells them for ${b} each, so she makes {(a - b) * b} dollars. +\n"
                     f"Step 3: The answer is: {(a - b) * b} ки - + - Tom reads {a} pages a day for {b} days.")
    return texts


def _sentencepiece_model() -> bytes:
    import sentencepiece as spm

    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(_corpus()), model_writer=buffer, vocab_size=420, hard_vocab_limit=False,
        model_type="bpe", byte_fallback=True, character_coverage=1.0, split_digits=True, unk_id=0, bos_id=1,
        eos_id=2, pad_id=-1, add_dummy_prefix=True, remove_extra_whitespaces=False,
        normalization_rule_name="identity", allow_whitespace_only_pieces=True, minloglevel=2)
    return buffer.getvalue()


def _added(content: str) -> dict:
    return {"__type": "AddedToken", "content": content, "lstrip": False, "normalized": True, "rstrip": False,
            "single_word": False}


def _write_bin_shards(model: torch.nn.Module, folder: Path, shards: int = 2) -> None:
    """``pytorch_model-0000k-of-00000N.bin`` (the published six-digit total) and the index, in bf16."""
    state = {k: v.to(torch.bfloat16).contiguous() for k, v in model.state_dict().items()}
    names = list(state)
    size = -(-len(names) // shards)
    weight_map = {}
    for k in range(shards):
        file = f"pytorch_model-{k + 1:05d}-of-{shards:06d}.bin"
        part = {name: state[name] for name in names[k * size: (k + 1) * size]}
        torch.save(part, folder / file)
        weight_map.update(dict.fromkeys(part, file))
    total = sum(v.numel() * v.element_size() for v in state.values())
    (folder / "pytorch_model.bin.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2))


def build_published(folder: Path) -> Path:
    """A tiny random Math-Shepherd PRM in the published file layout."""
    folder.mkdir(parents=True)
    (folder / "tokenizer.model").write_bytes(_sentencepiece_model())
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "add_bos_token": True, "add_eos_token": False, "bos_token": _added("<s>"),
        "clean_up_tokenization_spaces": False, "eos_token": _added("</s>"), "legacy": True,
        "model_max_length": 1000000000000000019884624838656, "pad_token": None, "sp_model_kwargs": {},
        "tokenizer_class": "LlamaTokenizer", "unk_token": _added("<unk>")},
        indent=2))
    (folder / "special_tokens_map.json").write_text(json.dumps(
        {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}, indent=2))
    import sentencepiece as spm

    vocab = spm.SentencePieceProcessor(model_file=str(folder / "tokenizer.model")).get_piece_size()
    config = {"architectures": ["LlamaForCausalLM"], "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu",
              "hidden_size": 64, "initializer_range": 0.02, "intermediate_size": 128, "max_position_embeddings": 512,
              "model_type": "llama", "num_attention_heads": 2, "num_hidden_layers": 2, "num_key_value_heads": 1,
              "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_scaling": None, "rope_theta": 10000.0,
              "tie_word_embeddings": False, "torch_dtype": "bfloat16", "transformers_version": "4.36.2",
              "use_cache": True, "vocab_size": vocab}
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    torch.manual_seed(0)
    init = {k: v for k, v in config.items() if k != "architectures"} | {"initializer_range": 0.3}  # spread scores
    model = LlamaForCausalLM(LlamaConfig(**init))
    _write_bin_shards(model, folder)
    return folder


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_published(tmp_path_factory.mktemp("ms") / "math-shepherd-mistral-7b-prm")


@pytest.fixture(scope="module")
def scorer(published: Path) -> math_shepherd.MathShepherdScorer:
    return math_shepherd.load(published, device="cpu", dtype="float32")


def card_recipe(folder: Path, question: str, output: str, good_token: str = "+", bad_token: str = "-",
                step_tag: str = "ки", tokenizer_class: type = AutoTokenizer) -> list[float]:
    """The model card's code, verbatim but for the path and float32."""
    tokenizer = tokenizer_class.from_pretrained(str(folder))
    candidate_tokens = tokenizer.encode(f"{good_token} {bad_token}")[1:]
    step_tag_id = tokenizer.encode(f"{step_tag}")[-1]
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32).eval()
    input_for_prm = f"{question} {output}"
    input_id = torch.tensor([tokenizer.encode(input_for_prm)])
    with torch.no_grad():
        logits = model(input_id).logits[:, :, candidate_tokens]
        scores = logits.softmax(dim=-1)[:, :, 0]
        step_scores = scores[input_id == step_tag_id]
    return step_scores.tolist()


# (1) detection ------------------------------------------------------------------------------------------------


def test_tokenizer_has_the_card_tokens(published: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(str(published))
    assert len(tokenizer.encode("+ -")) == 3 and tokenizer.encode("+ -")[0] == tokenizer.bos_token_id
    assert tokenizer.encode("ки")[-1] in tokenizer.encode(f"{QUESTION} {STEPS[0]} ки")


def test_detect_accepts_the_published_layouts(published: Path, tmp_path: Path) -> None:
    assert math_shepherd.detect(published)
    snapshot = tmp_path / "models--peiyi9979--math-shepherd-mistral-7b-prm" / "snapshots" / "45dc0a3c9ec6"
    assert math_shepherd.detect(copy_configs(published, snapshot))  # a hub-cache snapshot: the hash as its name
    mistral = copy_configs(published, tmp_path / "math-shepherd-mistral")  # a Mistral-typed config
    config = json.loads((mistral / "config.json").read_text())
    (mistral / "config.json").write_text(json.dumps(MISTRAL | config | {"architectures": ["MistralForCausalLM"],
                                                                         "model_type": "mistral"}))
    assert math_shepherd.detect(mistral)
    named = copy_configs(published, tmp_path / "prm7b")
    published_id = "peiyi9979/math-shepherd-mistral-7b-prm"
    (named / "config.json").write_text(json.dumps({**config, "_name_or_path": published_id}))
    assert math_shepherd.detect(named)


def test_detect_rejects_other_checkpoints(published: Path, tmp_path: Path) -> None:
    own = own_format_folders(tmp_path, _corpus()[:50], prefix="math-shepherd-")  # named, yet the project's own
    plain_mistral = copy_configs(published, tmp_path / "Mistral-7B-v0.1")  # stock Mistral: "ки" is a token too
    trl = copy_configs(published, tmp_path / "Mistral-7B-v0.1-Math-Shepherd-PRM-0.1")  # TRL token classifier
    config = json.loads((trl / "config.json").read_text())
    (trl / "config.json").write_text(json.dumps({**config, "architectures": ["MistralForTokenClassification"]}))
    garbage = tmp_path / "math-shepherd-garbage"
    garbage.mkdir()
    (garbage / "config.json").write_text("{not json")
    odd = copy_configs(published, tmp_path / "math-shepherd-odd")  # malformed but JSON: still no exception
    (odd / "tokenizer.json").write_text(json.dumps({"model": "BPE", "added_tokens": [1]}))
    (odd / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"], "_name_or_path": 7}))
    for folder in (own["likelihood"], own["prm"], plain_mistral, trl, garbage, odd,
                   tmp_path / "math-shepherd-missing"):
        assert not math_shepherd.detect(folder), folder
    # backbone has the name and a causal LM but no "ки" token in its tokenizer.json
    assert not math_shepherd.detect(own["backbone"])


@pytest.mark.parametrize(("tokenizer_json", "found"), [
    ({"model": "BPE", "added_tokens": [1]}, False), ({"model": ["ки"], "added_tokens": "ки"}, False),
    ({"model": {"vocab": 7}, "added_tokens": [{"content": "ки"}]}, True), ({"model": {"vocab": {"ки": 5}}}, True),
])
def test_has_token_never_raises(tmp_path: Path, tokenizer_json: dict, found: bool) -> None:
    (tmp_path / "tokenizer.json").write_text(json.dumps(tokenizer_json))
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"added_tokens_decoder": ["ки"]}))
    assert common.has_token(tmp_path, "ки") is found


def test_other_formats_reject_it(published: Path) -> None:
    assert "rlhflow_prm" in sibling_detectors("math_shepherd")
    assert claimed_by_others(published, "math_shepherd") == []


# (2) the card's recipe ------------------------------------------------------------------------------------------


def test_scores_equal_the_model_card_recipe(published: Path, scorer: math_shepherd.MathShepherdScorer) -> None:
    for question, steps in ((QUESTION, STEPS), OTHER):
        expected = card_recipe(published, question, "\n".join(f"{step} ки" for step in steps))
        got = scorer.score(question, steps)
        assert len(got) == len(steps) == len(expected)
        assert got == pytest.approx(expected, abs=1e-5)
    spread = scorer.score(QUESTION, STEPS)
    assert max(spread) - min(spread) > 0.01  # the scores depend on the text


def test_a_mistral_typed_config_scores_like_the_recipe(published: Path, tmp_path: Path) -> None:
    mistral = tmp_path / "math-shepherd-mistral"
    shutil.copytree(published, mistral)
    config = json.loads((mistral / "config.json").read_text())
    (mistral / "config.json").write_text(json.dumps(MISTRAL | config | {"architectures": ["MistralForCausalLM"],
                                                                         "model_type": "mistral"}))
    output = "\n".join(f"{step} ки" for step in STEPS)
    # transformers 5 reads a Mistral-typed config's lone tokenizer.model without sentencepiece's dummy prefix:
    # "ки" alone is not " ки" in text, and the card's code as written finds no step tag at all
    assert card_recipe(mistral, QUESTION, output) == []
    scorer = math_shepherd.load(mistral, device="cpu", dtype="float32")  # falls back to the declared class
    assert type(scorer.model).__name__ == "MistralForCausalLM"
    assert type(scorer.tokenizer).__name__ == "LlamaTokenizer"
    expected = card_recipe(mistral, QUESTION, output, tokenizer_class=LlamaTokenizer)
    assert len(expected) == len(STEPS)
    assert scorer.score(QUESTION, STEPS) == pytest.approx(expected, abs=1e-5)


def test_options_change_the_layout_like_the_recipe(published: Path) -> None:
    bare = [step.split(": ", 1)[1] for step in STEPS]
    scorer = math_shepherd.load(published, device="cpu", dtype="float32", step_prefix="Step {n}: ",
                                step_separator="\\n\\n")
    expected = card_recipe(published, QUESTION, "\n\n".join(f"{step} ки" for step in STEPS))
    assert scorer.score(QUESTION, bare) == pytest.approx(expected, abs=1e-5)
    swapped = math_shepherd.load(published, device="cpu", dtype="float32", good_token="-", bad_token="+")
    plain = math_shepherd.load(published, device="cpu", dtype="float32")
    assert swapped.score(QUESTION, STEPS) == pytest.approx([1 - p for p in plain.score(QUESTION, STEPS)], abs=1e-5)
    with pytest.raises(ValueError, match="unknown option"):
        math_shepherd.load(published, device="cpu", reference="x")


def test_literal_tags_in_the_text_are_not_step_ends(scorer: math_shepherd.MathShepherdScorer) -> None:
    tagged = [f"{step} ки" for step in STEPS]  # Math-Shepherd data already ends each step with the tag
    assert scorer.score(QUESTION, tagged) == pytest.approx(scorer.score(QUESTION, STEPS), abs=1e-6)
    scores = scorer.score(f"{QUESTION} (ки)", STEPS)
    assert len(scores) == len(STEPS) and all(s is not None for s in scores)


# (3) raw text, batching, max_length -----------------------------------------------------------------------------


def test_raw_text_and_batches_match_one_at_a_time(scorer: math_shepherd.MathShepherdScorer) -> None:
    assert_batches_match_one_at_a_time(scorer, QUESTION, STEPS, OTHER)


def test_steps_past_max_length_score_none(published: Path, scorer: math_shepherd.MathShepherdScorer) -> None:
    ids, positions = scorer.encode(QUESTION, STEPS)
    short = math_shepherd.load(published, device="cpu", dtype="float32", max_length=positions[1])
    full = scorer.score(QUESTION, STEPS)
    cut = short.score(QUESTION, STEPS)
    assert cut[0] == pytest.approx(full[0], abs=1e-5) and cut[1:] == [None, None]
    tiny = math_shepherd.load(published, device="cpu", dtype="float32", max_length=3)
    assert tiny.score_batch([(QUESTION, STEPS), OTHER]) == [[None] * 3, [None] * 2]


def test_bad_items_are_refused(scorer: math_shepherd.MathShepherdScorer) -> None:
    with pytest.raises(ValueError, match="item 1"):
        scorer.score_batch([(QUESTION, STEPS), (QUESTION, [1, 2])])


# (4) broken checkpoints ----------------------------------------------------------------------------------------


def test_missing_or_corrupt_weights_fail_clearly(published: Path, tmp_path: Path) -> None:
    missing = copy_configs(published, tmp_path / "no-weights")
    (missing / "pytorch_model.bin.index.json").unlink()
    with pytest.raises(ValueError, match="could not load the Math-Shepherd PRM"):
        math_shepherd.load(missing, device="cpu")
    corrupt = tmp_path / "corrupt"
    shutil.copytree(published, corrupt)
    (corrupt / "pytorch_model-00002-of-000002.bin").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="Math-Shepherd PRM"):
        math_shepherd.load(corrupt, device="cpu")
    partial = tmp_path / "partial"
    shutil.copytree(published, partial)
    index = json.loads((partial / "pytorch_model.bin.index.json").read_text())
    (partial / "pytorch_model-00002-of-000002.bin").unlink()
    index["weight_map"] = {k: v for k, v in index["weight_map"].items() if v.startswith("pytorch_model-00001")}
    (partial / "pytorch_model.bin.index.json").write_text(json.dumps(index))
    with pytest.raises(ValueError, match="lacks"):
        math_shepherd.load(partial, device="cpu")


def test_the_registry_detects_and_loads_it(published: Path) -> None:
    scorer = load_through_registry(published, "math_shepherd", step_prefix="")
    assert scorer.config.segmentation == "blank_line" and scorer.config.step_separator == "\n"
