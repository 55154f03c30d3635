"""The likelihood PRM: its features are the LM's own token log-probabilities, its head fits and round-trips,
``prm train --head likelihood`` learns to flag wrong sums with the tiny policy as verifier, and every user of
a PRM folder (``load_scorer``) scores it."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from prm.cli import main
from prm.model.formats import load_scorer
from prm.model.likelihood import FEATURES, HEAD_FILE, LikelihoodHead, LikelihoodScorer, StepFeaturizer, fit_head
from prm.model.scoring import PRMScorer
from prm.model.tags import encode_pieces
from prm.model.tiny import save_tiny_prm
from prm.train import TrainConfig, train_prm

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def sum_rows(count: int, seed: int) -> list[dict]:
    """Solutions in the tiny policy's format; every other one writes a wrong sum (its step 1 is the error)."""
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        a, b = rng.randint(1, 9), rng.randint(1, 9)
        right = i % 2 == 0
        c = a + b if right else a + b + rng.choice([-2, -1, 1, 2])
        rows.append({"prompt": f"{a}+{b}", "completions": [f"add {a} {b}", f"get {c}", f"\\boxed{{{c}}}"],
                     "labels": [1.0, 1.0, 1.0] if right else [1.0, 0.0, 0.0], "problem_id": f"s{seed}-{i}",
                     "source": "test"})
    return rows


