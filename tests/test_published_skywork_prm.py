"""Skywork-o1-Open-PRM (``skywork_prm``): a tiny random checkpoint in the published layout (``Qwen2ForPrmModel``
config, one ``model.safetensors`` with the Qwen2 causal LM under ``model.*`` (tied embeddings, as the 1.5B) and the
value head ``v_head.summary.weight/bias``), scored against skywork-o1-prm-inference's recipe written out here."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from published_helpers import assert_close, claimed_by_others, copy_configs, own_format_folders
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM, AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

from prm.model.formats import detect_format
from prm.model.published import qwen_math_prm, skywork_prm
from prm.model.tiny import tiny_tokenizer

TEXTS = ["Janet's ducks lay 16 eggs per day. She eats 3 and bakes with 4.", "16 - 3 - 4 = 9", "9 * 2 = 18",
         "Therefore she makes $\\boxed{18}$ dollars.",
         "To determine how much money Janet makes, we follow these steps:",
         "1. Calculate the total number of eggs.\n2. Subtract the eggs used."] * 20
PROBLEM = "Janet's ducks lay 16 eggs per day. She eats 3 and bakes with 4. She sells the rest for $2 each."
STEPS = ["To determine how much money Janet makes, we follow these steps:", "16 - 3 - 4 = 9 eggs are left.",
         "9 * 2 = 18", "Therefore she makes $\\boxed{18}$ dollars."]


def save_skywork_prm(folder: Path, seed: int = 0, architectures: tuple[str, ...] = ("Qwen2ForPrmModel",)) -> Path:
    """A tiny Skywork-o1-Open-PRM checkpoint in the published layout (single safetensors file)."""
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = tiny_tokenizer(TEXTS, vocab_size=400)
    tokenizer.add_tokens(["<|im_start|>", "<|im_end|>"], special_tokens=True)
    tokenizer.eos_token, tokenizer.pad_token = "<|im_end|>", "<|endoftext|>"
    tokenizer.bos_token = "<|endoftext|>"  # assumed: prepare_input needs tokenizer.bos_token to be set
    tokenizer.save_pretrained(str(folder))
    bos, eos = tokenizer.convert_tokens_to_ids("<|endoftext|>"), tokenizer.convert_tokens_to_ids("<|im_end|>")
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=512,
                         tie_word_embeddings=True, bos_token_id=bos, eos_token_id=eos)
    torch.manual_seed(seed)
    lm = Qwen2ForCausalLM(config)
    v_head = torch.nn.Linear(64, 1)
    torch.nn.init.normal_(v_head.weight, std=0.1)
    state = {k: v.to(torch.bfloat16).contiguous() for k, v in lm.state_dict().items() if k.startswith("model.")}
    state.update({f"v_head.summary.{k}": v.to(torch.bfloat16).contiguous() for k, v in v_head.state_dict().items()})
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    published = {
        "architectures": list(architectures), "attention_dropout": 0.0, "bos_token_id": bos, "eos_token_id": eos,
        "hidden_act": "silu", "hidden_size": 64, "initializer_range": 0.02, "intermediate_size": 128,
        "max_position_embeddings": 512, "max_window_layers": 2, "model_type": "qwen2", "num_attention_heads": 2,
        "num_hidden_layers": 2, "num_key_value_heads": 1, "rms_norm_eps": 1e-06, "rope_theta": 10000.0,
        "sliding_window": 512, "tie_word_embeddings": True, "torch_dtype": "bfloat16", "use_cache": True,
        "use_sliding_window": False, "vocab_size": len(tokenizer)}
    (folder / "config.json").write_text(json.dumps(published, indent=2))
    return folder


# --- skywork-o1-prm-inference's recipe (model_utils/io_utils.py, prm_model.py), with plain transformers ---------

def prepare_input(problem, response, tokenizer, step_token):
    prompt_ids = tokenizer.encode(tokenizer.bos_token + problem + "\n")
    response_ids = []
    steps = []
    reward_flags = [0] * len(prompt_ids)
    step_token_id = tokenizer.encode(step_token)[-1]
    for step in response.split(step_token):
        step_ids = tokenizer.encode(step) if step != "" else []
        step_ids += [step_token_id]
        step = step + step_token
        flag = [0] * len(step_ids)
        flag[-1] = 1
        response_ids.extend(step_ids)
        reward_flags.extend(flag)
        steps.append(step)
    return prompt_ids + response_ids, steps, reward_flags


def prepare_batch_input_for_model(input_ids, reward_flags, pad_token_id):
    pad = torch.nn.utils.rnn.pad_sequence
    return (pad([torch.LongTensor(ids) for ids in input_ids], batch_first=True, padding_value=pad_token_id),
            pad([torch.LongTensor([1] * len(ids)) for ids in input_ids], batch_first=True, padding_value=0),
            pad([torch.LongTensor(flags) for flags in reward_flags], batch_first=True, padding_value=0))


def derive_step_rewards(rewards, reward_flags):
    out = []
    for i in range(rewards.shape[0]):
        indices = torch.nonzero(reward_flags[i] == 1).view(-1)
        out.append([rewards[i][indices[j]].item() for j in range(len(indices))])
    return out


class SkyworkRecipe:
    """PRM_MODEL: the causal LM's last hidden state -> v_head.summary (float32) -> sigmoid (return_probs=True)."""

    def __init__(self, folder: Path) -> None:
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder))
        self.lm = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32).eval()
        state = load_file(str(folder / "model.safetensors"))
        self.v_head = torch.nn.Linear(64, 1)
        self.v_head.load_state_dict({"weight": state["v_head.summary.weight"].float(),
                                     "bias": state["v_head.summary.bias"].float()})

    @torch.no_grad()
    def __call__(self, items: list[tuple[str, str]]) -> list[list[float]]:
        processed = [prepare_input(p, r, tokenizer=self.tokenizer, step_token="\n") for p, r in items]
        input_ids, _, reward_flags = zip(*processed, strict=True)
        input_ids, attention_mask, reward_flags = prepare_batch_input_for_model(input_ids, reward_flags,
                                                                                self.tokenizer.pad_token_id)
        out = self.lm(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
        value = self.v_head(out.hidden_states[-1].float()).squeeze(-1)
        return derive_step_rewards(torch.sigmoid(value), reward_flags)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_skywork_prm(tmp_path_factory.mktemp("skywork-prm"))


@pytest.fixture(scope="module")
def recipe(folder: Path) -> SkyworkRecipe:
    return SkyworkRecipe(folder)


@pytest.fixture(scope="module")
def scorer(folder: Path) -> skywork_prm.SkyworkPRMScorer:
    return skywork_prm.load(folder, device="cpu", dtype=torch.float32)


SOLUTIONS = [STEPS, ["16 - 7 = 8", "8 * 2 = 16", "$\\boxed{16}$"], ["9 * 2 = 18"],
             ["1. Calculate the total number of eggs.", "2. Subtract the eggs used.", "16 - 3 - 4 = 9", "9 * 2 = 18",
              "Therefore she makes $\\boxed{18}$ dollars."]]


# --- detection ------------------------------------------------------------------------------------------------

def test_detect_accepts_the_published_layout_and_other_detectors_reject_it(folder: Path, tmp_path: Path) -> None:
    assert skywork_prm.detect(folder)
    assert not qwen_math_prm.detect(folder)
    assert claimed_by_others(folder, "skywork_prm") == []  # the own formats and the other published ones
    assert detect_format(folder) == "skywork_prm"
    # a re-saved copy whose config names a plain causal LM: found by the value head in the safetensors header
    resaved = save_skywork_prm(tmp_path / "resaved", architectures=("Qwen2ForCausalLM",))
    assert skywork_prm.detect(resaved)
    (resaved / "model.safetensors.index.json").write_text(json.dumps(
        {"weight_map": {"model.embed_tokens.weight": "model.safetensors", "lm_head.weight": "model.safetensors"}}))
    assert not skywork_prm.detect(resaved)  # the index says: no value head


def test_detect_rejects_other_folders_without_raising(tmp_path: Path) -> None:
    for own in own_format_folders(tmp_path, TEXTS).values():
        assert not skywork_prm.detect(own), own
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "config.json").write_text(json.dumps({"model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"]}))
    (junk / "model.safetensors").write_bytes(b"\x00corrupt" * 16)
    (tmp_path / "empty").mkdir()
    assert not skywork_prm.detect(junk) and not skywork_prm.detect(tmp_path / "empty")
    assert not skywork_prm.detect(tmp_path / "absent")


