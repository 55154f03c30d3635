"""Qwen2.5-Math-PRM (``qwen2_5_math_prm``): a tiny random checkpoint in the published layout (sharded safetensors,
``model.*`` backbone, ``score.0/score.2`` head with biases, ``Qwen2ForProcessRewardModel`` config with its
``auto_map``, ``<extra_0>`` and a Qwen chat template), scored against the model card's recipe written out here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from published_helpers import assert_close, claimed_by_others, copy_configs, own_format_folders
from safetensors.torch import load_file, save_file
from transformers import AutoTokenizer, Qwen2Config, Qwen2Model

from prm.model.formats import detect_format
from prm.model.published import qwen_math_prm, skywork_prm
from prm.model.tiny import tiny_tokenizer

SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."
# Qwen2.5's template without tools: a default system turn when none is given, then one <|im_start|> turn each.
QWEN_TEMPLATE = (
    "{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"
    "{%- else %}{{- '<|im_start|>system\\nPlease reason step by step, and put your final answer within "
    "\\\\boxed{}.<|im_end|>\\n' }}{%- endif %}"
    "{%- for message in messages %}{%- if not (message.role == 'system' and loop.first) %}"
    "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}{%- endif %}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
TEXTS = ["Tom has 3 apples and buys 4 more. How many apples does he have?", "3 + 4 = 7", "The answer is \\boxed{7}.",
         "Step 1: compute 12 * 3 = 36.", "Please reason step by step, and put your final answer within \\boxed{}.",
         "system user assistant", "A train travels 120 km in 2 hours; its speed is 60 km per hour."] * 20
PROBLEM = "Tom has 3 apples and buys 4 more. How many apples does he have?"
STEPS = ["Tom starts with 3 apples.", "He buys 4 more: 3 + 4 = 7.", "The answer is \\boxed{7}."]


def save_qwen_math_prm(folder: Path, seed: int = 0) -> Path:
    """A tiny Qwen2.5-Math-PRM checkpoint in the published layout, in two safetensors shards."""
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = tiny_tokenizer(TEXTS, vocab_size=400)
    tokenizer.add_tokens(["<|im_start|>", "<|im_end|>", "<extra_0>"], special_tokens=True)
    tokenizer.eos_token, tokenizer.pad_token = "<|im_end|>", "<|endoftext|>"
    tokenizer.chat_template = QWEN_TEMPLATE
    tokenizer.save_pretrained(str(folder))
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=512,
                         tie_word_embeddings=False, rms_norm_eps=1e-5, rope_theta=10000.0)
    torch.manual_seed(seed)
    backbone = Qwen2Model(config)
    head = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 2))
    torch.nn.init.normal_(head[2].weight, std=2.0)
    state = {f"model.{k}": v.to(torch.bfloat16).contiguous() for k, v in backbone.state_dict().items()}
    state.update({f"score.{k}": v.to(torch.bfloat16).contiguous() for k, v in head.state_dict().items()})
    keys = sorted(state)
    shards = {"model-00001-of-00002.safetensors": keys[: len(keys) // 2],
              "model-00002-of-00002.safetensors": keys[len(keys) // 2:]}
    for name, names in shards.items():
        save_file({k: state[k] for k in names}, str(folder / name), metadata={"format": "pt"})
    index = {"metadata": {"total_size": sum(v.numel() * v.element_size() for v in state.values())},
             "weight_map": {k: name for name, names in shards.items() for k in names}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
    published = {  # config.json keys as Qwen/Qwen2.5-Math-PRM-7B has them
        "architectures": ["Qwen2ForProcessRewardModel"],
        "auto_map": {"AutoConfig": "configuration_qwen2_rm.Qwen2RMConfig",
                     "AutoModel": "modeling_qwen2_rm.Qwen2ForProcessRewardModel"},
        "attention_dropout": 0.0, "bos_token_id": tokenizer.convert_tokens_to_ids("<|endoftext|>"),
        "eos_token_id": tokenizer.convert_tokens_to_ids("<|im_end|>"), "hidden_act": "silu", "hidden_size": 64,
        "initializer_range": 0.02, "intermediate_size": 128, "max_position_embeddings": 512,
        "max_window_layers": 2, "model_type": "qwen2", "num_attention_heads": 2, "num_hidden_layers": 2,
        "num_key_value_heads": 1, "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "sliding_window": 512,
        "tie_word_embeddings": False, "torch_dtype": "bfloat16", "transformers_version": "4.37.0",
        "use_cache": True, "use_mrope": False, "use_sliding_window": False, "vocab_size": len(tokenizer)}
    (folder / "config.json").write_text(json.dumps(published, indent=2))
    return folder


# --- the model card's recipe, with plain transformers and the saved tensors ---------------------------------

def make_step_rewards(logits: torch.Tensor, token_masks: torch.Tensor) -> list[list[float]]:
    probabilities = F.softmax(logits, dim=-1)
    probabilities = probabilities * token_masks.unsqueeze(-1)  # bs, seq_len, num_labels
    all_scores_res = []
    for i in range(probabilities.size(0)):
        sample = probabilities[i]  # seq_len, num_labels
        positive_probs = sample[sample != 0].view(-1, 2)[:, 1]  # valid_tokens, num_labels
        all_scores_res.append(positive_probs.cpu().tolist())
    return all_scores_res


class CardRecipe:
    def __init__(self, folder: Path) -> None:
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder))
        state: dict[str, torch.Tensor] = {}
        for shard in sorted(folder.glob("*.safetensors")):
            state.update(load_file(str(shard)))
        self.backbone = Qwen2Model(Qwen2Config.from_pretrained(str(folder))).eval()
        self.backbone.load_state_dict({k.removeprefix("model."): v.float() for k, v in state.items()
                                       if k.startswith("model.")})
        self.score = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 2)).eval()
        self.score.load_state_dict({k.removeprefix("score."): v.float() for k, v in state.items()
                                    if k.startswith("score.")})

    def input_ids(self, problem: str, steps: list[str], system: str = SYSTEM) -> torch.Tensor:
        messages = [{"role": "system", "content": system}, {"role": "user", "content": problem},
                    {"role": "assistant", "content": "<extra_0>".join(steps) + "<extra_0>"}]
        conversation_str = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)
        return torch.tensor([self.tokenizer.encode(conversation_str)])

    @torch.no_grad()
    def __call__(self, problem: str, steps: list[str], system: str = SYSTEM) -> list[float]:
        input_ids = self.input_ids(problem, steps, system)
        logits = self.score(self.backbone(input_ids=input_ids).last_hidden_state)
        step_sep_id = self.tokenizer.encode("<extra_0>")[0]
        return make_step_rewards(logits, input_ids == step_sep_id)[0]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_qwen_math_prm(tmp_path_factory.mktemp("qwen-math-prm"))


@pytest.fixture(scope="module")
def recipe(folder: Path) -> CardRecipe:
    return CardRecipe(folder)


@pytest.fixture(scope="module")
def scorer(folder: Path) -> qwen_math_prm.QwenMathPRMScorer:
    return qwen_math_prm.load(folder, device="cpu", dtype=torch.float32)


SOLUTIONS = [STEPS, ["3 + 4 = 8.", "The answer is \\boxed{8}."], ["Tom has 7 apples; the answer is \\boxed{7}."],
             ["Step 1: compute 12 * 3 = 36.", "A train travels 120 km in 2 hours.", "3 + 4 = 7", "\\boxed{7}"]]


# --- detection ------------------------------------------------------------------------------------------------

def test_detect_accepts_the_published_layout_and_other_detectors_reject_it(folder: Path) -> None:
    assert qwen_math_prm.detect(folder)
    assert not skywork_prm.detect(folder)
    assert claimed_by_others(folder, "qwen2_5_math_prm") == []  # the own formats and the other published ones
    assert detect_format(folder) == "qwen2_5_math_prm"


def test_detect_rejects_other_folders_without_raising(tmp_path: Path) -> None:
    for own in own_format_folders(tmp_path, TEXTS).values():
        assert not qwen_math_prm.detect(own), own
    (tmp_path / "empty").mkdir()
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "config.json").write_text("{not json")
    assert not qwen_math_prm.detect(tmp_path / "empty") and not qwen_math_prm.detect(tmp_path / "junk")
    assert not qwen_math_prm.detect(tmp_path / "absent")


# --- scores ---------------------------------------------------------------------------------------------------

def test_scores_equal_the_model_card_recipe(scorer, recipe: CardRecipe) -> None:
    assert scorer.format == "qwen2_5_math_prm" and scorer.device == torch.device("cpu")
    assert scorer.model.dtype == torch.float32 and scorer.config.segmentation == "blank_line"
    expected = [recipe(PROBLEM, steps) for steps in SOLUTIONS]
    assert_close(scorer.score_batch([(PROBLEM, steps) for steps in SOLUTIONS]), expected)
    assert max(max(s) for s in expected) - min(min(s) for s in expected) > 0.01  # the scores are not all alike


def test_system_prompt_option(folder: Path, recipe: CardRecipe) -> None:
    custom = qwen_math_prm.load(folder, device="cpu", dtype="float32", system_prompt="Be brief.")
    assert custom.score(PROBLEM, STEPS) == pytest.approx(recipe(PROBLEM, STEPS, system="Be brief."), abs=1e-5)
    with pytest.raises(ValueError, match="unknown option"):
        qwen_math_prm.load(folder, device="cpu", dtype="float32", reference="x")


def test_raw_text_batching_and_padding_match_one_at_a_time(scorer) -> None:
    one_by_one = [scorer.score(PROBLEM, steps) for steps in SOLUTIONS]
    assert_close(scorer.score_batch([(PROBLEM, s) for s in SOLUTIONS], batch_size=3), one_by_one)
    assert_close(scorer.score_batch([(PROBLEM, "\n\n".join(steps)) for steps in SOLUTIONS]), one_by_one)
    assert scorer.score_batch([(PROBLEM, []), (PROBLEM, "   ")]) == [[], []]
    with pytest.raises(ValueError, match="item 0"):
        scorer.score_batch([("problem only",)])


def test_steps_past_max_length_score_none(folder: Path, scorer, recipe: CardRecipe) -> None:
    ids = recipe.input_ids(PROBLEM, STEPS)[0].tolist()
    step_id = recipe.tokenizer.encode("<extra_0>")[0]
    positions = [i for i, t in enumerate(ids) if t == step_id]
    short = qwen_math_prm.load(folder, device="cpu", dtype=torch.float32, max_length=positions[1] + 1)
    full = scorer.score(PROBLEM, STEPS)
    got = short.score_batch([(PROBLEM, STEPS), (PROBLEM, STEPS[:1])])
    assert got[0][:2] == pytest.approx(full[:2], abs=1e-5) and got[0][2] is None
    assert got[1] == pytest.approx(full[:1], abs=1e-5)
    tiny = qwen_math_prm.load(folder, device="cpu", dtype=torch.float32, max_length=positions[0])
    assert tiny.score(PROBLEM, STEPS) == [None, None, None]


def test_a_literal_step_token_in_the_text_is_removed(scorer) -> None:
    assert scorer.score(PROBLEM, ["Tom <extra_0>starts with 3 apples."]) == pytest.approx(
        scorer.score(PROBLEM, ["Tom starts with 3 apples."]), abs=1e-6)


# --- broken checkpoints ---------------------------------------------------------------------------------------

def test_missing_or_corrupt_weights_fail_clearly(folder: Path, tmp_path: Path) -> None:
    missing = copy_configs(folder, tmp_path / "missing")
    with pytest.raises(ValueError, match="missing"):
        qwen_math_prm.load(missing, device="cpu", dtype=torch.float32)
    corrupt = copy_configs(folder, tmp_path / "corrupt")
    for name in ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"):
        (corrupt / name).write_bytes(b"\x00not a safetensors file" * 8)
    with pytest.raises(ValueError, match="unreadable weights|could not load"):
        qwen_math_prm.load(corrupt, device="cpu", dtype=torch.float32)
    single = copy_configs(folder, tmp_path / "no-backbone")
    (single / "model.safetensors.index.json").unlink()
    save_file({k: v for k, v in load_file(str(folder / "model-00002-of-00002.safetensors")).items()}
              | {k: v for k, v in load_file(str(folder / "model-00001-of-00002.safetensors")).items()
                 if k.startswith("score.")}, str(single / "model.safetensors"))
    with pytest.raises(ValueError, match="missing or of the wrong shape|could not load"):
        qwen_math_prm.load(single, device="cpu", dtype=torch.float32)
    with pytest.raises(ValueError, match="not a folder or a hub id"):
        qwen_math_prm.load(tmp_path / "nowhere" / "at-all")
