"""The implicit-PRM format (``implicit_prm``: EurusPRM-Stage1/Stage2 and other implicit PRMs) on tiny models.

Two tiny Qwen2 causal LMs (PRM and reference, different seeds) are saved in the published EurusPRM layout: a
Qwen2ForCausalLM config.json with the published keys, untied embeddings, a Qwen-style byte-level BPE with
``<|im_start|>`` / ``<|im_end|>`` / ``<|endoftext|>`` and a Qwen2.5-Math chat template. The scores are checked
against the EurusPRM model card's usage code, written out below with plain transformers.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch
from published_helpers import claimed_by_others, own_format_folders
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

from prm.model.formats import PUBLISHED, SCORER_FORMATS
from prm.model.published import implicit
from prm.model.scorer import Scorer

pytestmark = pytest.mark.usefixtures("torch_one_thread")

# Qwen2's pre-tokenizer split (its tokenizer.json), so "\n\n" and ".\n\n" group as in the real checkpoints
QWEN_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
              r"|\s+(?!\S)|\s+")
CHAT_TEMPLATE = (
    "{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + messages[0]['content'] + "
    "'<|im_end|>\\n' }}{%- else %}{{- '<|im_start|>system\\nPlease reason step by step, and put your final "
    "answer within \\\\boxed{}.<|im_end|>\\n' }}{%- endif %}{%- for message in messages %}{%- if not "
    "(message.role == 'system' and loop.first) %}{{- '<|im_start|>' + message.role + '\\n' + message.content + "
    "'<|im_end|>' + '\\n' }}{%- endif %}{%- endfor %}{%- if add_generation_prompt %}{{- "
    "'<|im_start|>assistant\\n' }}{%- endif %}")
PROBLEM = "Tom has 3 apples and buys 4 more. How many apples does he have?"
STEPS = ["Tom starts with 3 apples.", "He buys 4 more, so 3 + 4 = 7.", "The answer is \\boxed{7}."]
OTHER = ("What is 12 * 3?", ["12 * 3 = 36.", "So the answer is \\boxed{36}."])
TEXTS = [PROBLEM, *STEPS, *OTHER[1], OTHER[0], "Step 1: 5 - 2 = 3.\n\nStep 2: 3 * 2 = 6.\n\n", "\n\n".join(STEPS)]
PUBLISHED_CONFIG = {  # EurusPRM-Stage2's config.json keys (huggingface.co), tiny sizes
    "_name_or_path": "/mnt/petrelfs/fanyuchen/rclone-v1.68.2-linux-amd64/EurusPRM-Stage2",
    "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "hidden_act": "silu", "hidden_size": 64,
    "initializer_range": 0.02, "intermediate_size": 128, "max_position_embeddings": 4096, "max_window_layers": 2,
    "model_type": "qwen2", "num_attention_heads": 2, "num_hidden_layers": 2, "num_key_value_heads": 1,
    "rms_norm_eps": 1e-06, "rope_scaling": None, "rope_theta": 10000.0, "sliding_window": None,
    "tie_word_embeddings": False, "torch_dtype": "float32", "transformers_version": "4.47.1",
    "use_cache": False, "use_sliding_window": False,
}


def qwen_like_tokenizer() -> PreTrainedTokenizerFast:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN_SPLIT), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tokenizer.decoder = decoders.ByteLevel()
    special = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    trainer = trainers.BpeTrainer(vocab_size=420, special_tokens=special, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(TEXTS * 3, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   additional_special_tokens=special[1:], chat_template=CHAT_TEMPLATE,
                                   clean_up_tokenization_spaces=False, model_max_length=131072)


def save_causal_lm(folder: Path, tokenizer: PreTrainedTokenizerFast, seed: int, name: str) -> Path:
    config = {**PUBLISHED_CONFIG, "_name_or_path": name, "vocab_size": len(tokenizer),
              "bos_token_id": tokenizer.pad_token_id, "eos_token_id": tokenizer.eos_token_id}
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(Qwen2Config(**{k: v for k, v in config.items() if not k.startswith("_")}))
    with torch.no_grad():  # spread the output distribution so the two LMs' log-ratios are far from 0
        model.lm_head.weight.normal_(std=0.5)
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    (folder / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the tiny EurusPRM-Stage2, its tiny reference LM)."""
    root = tmp_path_factory.mktemp("implicit")
    tokenizer = qwen_like_tokenizer()
    return (save_causal_lm(root / "EurusPRM-Stage2", tokenizer, 1, PUBLISHED_CONFIG["_name_or_path"]),
            save_causal_lm(root / "Qwen2.5-Math-7B-Instruct", tokenizer, 2, "Qwen/Qwen2.5-Math-7B-Instruct"))


@pytest.fixture(scope="module")
def scorer(checkpoints: tuple[Path, Path]) -> implicit.ImplicitPRMScorer:
    prm, ref = checkpoints
    return implicit.load(prm, reference=ref, beta=1.0, device="cpu")


