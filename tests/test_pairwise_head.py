"""Pairwise (Bradley-Terry) training of the fine-tuned heads on a tiny in-process Llama: the reward logit, the
loss against a hand computation, pairs learnt on held-out problems, and pointwise runs of both heads beating
chance on the held-out problems."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from prm.model.modeling import load_backbone
from prm.model.tiny import save_tiny_backbone
from prm.train import TrainConfig, train_prm
from prm.train.data import encode_rows
from prm.train.pairs import preference_rows
from prm.train.pairwise_head import (
    PairCollator,
    PairDataset,
    PairwiseTrainer,
    reward_logits,
    sequence_pairs,
)

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _rows(count: int, seed: int) -> list[dict]:
    """Per problem a right solution and one whose second step is wrong and says so ("no"): learnable by a tiny
    model in a few steps, so the test checks the objective's wiring, not arithmetic."""
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        a, b = rng.randint(1, 9), rng.randint(1, 9)
        wrong = a + b + rng.choice([-2, -1, 1, 2])
        for c, mark, labels in ((a + b, "yes", [1.0, 1.0]), (wrong, "no", [1.0, 0.0])):
            rows.append({"prompt": f"{a}+{b}", "completions": [f"add {a} {b}", f"get {c} {mark}"],
                         "labels": labels, "problem_id": f"s{seed}-{i}", "source": "test"})
    return rows


def _write(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("pairs")
    train, held = _rows(80, 0), _rows(30, 1)
    texts = [r["prompt"] + "\n" + "\n\n".join(r["completions"]) for r in train]
    return {"train": _write(folder / "t.jsonl", train), "eval": _write(folder / "e.jsonl", held),
            "backbone": str(save_tiny_backbone(folder / "backbone", texts))}


def test_reward_logit_is_the_log_odds_the_scorer_reads() -> None:
    logits = torch.tensor([[[0.0, 0.0], [1.0, 3.0]], [[2.0, -1.0], [0.0, 0.0]]])
    two_class = reward_logits(logits, torch.tensor([1, 0]), "two_class")
    assert two_class.tolist() == [2.0, -3.0]
    assert torch.allclose(torch.sigmoid(two_class), torch.stack([logits[0, 1].softmax(-1)[1],
                                                                 logits[1, 0].softmax(-1)[1]]))
    assert reward_logits(logits, torch.tensor([1, 0]), "scalar").tolist() == [1.0, 2.0]


def test_loss_is_bradley_terry_on_the_compared_tags(files) -> None:
    config = TrainConfig(data=files["train"], model=files["backbone"], out_dir="unused", objective="pairwise")
    model, tokenizer, tag_id, _ = load_backbone(files["backbone"], "two_class")
    rows = preference_rows(_write(Path(files["train"]).with_name("prefs.jsonl"), [
        {"prompt": "1+2", "chosen": "add 1 2\n\nget 3 yes", "rejected": "get 4 no"}]))
    sequences, _ = encode_rows(rows, tokenizer, tag_id, max_length=config.max_length,
                               separator=config.step_separator, tag_token=config.step_tag, outcome=True,
                               keep_unlabelled=True)
    pairs = sequence_pairs(rows, sequences, outcome=True)
    assert pairs == [((0, 1), (1, 0))]  # compared at each solution's last step
    batch = PairCollator(tokenizer.pad_token_id)([PairDataset(sequences, pairs)[0]])
    trainer = PairwiseTrainer.__new__(PairwiseTrainer)
    trainer.head = "two_class"
    loss = trainer.compute_loss(model, dict(batch))
    with torch.no_grad():
        chosen = model(input_ids=torch.tensor([sequences[0].input_ids])).logits[0, sequences[0].tag_positions[1]]
        rejected = model(input_ids=torch.tensor([sequences[1].input_ids])).logits[0, sequences[1].tag_positions[0]]
    margin = (chosen[1] - chosen[0]) - (rejected[1] - rejected[0])
    assert loss.item() == pytest.approx(-F.logsigmoid(margin).item(), abs=1e-5)


@pytest.mark.parametrize("head", ["two_class", "scalar"])
def test_pairwise_heads_learn_to_rank_held_out_pairs(files, tmp_path, head) -> None:
    common = dict(data=files["train"], eval_data=files["eval"], model=files["backbone"], head=head, max_steps=30,
                  batch_size=8, lr=3e-3, warmup_ratio=0.0, save_steps=100, logging_steps=10, threads=1,
                  eval_problems="none")
    pairwise = train_prm(TrainConfig(out_dir=str(tmp_path / "bt"), objective="pairwise", **common))
    assert pairwise.metrics["eval_pairs"] >= 30  # a same-prefix step pair per problem (more: repeated prompts)
    # measured on data/backbone/training seeds 0-2, both heads: a random head 0.27-0.86, trained 1.00
    assert pairwise.metrics["eval_pair_accuracy"] >= 0.95
    assert "eval_step_auc" in pairwise.metrics  # step metrics computed outside the pairwise Trainer
    pointwise = train_prm(TrainConfig(out_dir=str(tmp_path / "pw"), **common))
    assert pointwise.metrics["eval_pairs"] == pairwise.metrics["eval_pairs"]
    # the pointwise (per-step label) fit beats chance on the held-out problems too. Chance: pairs 0.5, AUC 0.5,
    # step accuracy 0.75 (the positive share). Measured on data/backbone/training seeds 0-5, both heads: trained
    # 1.00 on all four; an untrained head (lr 0) pairs 0.30-0.81, AUC 0.31-0.69, accuracy 0.28-0.76, first
    # error 0.03-0.52
    metrics = pointwise.metrics
    assert metrics["eval_positive_share"] == 0.75
    assert metrics["eval_pair_accuracy"] >= 0.9 and metrics["eval_step_auc"] >= 0.9
    assert metrics["eval_step_accuracy"] >= 0.9 and metrics["eval_first_error_accuracy"] >= 0.9
