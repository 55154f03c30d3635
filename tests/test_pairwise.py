"""Pairwise (Bradley-Terry) reward-model training: the pairs, TRL preference rows, and the fit on a tiny LM."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from test_likelihood_prm import verifier_lm  # noqa: F401  (fixture)

from data.records import StepwiseRow
from prm.cli import main
from prm.model.tiny import save_tiny_backbone
from prm.train import TrainConfig, train_prm
from prm.train.pairs import outcome_pairs, pair_accuracy, preference_rows, step_pairs

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _row(prompt: str, steps: list[str], labels: list[float], **extra: object) -> StepwiseRow:
    return StepwiseRow(prompt=prompt, completions=steps, labels=labels, extra=dict(extra))


def test_step_pairs_share_the_steps_before_them() -> None:
    rows = [_row("1+2", ["add 1 2", "get 3", "ok"], [1.0, 1.0, 1.0]),
            _row("1+2", ["add 1 2", "get 4", "ok"], [1.0, 0.0, 0.0]),
            _row("1+2", ["add 2 1", "get 4"], [1.0, 0.0]),  # another first step: no common prefix at step 1
            _row("2+2", ["add 2 2", "get 5"], [1.0, 0.0])]
    assert step_pairs(rows, lambda i: len(rows[i].completions)) == [((0, 1), (1, 1))]
    assert step_pairs(rows, lambda i: 1) == []  # only the first steps have features: all labelled right


def test_outcome_pairs_within_a_problem() -> None:
    rows = [_row("p", ["a"], [1.0]), _row("p", ["b"], [0.0]), _row("p", ["c"], [0.0]), _row("q", ["d"], [0.0])]
    pairs = outcome_pairs(rows, lambda row: row.labels[-1], lambda i: 1)
    assert pairs == [((0, 0), (1, 0)), ((0, 0), (2, 0))]
    assert pair_accuracy({(0, 0): 0.9, (1, 0): 0.2, (2, 0): 0.9}.__getitem__, pairs) == 0.75  # a tie counts half


def test_trl_preference_rows(tmp_path: Path) -> None:
    path = tmp_path / "prefs.jsonl"
    path.write_text(json.dumps({"prompt": "1+2", "chosen": "add 1 2\n\nget 3", "rejected": "get 4"}) + "\n"
                    + json.dumps({"prompt": [{"role": "user", "content": "2+2"}],
                                  "chosen": [{"role": "assistant", "content": "get 4"}],
                                  "rejected": [{"role": "assistant", "content": "get 5"}]}) + "\n")
    rows = preference_rows(path)
    assert [(r.prompt, r.completions, r.extra["answer_correct"]) for r in rows] == [
        ("1+2", ["add 1 2", "get 3"], True), ("1+2", ["get 4"], False), ("2+2", ["get 4"], True),
        ("2+2", ["get 5"], False)]
    path.write_text(json.dumps({"prompt": "x", "chosen": 3, "rejected": "y"}) + "\n")
    with pytest.raises(Exception, match="line 1: field 'chosen' should be a string or a conversation"):
        preference_rows(path)


def _paired_rows(count: int, seed: int) -> list[dict]:
    """For each problem a right solution and one with a wrong sum at step 1 (same first step)."""
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        a, b = rng.randint(1, 9), rng.randint(1, 9)
        wrong = a + b + rng.choice([-2, -1, 1, 2])
        for c, labels in ((a + b, [1.0, 1.0, 1.0]), (wrong, [1.0, 0.0, 0.0])):
            rows.append({"prompt": f"{a}+{b}", "completions": [f"add {a} {b}", f"get {c}", f"\\boxed{{{c}}}"],
                         "labels": labels, "problem_id": f"s{seed}-{i}", "source": "test"})
    return rows


def _write(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_pairwise_fits_rank_pairs(verifier_lm: Path, tmp_path: Path) -> None:  # noqa: F811
    common = dict(head="likelihood", model=str(verifier_lm), threads=1, eval_problems="none")
    data, held = _write(tmp_path / "t.jsonl", _paired_rows(60, 0)), _write(tmp_path / "e.jsonl", _paired_rows(30, 1))
    process = train_prm(TrainConfig(data=data, eval_data=held, out_dir=str(tmp_path / "pp"), objective="pairwise",
                                    **common))
    assert process.metrics["eval_pairs"] >= 30 and process.metrics["eval_pair_accuracy"] >= 0.9  # repeats: more
    assert process.metrics["eval_step_auc"] >= 0.9  # the bias fitted on the labels keeps it a classifier
    prefs = [{"prompt": r["prompt"], "chosen": "\n\n".join(r["completions"]),
              "rejected": "\n\n".join(w["completions"])} for r, w in zip(*[iter(_paired_rows(60, 2))] * 2,
                                                                        strict=True)]
    outcome = train_prm(TrainConfig(data=_write(tmp_path / "p.jsonl", prefs), eval_fraction=0.25, outcome=True,
                                    out_dir=str(tmp_path / "op"), objective="pairwise", **common))
    assert outcome.metrics["eval_pair_accuracy"] >= 0.9


def test_preference_rows_need_an_outcome_rm(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rows = [{"prompt": f"{a}+2", "chosen": f"get {a + 2}", "rejected": f"get {a + 3}"} for a in range(1, 9)]
    prefs = _write(tmp_path / "p.jsonl", rows)
    model = save_tiny_backbone(tmp_path / "lm", [r["prompt"] + "\n" + r["chosen"] + r["rejected"] for r in rows])
    command = ["train", "--data", prefs, "--head", "likelihood", "--model", str(model), "--eval-problems", "none",
               "--threads", "1"]
    assert main([*command, "--out-dir", str(tmp_path / "prm")]) == 2  # whole-solution preferences: no step labels
    assert "preference rows (chosen/rejected) train an outcome RM: add --outcome" in caplog.text
    assert not (tmp_path / "prm").exists()
    assert main([*command, "--outcome", "--out-dir", str(tmp_path / "orm")]) == 0  # the rule was all that stopped it