def card_scores(prm: Path, ref: Path, problem: str, steps: list[str], coef: float) -> tuple[list[float], list[int]]:
    """The EurusPRM model card's usage code (return_dict=False: transformers 5 returns a dict by default)."""
    model = AutoModelForCausalLM.from_pretrained(str(prm), dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(str(prm))
    ref_model = AutoModelForCausalLM.from_pretrained(str(ref), dtype=torch.float32)
    d = {"query": problem, "answer": steps}
    input_ids = tokenizer.apply_chat_template([
        {"role": "user", "content": d["query"]},
        {"role": "assistant", "content": "\n\n".join(d["answer"])},
    ], tokenize=True, add_generation_prompt=False, return_tensors="pt", return_dict=False)
    attention_mask = input_ids != tokenizer.pad_token_id
    step_last_tokens = []
    for step_num in range(0, len(d["answer"]) + 1):
        conv = tokenizer.apply_chat_template([
            {"role": "user", "content": d["query"]},
            {"role": "assistant", "content": "\n\n".join(d["answer"][:step_num])},
        ], tokenize=False, add_generation_prompt=False)
        conv = conv.strip()
        if step_num != 0 and step_num != len(d["answer"]):
            conv += "\n\n"
        currect_ids = tokenizer.encode(conv, add_special_tokens=False)
        step_last_tokens.append(len(currect_ids) - 2)
    inputs = {"input_ids": input_ids, "attention_mask": attention_mask, "labels": input_ids}
    label_mask = torch.tensor([[0] * step_last_tokens[0] + [1] * (input_ids.shape[-1] - step_last_tokens[0])])
    marks = list(step_last_tokens)
    step_last_tokens = torch.tensor([step_last_tokens])

    def get_logps(model, inputs):
        logits = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).logits
        labels = inputs["labels"][:, 1:].clone().long()
        logits = logits[:, :-1, :]
        labels[labels == -100] = 0
        return torch.gather(logits.log_softmax(-1), dim=2, index=labels.unsqueeze(2)).squeeze(2)

    with torch.no_grad():
        per_token_logps = get_logps(model, inputs)
        ref_per_token_logps = get_logps(ref_model, inputs)
    raw_reward = per_token_logps - ref_per_token_logps
    beta_reward = coef * raw_reward * label_mask[:, 1:]
    beta_reward = beta_reward.cumsum(-1)
    beta_reward = beta_reward.gather(dim=-1, index=step_last_tokens[:, 1:])
    return beta_reward[0].tolist(), marks


def close(got: list, want: list, atol: float = 1e-5) -> bool:
    return len(got) == len(want) and all(
        (a is None and b is None) or (a is not None and b is not None and abs(a - b) <= atol)
        for a, b in zip(got, want, strict=True))


def test_detect_accepts_the_published_layout_and_rejects_others(checkpoints, tmp_path):
    prm, ref = checkpoints
    assert implicit.detect(prm)
    assert not implicit.detect(ref), "a plain causal LM is not an implicit PRM"
    assert set(PUBLISHED) <= set(SCORER_FORMATS)
    assert claimed_by_others(prm, implicit.FORMAT) == [], "other formats claim the EurusPRM folder"

    renamed = shutil.copytree(prm, tmp_path / "renamed", ignore=shutil.ignore_patterns("*.safetensors"))
    assert implicit.detect(renamed), "the published _name_or_path names it"
    config = json.loads((renamed / "config.json").read_text())
    (renamed / "config.json").write_text(json.dumps({**config, "_name_or_path": "Qwen/Qwen2.5-Math-7B"}))
    assert not implicit.detect(renamed)
    (renamed / implicit.SIDECAR).write_text(json.dumps({"reference": str(ref), "beta": 0.05}))
    assert implicit.detect(renamed), "the sidecar marks a local implicit PRM"

    snapshot = tmp_path / "models--PRIME-RL--EurusPRM-Stage1" / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text(json.dumps({**config, "_name_or_path": ""}))
    assert implicit.detect(snapshot), "a hub snapshot is named by its repository folder"

    for own in own_format_folders(tmp_path, TEXTS, vocab_size=300).values():
        assert not implicit.detect(own), own
    assert not implicit.detect(tmp_path / "missing")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "config.json").write_text("{not json")
    assert not implicit.detect(tmp_path / "junk")
    reward_model = tmp_path / "eurusprm-classifier"
    reward_model.mkdir()
    (reward_model / "config.json").write_text(json.dumps({"architectures": ["Qwen2ForProcessRewardModel"]}))
    assert not implicit.detect(reward_model)


def test_scores_match_the_model_card_recipe(checkpoints, scorer):
    prm, ref = checkpoints
    assert isinstance(scorer, Scorer) and scorer.format == "implicit_prm"
    assert scorer.model.dtype == torch.float32 and scorer.device.type == "cpu"
    assert scorer.config.step_separator == "\n\n" and scorer.config.segmentation == "blank_line"
    for problem, steps in [(PROBLEM, STEPS), OTHER, (PROBLEM, STEPS[:1])]:
        want, _ = card_scores(prm, ref, problem, steps, coef=1.0)
        got = scorer.score(problem, steps)
        assert close(got, want), (got, want)
        assert max(abs(x) for x in want) > 0.05, "the two LMs should disagree"