def write_rows(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def lm(tiny_policy: Path) -> tuple[object, object]:
    return AutoModelForCausalLM.from_pretrained(tiny_policy).eval(), AutoTokenizer.from_pretrained(tiny_policy)


@pytest.fixture(scope="module")
def verifier_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny policy's recipe trained 3x longer: a verifier that knows its sums, as the quickstart's verifier
    LM is the policy trained further. On the 120-step policy the fit below scored first-error F1 0.46-0.81 and
    step AUC 0.81-0.94 over 5 seeds (AVX-512 and forced-AVX2 arithmetic alike), so any threshold was luck; on
    this one 12 runs (6 seeds x both) gave F1 >= 0.92, AUC >= 0.99 and >= 19 of 20 pairs ranked right."""
    from tiny_policy import build_tiny_policy

    return build_tiny_policy(tmp_path_factory.mktemp("verifier") / "lm", steps=360)


@pytest.fixture(scope="module")
def fitted(verifier_lm: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    folder = tmp_path_factory.mktemp("lprm")
    config = TrainConfig(head="likelihood", data=str(write_rows(folder / "train.jsonl", sum_rows(120, 0))),
                         eval_data=str(write_rows(folder / "eval.jsonl", sum_rows(60, 1))), model=str(verifier_lm),
                         out_dir=str(folder / "prm"), threads=1)
    return folder / "prm", train_prm(config)


def test_features_are_the_lms_token_log_probabilities(lm) -> None:
    model, tokenizer = lm
    steps = ["add 3 4", "get 7", "\\boxed{7}"]
    prompt_ids, step_ids = encode_pieces(tokenizer, "3+4", steps)
    ids = prompt_ids + [t for piece in step_ids for t in piece]
    with torch.no_grad():
        logprobs = torch.log_softmax(model(torch.tensor([ids])).logits[0, :-1].float(), -1)
    token_lp = [0.0] + [logprobs[t - 1, ids[t]].item() for t in range(1, len(ids))]
    start = len(prompt_ids) + len(step_ids[0]) + 2  # step 1 after its separator "\n\n" (two characters)
    own = token_lp[start: start + len("get 7")]
    vectors = StepFeaturizer(model, tokenizer).features([("3+4", steps)])[0]
    assert len(vectors) == 3 and len(vectors[0]) == len(FEATURES)
    assert vectors[1][0] == pytest.approx(min(own), abs=1e-4)
    assert vectors[1][1] == pytest.approx(sum(own) / len(own), abs=1e-4)
    assert vectors[1][2] == pytest.approx(own[-1], abs=1e-4)  # "7" is the step's one digit token
    assert [v[3] for v in vectors] == sorted((v[3] for v in vectors), reverse=True)  # running minimum
    assert vectors[2][3] == pytest.approx(min(v[0] for v in vectors), abs=1e-6)


def test_batched_features_equal_one_at_a_time(lm) -> None:
    model, tokenizer = lm
    featurizer = StepFeaturizer(model, tokenizer)
    items = [(row["prompt"], row["completions"][: 1 + i % 3]) for i, row in enumerate(sum_rows(7, 3))]
    batched = featurizer.features(items, batch_size=7)
    single = [featurizer.features([item], batch_size=1)[0] for item in items]
    assert [len(v) for v in batched] == [1 + i % 3 for i in range(7)]
    for a, b in zip(batched, single, strict=True):
        assert torch.allclose(torch.tensor(a), torch.tensor(b), atol=1e-4)


def test_fit_head_learns_the_direction_and_accepts_soft_labels() -> None:
    rng = random.Random(0)
    xs = [[rng.gauss(0, 1) for _ in FEATURES] for _ in range(400)]
    head = fit_head(xs, [1.0 if x[0] > 0 else 0.0 for x in xs])
    assert head.weights[0] > 2 * max(abs(w) for w in head.weights[1:])
    low, high = head.probabilities([[-1.0] * 5, [1.0] + [-1.0] * 4])
    assert 0 < low < 0.5 < high < 1
    soft_labels = [0.1 if x[0] > 0 else 0.7 for x in xs]
    soft = fit_head(xs, soft_labels)
    assert soft.weights[0] < 0 and abs(soft.weights[0]) < abs(head.weights[0]) / 2
    # with an intercept, logistic regression's mean prediction equals the mean label
    assert sum(soft.probabilities(xs)) / len(xs) == pytest.approx(sum(soft_labels) / len(xs), abs=0.01)
    with pytest.raises(ValueError, match="no labelled step"):
        fit_head([], [])


def test_head_file_round_trips_and_a_foreign_one_is_refused(tmp_path: Path) -> None:
    head = LikelihoodHead(weights=[0.5, -1.0, 2.0, 0.0, 1.0], bias=0.3, mean=[-1.0] * 5, scale=[2.0] * 5,
                          objective="outcome")
    head.save(tmp_path)
    assert LikelihoodHead.load(tmp_path) == head
    data = json.loads((tmp_path / HEAD_FILE).read_text())
    data["features"] = ["min_logprob"]
    (tmp_path / HEAD_FILE).write_text(json.dumps(data))
    with pytest.raises(ValueError, match="features"):
        LikelihoodHead.load(tmp_path)


def test_train_likelihood_flags_wrong_sums(fitted) -> None:
    folder, result = fitted
    assert result.metrics["eval_step_auc"] > 0.85
    assert result.metrics["eval_first_error_f1"] > 0.7
    assert json.loads((folder / "train_metrics.json").read_text())["metrics"]["eval_step_auc"] > 0.85
    scorer = load_scorer(folder, device="cpu")
    assert isinstance(scorer, LikelihoodScorer)
    rows = sum_rows(40, 2)  # unseen: alternately right and wrong sums
    scores = scorer.score_batch([(row["prompt"], row["completions"]) for row in rows])
    wins = [min(right) > min(wrong) for right, wrong in zip(scores[::2], scores[1::2], strict=True)]
    assert sum(wins) >= 0.8 * len(wins)
    assert scores[0][0] == pytest.approx(scorer.score(rows[0]["prompt"], rows[0]["completions"][:1])[0], abs=1e-5)
    assert scorer.score(rows[1]["prompt"], "\n\n".join(rows[1]["completions"])) == pytest.approx(scores[1], abs=1e-5)
    assert AutoModelForCausalLM.from_pretrained(folder) is not None  # still the plain LM


def test_outcome_objective_fits_the_last_step_only(tiny_policy: Path, tmp_path: Path) -> None:
    config = TrainConfig(head="likelihood", outcome=True, data=str(write_rows(tmp_path / "t.jsonl", sum_rows(80, 4))),
                         eval_fraction=0.25, model=str(tiny_policy), out_dir=str(tmp_path / "orm"), threads=1)
    result = train_prm(config)
    assert LikelihoodHead.load(tmp_path / "orm").objective == "outcome"
    assert result.metrics["eval_steps"] == result.metrics["eval_solutions"]  # one label per solution


def test_steps_past_max_length_score_none_and_bad_items_are_named(fitted) -> None:
    folder, _ = fitted
    short = LikelihoodScorer(folder, device="cpu", max_length=len("Problem: 3+4\n") + 40)
    scores = short.score("3+4", ["add 3 4"] + ["get 7"] * 20)
    assert scores[0] is not None and scores[-1] is None and len(scores) == 21
    empty = short.score("1+1", ["", "add 1 1", ""])  # empty steps still get finite scores
    assert len(empty) == 3 and all(0.0 < value < 1.0 for value in empty)
    with pytest.raises(ValueError, match="item 1: step 0"):
        short.score_batch([("1+1", ["add 1 1"]), ("1+1", [3])])


def test_load_scorer_keeps_fine_tuned_prms_on_prm_scorer(tiny_policy: Path, tmp_path: Path) -> None:
    save_tiny_prm(tmp_path / "tagged", tiny_policy)
    assert isinstance(load_scorer(tmp_path / "tagged", device="cpu"), PRMScorer)


def test_cli_fits_a_likelihood_prm_and_refuses_lora(tiny_policy: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture) -> None:
    data = str(write_rows(tmp_path / "t.jsonl", sum_rows(40, 5)))
    argv = ["train", "--head", "likelihood", "--data", data, "--model", str(tiny_policy), "--threads", "1"]
    assert main([*argv, "--out-dir", str(tmp_path / "p")]) == 0
    out = capsys.readouterr().out
    assert "step_auc" in out and "optimizer steps" not in out
    assert main([*argv, "--out-dir", str(tmp_path / "q"), "--lora"]) == 2
    assert not (tmp_path / "q" / HEAD_FILE).exists()
    assert not math.isnan(LikelihoodHead.load(tmp_path / "p").bias)


def test_trl_reward_and_grpo_prm_reward_load_a_likelihood_prm(fitted) -> None:
    from prm.integrations.trl import PRMOutcomeReward
    from prm.prompts import build_prompt

    folder, _ = fitted
    reward = PRMOutcomeReward(str(folder), aggregation="min", device="cpu")
    scorer = LikelihoodScorer(folder, device="cpu")
    solutions = ["add 2 5\n\nget 7\n\n\\boxed{7}", "add 2 5\n\nget 9\n\n\\boxed{9}"]
    values = reward([build_prompt("2+5")] * 2, solutions)
    assert values == pytest.approx([min(scorer.score("2+5", text)) for text in solutions], abs=1e-6)


def test_a_killed_fit_resumes_from_its_feature_journal(tiny_policy: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    data = write_rows(tmp_path / "rows.jsonl", sum_rows(600, 6))
    config = TrainConfig(head="likelihood", data=str(data), eval_fraction=0.2, model=str(tiny_policy),
                         out_dir=str(tmp_path / "resumed"), threads=1)
    real = StepFeaturizer.features
    computed: list[int] = []

    def features(self, items, batch_size=16):
        computed.append(len(items))
        if len(computed) == 2 and dying:
            raise KeyboardInterrupt("killed in the second chunk")
        return real(self, items, batch_size)

    monkeypatch.setattr(StepFeaturizer, "features", features)
    dying = True
    with pytest.raises(KeyboardInterrupt):
        train_prm(config)
    journal = tmp_path / "resumed" / "features-train.jsonl"
    assert len(journal.read_text().splitlines()) == computed[0] == 256
    dying, computed[:] = False, []
    with pytest.raises(ValueError, match="features-train.jsonl was written with other settings"):
        train_prm(TrainConfig(**{**config.__dict__, "max_length": 64}))  # features would differ: not mixed
    result = train_prm(config)
    assert sum(computed) == result.train_rows + result.eval_rows - 256  # only what the kill left undone
    assert not journal.exists() and not (tmp_path / "resumed" / "features-eval.jsonl").exists()
    fresh = train_prm(TrainConfig(**{**config.__dict__, "out_dir": str(tmp_path / "fresh")}))
    assert LikelihoodHead.load(tmp_path / "resumed").weights == pytest.approx(
        LikelihoodHead.load(tmp_path / "fresh").weights, abs=1e-6)
    assert result.metrics == pytest.approx(fresh.metrics, abs=1e-6)
