"""The PRM model on a tiny in-process Llama: tag token, heads, loss, save/load with plain transformers,
single-pass scores equal to per-prefix scores, batching that does not change scores."""

from __future__ import annotations

import json
import math

import pytest
import torch
from transformers import AutoModelForTokenClassification, AutoTokenizer

from data.build import build_dataset
from data.records import StepwiseRow, read_records
from prm.model.modeling import add_step_tag, load_backbone, prm_loss, step_probabilities
from prm.model.scoring import PRMScorer
from prm.model.tiny import save_tiny_backbone, save_tiny_prm

pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def rows(tmp_path_factory) -> list[StepwiseRow]:
    path = tmp_path_factory.mktemp("data") / "rows.jsonl"
    build_dataset(path, n_synthetic=40, gsm8k=0, math=0, seed=1)
    return list(read_records(path, StepwiseRow))


@pytest.fixture(scope="module")
def backbone(tmp_path_factory, rows) -> str:
    texts = [row.prompt + "\n" + "\n\n".join(row.completions) for row in rows]
    return str(save_tiny_backbone(tmp_path_factory.mktemp("backbone"), texts))


def _saved_prm(backbone: str, folder, head: str) -> str:
    return str(save_tiny_prm(folder, backbone, seed=1, head=head))  # a random head with spread-out scores


@pytest.fixture(scope="module", params=["two_class", "scalar"])
def prm_folder(request, tmp_path_factory, backbone) -> str:
    return _saved_prm(backbone, tmp_path_factory.mktemp(f"prm-{request.param}"), request.param)


def test_backbone_gets_a_tag_token_and_a_head(backbone):
    plain = AutoTokenizer.from_pretrained(backbone)
    for head, classes in (("two_class", 2), ("scalar", 1)):
        model, tokenizer, tag_id, added = load_backbone(backbone, head)
        assert added and tag_id == len(plain) and len(tokenizer) == len(plain) + 1
        assert model.get_input_embeddings().num_embeddings == len(tokenizer)
        assert model.score.out_features == classes
        assert tokenizer.convert_ids_to_tokens(tag_id) == "<|step|>"
        assert tokenizer("a <|step|> b")["input_ids"].count(tag_id) == 1  # special: never split


def test_existing_token_can_be_the_tag(backbone):
    tokenizer = AutoTokenizer.from_pretrained(backbone)
    size = len(tokenizer)
    tag_id, added = add_step_tag(tokenizer, "#")
    assert not added and len(tokenizer) == size and tokenizer.convert_ids_to_tokens(tag_id) == "#"


def test_loss_soft_labels_and_ignored_positions():
    logits = torch.tensor([[[0.3, -0.2], [1.0, 2.0], [0.0, 0.5]]])
    labels = torch.tensor([[-100.0, 0.4, 1.0]])
    p = torch.softmax(logits[0], -1)
    expected = -(0.4 * p[1, 1].log() + 0.6 * p[1, 0].log()) - p[2, 1].log()
    assert torch.allclose(prm_loss(logits, labels, "two_class"), expected / 2)
    assert torch.allclose(prm_loss(logits, labels, "two_class", num_items=torch.tensor(4)), expected / 4)
    scalar = logits[..., :1]
    s = torch.sigmoid(scalar[0, :, 0])
    bce = -(0.4 * s[1].log() + 0.6 * (1 - s[1]).log()) - s[2].log()
    assert torch.allclose(prm_loss(scalar, labels, "scalar"), bce / 2, atol=1e-6)
    # a soft label of 0.4 is not the hard label 0: their losses differ (TRL's int() bug would make them equal)
    assert not torch.allclose(prm_loss(logits, labels, "two_class"),
                              prm_loss(logits, torch.tensor([[-100.0, 0.0, 1.0]]), "two_class"))
    assert torch.allclose(step_probabilities(logits, "two_class"), torch.softmax(logits, -1)[..., 1])


def _plain_transformers_scores(folder: str, problem: str, steps: list[str]) -> list[float]:
    """The recipe from prm.model.scoring's docstring, verbatim: no prm-math code."""
    cfg = json.load(open(f"{folder}/prm_config.json"))
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForTokenClassification.from_pretrained(folder).eval()
    if cfg["uses_chat_template"]:
        message = {"role": "user", "content": cfg["prompt_template"].format(problem=problem)}
        ids = tok(tok.apply_chat_template([message], tokenize=False, add_generation_prompt=True),
                  add_special_tokens=False)["input_ids"]
    else:
        ids = tok(cfg["prompt_template"].format(problem=problem))["input_ids"]
    tags = []
    for i, step in enumerate(steps):
        ids += tok(step if i == 0 else cfg["step_separator"] + step, add_special_tokens=False)["input_ids"]
        tags.append(len(ids))
        ids.append(cfg["tag_token_id"])
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0, tags]
    scores = logits.softmax(-1)[:, 1] if cfg["head"] == "two_class" else logits[:, 0].sigmoid()
    return scores.tolist()


def test_saved_prm_scores_identically_with_plain_transformers(prm_folder, rows):
    scorer = PRMScorer(prm_folder, device="cpu")
    for row in rows[:2]:
        ours = scorer.score(row.prompt, row.completions)
        assert ours == pytest.approx(_plain_transformers_scores(prm_folder, row.prompt, row.completions), abs=1e-6)


def test_single_pass_equals_per_prefix(prm_folder, rows):
    scorer = PRMScorer(prm_folder, device="cpu")
    long_row = max(rows, key=lambda r: len(r.completions))
    steps = long_row.completions * 3  # 6+ steps: later tags must not leak into earlier positions
    single = scorer.score(long_row.prompt, steps)
    per_prefix = scorer.score_per_prefix(long_row.prompt, steps)
    assert len(single) == len(per_prefix) == len(steps)
    assert single == pytest.approx(per_prefix, abs=1e-5)
    assert max(single) - min(single) > 1e-3  # not a degenerate constant model


def test_batched_scores_equal_one_by_one(prm_folder, rows):
    scorer = PRMScorer(prm_folder, device="cpu")
    items = [(row.prompt, row.completions) for row in rows[:9]]
    batched = scorer.score_batch(items, batch_size=4)
    alone = [scorer.score(problem, steps) for problem, steps in items]
    for b, a, (_, steps) in zip(batched, alone, items, strict=True):
        assert len(b) == len(steps)
        assert b == pytest.approx(a, abs=1e-5)
        assert all(0.0 < s < 1.0 and not math.isnan(s) for s in b)