def test_readouts_and_beta(checkpoints, scorer):
    prm, ref = checkpoints
    q, _ = card_scores(prm, ref, PROBLEM, STEPS, coef=1.0)
    rewards = implicit.load(prm, reference=ref, beta="1", readout="reward", device="cpu").score(PROBLEM, STEPS)
    assert close(rewards, [b - a for a, b in zip([0.0, *q[:-1]], q, strict=True)])
    sigmoid = implicit.load(prm, reference=ref, beta=1.0, readout="sigmoid", device="cpu").score(PROBLEM, STEPS)
    assert close(sigmoid, [1 / (1 + math.exp(-x)) for x in q])
    default = implicit.load(prm, reference=ref, device="cpu")  # EurusPRM: the card's coef 0.001
    assert default.config.beta == 0.001 and default.config.readout == "q"
    assert close(default.score(PROBLEM, STEPS), [0.001 * x for x in q], atol=1e-8)
    doubled = implicit.load(prm, reference=ref, beta=2.0, device="cpu").score(PROBLEM, STEPS)
    assert close(doubled, [2 * x for x in q])


def test_text_batches_and_max_length(checkpoints, scorer):
    prm, ref = checkpoints
    single = scorer.score(PROBLEM, STEPS)
    assert close(scorer.score(PROBLEM, "\n\n".join(STEPS)), single)
    assert close(scorer.score(PROBLEM, "  " + "\n\n\n".join(STEPS) + "\n"), single)
    items = [(PROBLEM, STEPS), OTHER, (PROBLEM, []), (PROBLEM, STEPS[:2]), (OTHER[0], "\n\n".join(OTHER[1]))]
    alone = [scorer.score(problem, steps) for problem, steps in items]
    assert alone[2] == []
    for batch_size in (1, 2, 8):
        batched = scorer.score_batch(items, batch_size=batch_size)
        assert all(close(a, b) for a, b in zip(batched, alone, strict=True)), batch_size

    want, marks = card_scores(prm, ref, PROBLEM, STEPS, coef=1.0)
    cut = implicit.load(prm, reference=ref, beta=1.0, device="cpu", max_length=marks[2] + 2)
    assert cut.max_length == marks[2] + 2
    assert close(cut.score(PROBLEM, STEPS), [*want[:2], None])
    tiny = implicit.load(prm, reference=ref, beta=1.0, device="cpu", max_length=4)
    assert tiny.score_batch([(PROBLEM, STEPS), OTHER]) == [[None] * 3, [None] * 2]


def test_bad_inputs_and_options_fail_clearly(checkpoints, scorer, tmp_path):
    prm, ref = checkpoints
    with pytest.raises(ValueError, match="item 0"):
        scorer.score_batch([(PROBLEM, 3)])
    with pytest.raises(ValueError, match="readout"):
        implicit.load(prm, reference=ref, readout="logits")
    with pytest.raises(ValueError, match="beta"):
        implicit.load(prm, reference=ref, beta="-1")
    with pytest.raises(ValueError, match="unknown implicit_prm options"):
        implicit.load(prm, reference=ref, step_tag="ки")

    # a name with no published reference, and no weights at all: the reference error comes first
    bare = shutil.copytree(prm, tmp_path / "ImplicitPRM_CE", ignore=shutil.ignore_patterns("*.safetensors"))
    config = json.loads((bare / "config.json").read_text())
    (bare / "config.json").write_text(json.dumps({**config, "_name_or_path": "Windy0822/ImplicitPRM_CE"}))
    assert implicit.detect(bare)
    with pytest.raises(ValueError, match="needs its reference LM"):
        implicit.load(bare)
    (bare / implicit.SIDECAR).write_text(json.dumps({"reference": "ref", "beta": 0.5, "note": 1}))
    with pytest.raises(ValueError, match="unknown keys"):
        implicit.load(bare)
    shutil.copytree(ref, bare / "ref")
    (bare / implicit.SIDECAR).write_text(json.dumps({"reference": "ref", "beta": 0.5}))
    assert implicit.resolve_settings(bare).reference == str(bare / "ref")
    with pytest.raises(ValueError, match=r"ImplicitPRM_CE.*could not load the implicit PRM"):
        implicit.load(bare, device="cpu")  # config and sidecar, weights missing

    shutil.copy(prm / "model.safetensors", bare / "model.safetensors")
    from_sidecar = implicit.load(bare, device="cpu")
    assert from_sidecar.config.beta == 0.5
    assert close(from_sidecar.score(PROBLEM, STEPS), [0.5 * x for x in scorer.score(PROBLEM, STEPS)])
    (bare / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match="could not load the implicit PRM.*SafetensorError"):
        implicit.load(bare, device="cpu")
    (bare / "model.safetensors").unlink()
    shutil.copy(prm / "model.safetensors", bare / "model.safetensors")
    (bare / "ref" / "model.safetensors").write_bytes(b"truncated")
    with pytest.raises(ValueError, match="could not load the reference LM"):
        implicit.load(bare, device="cpu")