# --- scores ---------------------------------------------------------------------------------------------------

def test_scores_equal_the_published_recipe(scorer, recipe: SkyworkRecipe) -> None:
    assert scorer.format == "skywork_prm" and scorer.device == torch.device("cpu")
    assert scorer.model.dtype == torch.float32 and scorer.config.segmentation == "newline"
    expected = recipe([(PROBLEM, "\n".join(steps)) for steps in SOLUTIONS])  # one padded batch, as published
    assert_close(scorer.score_batch([(PROBLEM, steps) for steps in SOLUTIONS]), expected)
    flat = [s for scores in expected for s in scores]
    assert max(flat) - min(flat) > 0.02  # the scores are not all alike


def test_raw_text_batching_and_padding_match_one_at_a_time(scorer, recipe: SkyworkRecipe) -> None:
    one_by_one = [scorer.score(PROBLEM, steps) for steps in SOLUTIONS]
    assert_close(scorer.score_batch([(PROBLEM, s) for s in SOLUTIONS], batch_size=3), one_by_one)
    assert_close(scorer.score_batch([(PROBLEM, "\n".join(s)) for s in SOLUTIONS]), one_by_one)
    assert_close([scorer.score(PROBLEM, "\n\n".join(STEPS) + "\n")], [one_by_one[0]])  # blank lines dropped
    assert_close([recipe([(PROBLEM, "\n".join(s))])[0] for s in SOLUTIONS], one_by_one)
    assert scorer.score_batch([(PROBLEM, []), (PROBLEM, "\n\n")]) == [[], []]
    with pytest.raises(ValueError, match="item 1"):
        scorer.score_batch([(PROBLEM, STEPS), (PROBLEM, [3])])


