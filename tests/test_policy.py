"""The offline default policy: tokenizer, prompt masking, training, checkpoints and resume, the command."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

import prm.policy.train as train_module
from data.synth import generate_problems
from prm.cli import main
from prm.policy.checkpoint import STATE_FILE
from prm.policy.config import PolicyTrainConfig
from prm.policy.data import IGNORE_INDEX, collate, encode_examples, epoch_batches
from prm.policy.evaluate import evaluate_policy, majority_correct, pass_at_k, sample_solutions
from prm.policy.model import ModelSize, new_model
from prm.policy.tokenizer import save_tokenizer, train_tokenizer
from prm.prompts import PLAIN_TEMPLATE, build_prompt
from verifiers import Status, Verdict, verify

TINY = {"hidden_size": 64, "num_layers": 1, "num_heads": 2, "intermediate_size": 128, "vocab_size": 300,
        "n_train": 64, "levels": "1", "batch_size": 8, "lr": 3e-3, "warmup_steps": 2, "minutes": 0.0,
        "eval_problems": 0, "log_every": 5}


def tiny_config(out_dir: Path, **overrides: object) -> PolicyTrainConfig:
    return PolicyTrainConfig(out_dir=str(out_dir), **{**TINY, **overrides})  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def problems() -> list:
    return generate_problems(40, seed=0, split="train", levels=[1, 2, 3])


@pytest.fixture(scope="module")
def tokenizer(problems: list) -> object:
    return train_tokenizer([build_prompt(p.problem) + p.solution for p in problems], vocab_size=300)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> train_module.TrainResult:
    return train_module.train_policy(tiny_config(tmp_path_factory.mktemp("policy"), max_steps=40))


def test_tokenizer_round_trip_and_reload(problems: list, tokenizer: object, tmp_path: Path) -> None:
    texts = [build_prompt(p.problem) + p.solution for p in problems] + ["héllo 1234 \\frac{1}{2}\n\nx"]
    assert all(tokenizer.decode(tokenizer(t)["input_ids"]) == t for t in texts)
    assert tokenizer.eos_token_id is not None and tokenizer.pad_token_id is not None
    assert tokenizer.eos_token_id != tokenizer.pad_token_id
    assert [tokenizer.decode([i]) for i in tokenizer("x = 1234")["input_ids"]][-4:] == ["1", "2", "3", "4"]
    save_tokenizer(tokenizer, tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert loaded(texts[0])["input_ids"] == tokenizer(texts[0])["input_ids"]
    assert (loaded.eos_token, loaded.pad_token) == (tokenizer.eos_token, tokenizer.pad_token)
    assert json.loads((tmp_path / "tokenizer_config.json").read_text())["tokenizer_class"] == "PreTrainedTokenizerFast"


def test_prompt_plain_and_chat(tokenizer: object, tmp_path: Path) -> None:
    assert build_prompt("What is 2+3?") == PLAIN_TEMPLATE.format(problem="What is 2+3?")
    assert build_prompt("What is 2+3?", tokenizer) == "Problem: What is 2+3?\nSolution:\n"
    save_tokenizer(tokenizer, tmp_path)
    chat = AutoTokenizer.from_pretrained(tmp_path)
    chat.chat_template = "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}" \
                         "{% if add_generation_prompt %}<assistant>{% endif %}"
    prompt = build_prompt("What is 2+3?", chat)
    assert prompt.startswith("<user>What is 2+3?") and prompt.endswith("<assistant>") and "\\boxed{}" in prompt


def test_prompt_masking(problems: list, tokenizer: object) -> None:
    examples = encode_examples(problems[:4], tokenizer, max_length=512)
    batch = collate(examples, tokenizer.pad_token_id)
    for row, (problem, example) in enumerate(zip(problems, examples, strict=False)):
        prompt_ids = tokenizer(build_prompt(problem.problem))["input_ids"]
        assert example.prompt_len == len(prompt_ids)
        labels = batch["labels"][row]
        assert (labels[:example.prompt_len] == IGNORE_INDEX).all()
        assert (labels[len(example):] == IGNORE_INDEX).all()
        target = labels[example.prompt_len:len(example)].tolist()
        assert target == tokenizer(problem.solution)["input_ids"] + [tokenizer.eos_token_id]
        assert batch["attention_mask"][row].sum() == len(example)


def test_length_bucketed_batches_are_deterministic_and_cover_everything() -> None:
    lengths = [5, 50, 7, 48, 6, 49, 8, 47] * 10
    batches = epoch_batches(lengths, batch_size=4, seed=1, epoch=0)
    assert batches == epoch_batches(lengths, batch_size=4, seed=1, epoch=0)
    assert batches != epoch_batches(lengths, batch_size=4, seed=1, epoch=1)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert all(max(lengths[i] for i in b) - min(lengths[i] for i in b) <= 3 for b in batches)


def test_head_dim_below_32_is_refused() -> None:
    with pytest.raises(ValueError, match="head_dim 16"):
        new_model(ModelSize(hidden_size=64, num_heads=4), 300, 0, 1)


def test_tiny_model_learns(trained: train_module.TrainResult) -> None:
    config = tiny_config(trained.out_dir)
    size = ModelSize(config.hidden_size, config.num_layers, config.num_heads, config.intermediate_size,
                     config.max_length)
    tok = trained.tokenizer
    initial = new_model(size, len(tok), tok.eos_token_id, tok.pad_token_id, seed=config.seed)  # same init as training
    batch = collate(encode_examples(generate_problems(16, seed=5, split="train", levels=[1]), tok, 512),
                    tok.pad_token_id)
    with torch.no_grad():
        before, after = initial(**batch).loss.item(), trained.model(**batch).loss.item()
    assert before > math.log(len(tok)) - 1.0  # an untrained model is close to uniform
    assert after < before - 1.0
    changed = [name for name, p in trained.model.state_dict().items()
               if not torch.equal(p.cpu(), initial.state_dict()[name])]
    assert len(changed) >= len(initial.state_dict()) - 1  # every weight moved (rotary buffers aside)
    assert trained.state.step == 40 and trained.meta["training"]["tokens_seen"] > 0


def test_saved_folder_loads_and_generates(trained: train_module.TrainResult) -> None:
    model = AutoModelForCausalLM.from_pretrained(trained.out_dir)
    tok = AutoTokenizer.from_pretrained(trained.out_dir)
    assert model.config.head_dim >= 32
    ids = tok(build_prompt("What is $2 + 3$?"), return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=8, do_sample=False, pad_token_id=tok.pad_token_id)
    assert out.shape[1] > ids["input_ids"].shape[1]
    meta = json.loads((trained.out_dir / "policy_meta.json").read_text())
    assert meta["training"]["steps"] == 40 and meta["data"]["source"] == "synthetic"
    problems = generate_problems(2, seed=0, split="test", levels=[1])
    result = evaluate_policy(model, tok, problems, n=2, max_new_tokens=24)
    samples = sample_solutions(model, tok, [p.problem for p in problems], 2, max_new_tokens=24)  # the same seed
    correct = [sum(verify(p.answer, c.text).is_equal for c in group) for p, group in zip(problems, samples,
                                                                                          strict=True)]
    assert result.per_problem_correct == correct
    assert result.pass_at == {k: pytest.approx(sum(pass_at_k(2, c, k) for c in correct) / 2) for k in (1, 2)}


def test_resume_after_kill_matches_an_uninterrupted_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = train_module.train_policy(tiny_config(tmp_path / "whole", max_steps=12))
    real_step, calls = train_module._train_step, []

    def killed_at_step_7(*args: object) -> float:
        calls.append(1)
        if len(calls) == 7:
            raise KeyboardInterrupt  # the process dies mid-run, after the checkpoint at step 4
        return real_step(*args)

    monkeypatch.setattr(train_module, "_train_step", killed_at_step_7)
    config = tiny_config(tmp_path / "killed", max_steps=12, checkpoint_steps=4)
    with pytest.raises(KeyboardInterrupt):
        train_module.train_policy(config)
    saved = torch.load(tmp_path / "killed" / "checkpoint" / STATE_FILE, weights_only=False)
    assert saved["state"]["step"] == 4

    restored = {}
    real_load = train_module.load_checkpoint

    def spy_load(path: Path, optimizer: torch.optim.Optimizer, fingerprint: dict) -> train_module.TrainState:
        state = real_load(path, optimizer, fingerprint)
        restored.update(step=state.step, optimizer=copy.deepcopy(optimizer.state_dict()))
        return state

    monkeypatch.setattr(train_module, "_train_step", real_step)
    monkeypatch.setattr(train_module, "load_checkpoint", spy_load)
    resumed = train_module.train_policy(config)  # resume is the default
    assert restored["step"] == 4
    first = restored["optimizer"]["state"][0]
    assert float(first["step"]) == 4 and torch.equal(first["exp_avg"], saved["optimizer"]["state"][0]["exp_avg"])
    assert resumed.state.step == 12
    for name, weight in whole.model.state_dict().items():  # same data order, same updates: same weights
        torch.testing.assert_close(resumed.model.state_dict()[name], weight, rtol=0, atol=0)
    restored.clear()
    fresh = train_module.train_policy(dataclasses.replace(config, resume=False, max_steps=2))
    assert fresh.state.step == 2 and not restored  # --no-resume: the step-12 checkpoint deleted, not loaded


def test_pass_at_k_and_majority_vote() -> None:
    assert pass_at_k(16, 0, 16) == 0.0 and pass_at_k(16, 16, 1) == 1.0
    assert pass_at_k(4, 1, 1) == pytest.approx(0.25) and pass_at_k(4, 1, 4) == 1.0
    assert pass_at_k(4, 2, 2) == pytest.approx(1 - 1 / 6)

    def verdict(pred: str | None, ok: bool) -> Verdict:
        return Verdict(Status.EQUAL if ok else Status.NOT_EQUAL if pred else Status.UNPARSABLE, "5", pred)

    assert majority_correct([verdict("5", True), verdict("6", False), verdict(" 5", True), verdict(None, False)])
    assert not majority_correct([verdict("6", False), verdict("6", False), verdict("5", True)])
    assert not majority_correct([verdict(None, False)])


def test_command_end_to_end_with_sft_and_resume(tmp_path: Path, trained: train_module.TrainResult,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    argv = ["policy", "train", "--out-dir", str(out), "--max-steps", "3", "--minutes", "0", "--n-train", "32",
            "--levels", "1", "--batch-size", "8", "--hidden-size", "64", "--num-heads", "2", "--num-layers", "1",
            "--intermediate-size", "128", "--vocab-size", "300", "--eval-problems", "2", "--eval-samples", "2",
            "--eval-max-new-tokens", "16"]
    assert main(argv) == 0
    assert "pass@1" in capsys.readouterr().out
    meta = json.loads((out / "policy_meta.json").read_text())
    assert meta["training"]["steps"] == 3 and set(meta["eval"]["pass_at"]) == {"1", "2"}
    assert AutoModelForCausalLM.from_pretrained(out).config.num_hidden_layers == 1
    assert main([*argv, "--eval-problems", "0"]) == 0  # a rerun resumes the checkpoint: nothing more to train

    sft = tmp_path / "sft"
    assert main(["policy", "train", "--model", str(trained.out_dir), "--out-dir", str(sft), "--max-steps", "2",
                 "--minutes", "0", "--n-train", "16", "--levels", "1", "--batch-size", "4", "--lr", "1e-4",
                 "--eval-problems", "0"]) == 0
    meta = json.loads((sft / "policy_meta.json").read_text())
    assert meta["base_model"] == str(trained.out_dir) and meta["training"]["steps"] == 2
    assert meta["runtime"]["budget"]["stopped_by"] == "steps" and meta["runtime"]["precision"] == "float32"


def test_a_wall_clock_cap_that_fires_is_said_everywhere(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "capped"
    argv = ["policy", "train", "--out-dir", str(out), "--max-steps", "500", "--minutes", "0.0001", "--n-train",
            "16", "--levels", "1", "--batch-size", "4", "--hidden-size", "64", "--num-heads", "2", "--num-layers",
            "1", "--intermediate-size", "128", "--vocab-size", "300", "--eval-problems", "0"]
    assert main(argv) == 0
    budget = json.loads((out / "policy_meta.json").read_text())["runtime"]["budget"]
    assert budget["stopped_by"] == "minutes" and budget["steps"] < budget["max_steps"] == 500
    assert f"{budget['steps']} of 500 steps (stopped by --minutes)" in capsys.readouterr().out
    assert "stopped by --minutes" in caplog.text