def test_steps_past_max_length_score_none(folder: Path, scorer, recipe: SkyworkRecipe) -> None:
    ids, _, flags = prepare_input(PROBLEM, "\n".join(STEPS), recipe.tokenizer, "\n")
    ends = [i for i, flag in enumerate(flags) if flag]
    short = skywork_prm.load(folder, device="cpu", dtype=torch.float32, max_length=ends[2] + 1)
    full = scorer.score(PROBLEM, STEPS)
    got = short.score_batch([(PROBLEM, STEPS), (PROBLEM, STEPS[:2])])
    assert got[0][:3] == pytest.approx(full[:3], abs=1e-5) and got[0][3] is None
    assert got[1] == pytest.approx(full[:2], abs=1e-5)
    assert skywork_prm.load(folder, device="cpu", dtype=torch.float32, max_length=ends[0]).score(
        PROBLEM, STEPS) == [None] * 4


def test_a_tokenizer_without_bos_uses_the_config_bos_id(folder: Path, scorer, tmp_path: Path) -> None:
    copy = Path(shutil.copytree(folder, tmp_path / "no-bos"))
    config = json.loads((copy / "tokenizer_config.json").read_text())
    config.pop("bos_token", None)
    (copy / "tokenizer_config.json").write_text(json.dumps(config))
    no_bos = skywork_prm.load(copy, device="cpu", dtype=torch.float32)
    assert no_bos.tokenizer.bos_token is None
    assert no_bos.score(PROBLEM, STEPS) == pytest.approx(scorer.score(PROBLEM, STEPS), abs=1e-6)
    with pytest.raises(ValueError, match="unknown option"):
        skywork_prm.load(folder, device="cpu", system_prompt="x")


# --- broken checkpoints ---------------------------------------------------------------------------------------

def test_missing_or_corrupt_weights_fail_clearly(folder: Path, tmp_path: Path) -> None:
    missing = copy_configs(folder, tmp_path / "missing")
    with pytest.raises(ValueError, match="missing"):
        skywork_prm.load(missing, device="cpu", dtype=torch.float32)
    corrupt = Path(shutil.copytree(missing, tmp_path / "corrupt"))
    (corrupt / "model.safetensors").write_bytes(b"\x00not a safetensors file" * 8)
    with pytest.raises(ValueError, match="unreadable weights"):
        skywork_prm.load(corrupt, device="cpu", dtype=torch.float32)
    headless = Path(shutil.copytree(missing, tmp_path / "headless"))
    save_file({k: v for k, v in load_file(str(folder / "model.safetensors")).items() if k.startswith("model.")},
              str(headless / "model.safetensors"))
    with pytest.raises(ValueError, match="no tensor v_head.summary"):
        skywork_prm.load(headless, device="cpu", dtype=torch.float32)
