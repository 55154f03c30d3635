"""``prm grpo`` end to end with the HF backend on the tiny "a+b" policy of ``test_sampling.py``: a few steps
change the weights and log every metric; a resumed run ends in the same state as an uninterrupted one;
process rewards land on step-end tokens; LoRA + KL + mu = 2 + Dr. GRPO + wandb (offline) run; a
``prm grpo`` subprocess killed with SIGKILL continues from its checkpoint (slow)."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from tiny_policy import build_tiny_policy, write_problems
from transformers import AutoModelForCausalLM, AutoTokenizer

from data.loaders import load_problems
from data.records import Problem
from prm.grpo.advantages import process_advantages
from prm.grpo.config import GRPOConfig
from prm.grpo.rollout import Rollout, score_rollout
from prm.grpo.step_spans import step_end_token_indices
from prm.grpo.trainer import train_grpo
from prm.policy.checkpoint import STATE_FILE
from prm.policy.evaluate import evaluate_policy
from prm.rewards import REWARDS, BuiltReward, RewardContext, RewardTerm, build_rewards, parse_rewards

REPO = Path(__file__).resolve().parents[1]
LOGGED = ("loss", "accuracy", "reward/answer/mean", "reward/answer/std", "completion_len/mean", "kl",
          "clip_fraction", "zero_variance_groups", "time/generation_s", "time/reward_share", "time/update_s")


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_policy(tmp_path_factory.mktemp("grpo") / "tiny", steps=60)


@pytest.fixture(scope="module")
def problems(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_problems(tmp_path_factory.mktemp("grpo") / "problems.jsonl", 12)


def _config(policy: Path, problems: Path, out: Path, **overrides: object) -> GRPOConfig:
    base = dict(model=str(policy), out_dir=str(out), problems=str(problems), eval_data=str(problems), eval_problems=4,
                eval_samples=2, group_size=4, prompts_per_step=2, max_new_tokens=24, micro_batch=5, lr=3e-3,
                rewards="answer:1.0,length:0.5", checkpoint_steps=2, max_steps=3, threads=1)
    return GRPOConfig(**{**base, **overrides})  # type: ignore[arg-type]


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


def _metrics(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_steps_change_weights_and_log_metrics(policy: Path, problems: Path, tmp_path: Path,
                                              torch_one_thread: None) -> None:
    result = train_grpo(_config(policy, problems, tmp_path / "run"))
    lines = _metrics(tmp_path / "run")
    assert [line["step"] for line in lines] == [1, 2, 3]
    assert all(key in line for key in LOGGED for line in lines)
    assert all(math.isfinite(line["loss"]) for line in lines)
    # mu = 1: the one pass is its own old policy, so every ratio is 1 and no token is clipped
    assert all(line["ratio"] == pytest.approx(1.0, abs=1e-6) and line["clip_fraction"] == 0 for line in lines)
    assert lines[0]["kl"] == pytest.approx(0.0, abs=1e-6)  # measured (--kl-monitor) though beta is 0; step 1: none
    assert lines[2]["kl"] > 0 and lines[2]["monitor/sqrt_kl"] == pytest.approx(math.sqrt(lines[2]["kl"]))
    assert sum(line[k] for k in ("time/generation_share", "time/reward_share", "time/update_share",
                                 "time/sync_share") for line in lines[:1]) == pytest.approx(1.0, abs=1e-6)
    before, after = _weights(policy), _weights(tmp_path / "run")
    assert any(not torch.equal(before[name], after[name]) for name in before)
    start = evaluate_policy(AutoModelForCausalLM.from_pretrained(policy), AutoTokenizer.from_pretrained(policy),
                            load_problems(str(problems))[:4], n=2, max_new_tokens=24, seed=0)  # the initial policy
    assert result.eval_start is not None and result.eval_start["per_problem_correct"] == start.per_problem_correct
    assert result.eval_start["mean_new_tokens"] == pytest.approx(start.mean_new_tokens)
    assert result.eval_start["pass@1"] == pytest.approx(sum(start.per_problem_correct) / 8)  # 4 problems x 2
    # (this 60-step policy solves none of them in 24 tokens; test_policy_evaluate.py pins pass@k on known samples)
    assert (tmp_path / "run" / "eval_end.json").exists() and result.state.step == 3


def test_resume_matches_uninterrupted(policy: Path, problems: Path, tmp_path: Path, torch_one_thread: None) -> None:
    train_grpo(_config(policy, problems, tmp_path / "whole", max_steps=4, eval_problems=0))
    interrupted = _config(policy, problems, tmp_path / "resumed", max_steps=2, eval_problems=0)
    train_grpo(interrupted)
    with (tmp_path / "resumed" / "metrics.jsonl").open("a") as handle:  # a step a killed run logged, unsaved
        handle.write(json.dumps({"step": 3, "loss": 123.0}) + "\n")
    train_grpo(_config(policy, problems, tmp_path / "resumed", max_steps=4, eval_problems=0))
    whole, resumed = _weights(tmp_path / "whole"), _weights(tmp_path / "resumed")
    assert all(torch.allclose(whole[name], resumed[name], atol=1e-6) for name in whole)
    lines_whole, lines_resumed = _metrics(tmp_path / "whole"), _metrics(tmp_path / "resumed")
    assert [line["step"] for line in lines_resumed] == [1, 2, 3, 4]
    for a, b in zip(lines_whole, lines_resumed, strict=True):
        assert a["reward/answer/mean"] == b["reward/answer/mean"] and a["loss"] == pytest.approx(b["loss"], abs=1e-6)
    with pytest.raises(ValueError, match="group_size"):
        train_grpo(_config(policy, problems, tmp_path / "resumed", max_steps=5, group_size=2, eval_problems=0))


def test_process_rewards_land_on_step_ends(policy: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(policy)
    texts = ["add 1 2\n\nget 3\n\n\\boxed{3}", "add 1 2\n\nget 4", "add 1 2\n\nget 3\n\n\\boxed{3}", "add 3"]
    ids = [tokenizer(t, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id] for t in texts]
    problem = Problem(id="p", problem="1+2", answer="3", source="test")
    rollout = Rollout([problem] * 4, [[5]] * 4, ids, texts, ["stop"] * 4, group_size=2)

    def step_checks(prompts: list, completions: list, **columns: object) -> list:  # a real per-step rule
        return [[1.0 if ("3" in step or "add" in step) else 0.0 for step in text.split("\n\n")] for text in completions]

    score_rollout(rollout, [BuiltReward(RewardTerm("steps", 0.5), "process", step_checks)], tokenizer)
    scores = step_checks(None, texts)
    ends = [step_end_token_indices(tokenizer, row) for row in ids]
    assert ends[0][0] == len(tokenizer("add 1 2", add_special_tokens=False)["input_ids"]) - 1
    width = max(map(len, scores))
    rewards = torch.tensor([s + [math.nan] * (width - len(s)) for s in scores])
    positions = torch.tensor([e[:-1] + [len(i) - 1] + [-1] * (width - len(e)) for e, i in zip(ends, ids, strict=True)])
    expected = 0.5 * process_advantages(rewards, positions, 2, max(map(len, ids)))
    assert torch.allclose(rollout.advantages, expected)
    assert len(ids[1]) < len(ids[0]) and rollout.advantages[1, -1] == 0  # padding
    assert rollout.advantages[1, len(ids[1]) - 1] != 0  # the eos token shares the last step's advantage
    assert rollout.metrics["zero_variance_groups"] == 1  # the second group: every step scores 1


def test_reward_registry_and_specs() -> None:
    assert parse_rewards("answer:1.0, format:0.1,length") == [RewardTerm("answer", 1.0), RewardTerm("format", 0.1),
                                                              RewardTerm("length", 1.0)]
    for bad, message in [("nope:1", "unknown reward"), ("answer:x", "not a number"), ("answer,answer", "twice"),
                         ("", "no reward")]:
        with pytest.raises(ValueError, match=message):
            parse_rewards(bad)
    assert set(REWARDS) == {"answer", "prm_outcome", "prm_process", "format", "length"}
    built = {r.name: r.function for r in build_rewards("answer,format,length", RewardContext(max_new_tokens=10))}
    texts = ["a\n\n\\boxed{3}", "a\n\nno box", "\\boxed{4}"]
    columns = dict(answer=["3", "3", "\\frac{"], finish_reason=["stop", "length", "stop"],
                   completion_ids=[[1] * 5, [1] * 10, [1]], problem=["1+2"] * 3)
    assert built["answer"](None, texts, **columns) == [1.0, 0.0, None]
    assert built["format"](None, texts, **columns) == [1.0, 0.0, 1.0]
    assert built["length"](None, texts, **columns) == [-0.5, -1.0, -0.1]
    with pytest.raises(ValueError, match="--prm"):
        build_rewards("prm_outcome", RewardContext())


def test_lora_kl_mu_dr_grpo_and_wandb(policy: Path, problems: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      torch_one_thread: None) -> None:
    import wandb  # a required dependency (as is peft): a broken install fails here, it is not skipped

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    config = _config(policy, problems, tmp_path / "lora", lora=True, lora_r=4, beta=0.1, mu=2,
                     loss_aggregation="dr_grpo", max_steps=2, eval_problems=0, report_to="wandb", lr=1e-2)
    result = train_grpo(config)
    lines = _metrics(tmp_path / "lora")
    assert all(line["kl"] is not None and line["kl"] >= 0 for line in lines)
    assert lines[1]["kl"] > 0  # the adapters moved away from the reference after the first step
    assert (tmp_path / "lora" / "checkpoint" / "adapter_config.json").exists()
    assert list((tmp_path / "lora" / "wandb").glob("offline-run-*"))
    before, after = _weights(policy), _weights(tmp_path / "lora")  # the final model is merged
    assert set(before) == set(after) and any(not torch.equal(before[k], after[k]) for k in before)
    assert result.state.step == 2
    saved = torch.load(tmp_path / "lora" / "checkpoint" / STATE_FILE, weights_only=False)["optimizer"]["state"]
    assert saved and {float(param["step"]) for param in saved.values()} == {4.0}  # 2 steps x mu = 2 passes
    # the second pass is measured against the log-probs from before the first: ratios leave 1 and some clip
    # (mu ignored: exactly 1 and 0; measured here 0.86-1.19 and 0.09-0.26)
    assert max(abs(line["ratio"] - 1) for line in lines) > 1e-3 and max(line["clip_fraction"] for line in lines) > 0
    wandb.teardown()  # wandb keeps its first run's directory for the whole process; later tests need their own


@pytest.mark.slow
def test_cli_resumes_after_kill(policy: Path, problems: Path, tmp_path: Path) -> None:
    steps = 16  # enough that a quiet machine cannot finish between two polls after step 3
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "prm.cli", "grpo", "--model", str(policy), "--problems", str(problems),
               "--out-dir", str(out), "--max-steps", str(steps), "--checkpoint-steps", "2", "--group-size", "4",
               "--prompts-per-step", "2", "--max-new-tokens", "24", "--eval-problems", "0", "--threads", "1",
               "--rewards", "answer:1.0,length:0.5", "--lr", "3e-3"]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if (out / "metrics.jsonl").exists() and len(_metrics(out)) >= 3 and (out / "checkpoint").exists():
            break
        time.sleep(0.2)
    assert process.poll() is None, "the run ended before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    assert len(_metrics(out)) < steps
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "resuming from" in done.stderr
    assert [line["step"] for line in _metrics(out)] == list(range(1, steps + 1))


def test_hf_completions_carry_their_token_ids(policy: Path, torch_one_thread: None) -> None:
    from prm.sampling import SamplingConfig, make_sampler

    tokenizer = AutoTokenizer.from_pretrained(policy)
    with make_sampler("hf", str(policy), device="cpu", seed=0) as sampler:
        groups = sampler.generate(["Problem: 3+4\nSolution:\n"], 3, SamplingConfig(max_tokens=30, seed=1))
        short = sampler.generate(["Problem: 3+4\nSolution:\n"], 1, SamplingConfig(max_tokens=3))
    for completion in groups[0] + short[0]:
        assert len(completion.token_ids) == completion.num_tokens
        assert tokenizer.decode(completion.token_ids, skip_special_tokens=True) == completion.text
    assert short[0][0].finish_reason == "length" and len(short[0][0].token_ids) == 3


@pytest.mark.parametrize("share", [0.0, 1.0, 1.5])
def test_the_vllm_engine_gets_a_bounded_gpu_share(share: float) -> None:
    from prm.grpo.config import GRPOConfig

    assert GRPOConfig(out_dir="o").vllm_gpu_memory_utilization == 0.3
    with pytest.raises(ValueError, match="vllm_gpu_memory_utilization must be in \\(0, 1\\)"):
        GRPOConfig(out_dir="o", vllm_gpu_memory_utilization=share)


def test_process_clip_and_min_credit_in_the_rollout(policy: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(policy)
    texts = ["add 1 2\n\nget 3", "add 1 2\n\nget 3"]
    ids = [tokenizer(t, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id] for t in texts]
    problem = Problem(id="p", problem="1+2", answer="3", source="test")
    scores = iter([[0.7, 1.0], [0.7, 0.9]])

    def prm_like(prompts: list, completions: list, **columns: object) -> list:
        return [next(scores) for _ in completions]

    def advantages(**options: object) -> torch.Tensor:
        nonlocal scores
        scores = iter([[0.7, 1.0], [0.7, 0.9]])
        rollout = Rollout([problem] * 2, [[5]] * 2, ids, texts, ["stop"] * 2, group_size=2)
        score_rollout(rollout, [BuiltReward(RewardTerm("prm_process", 1.0), "process", prm_like)], tokenizer,
                      **options)
        return rollout.advantages

    plain = advantages()
    assert plain[0, -1] > plain[1, -1] and plain[0, 0] > plain[1, 0]  # 1.0 beats 0.9, on the first step too
    capped = advantages(process_clip=0.8)
    assert torch.allclose(capped[0], capped[1])  # both become [0.7, 0.8]: nothing tells them apart
    least = advantages(process_credit="min")
    assert least[0, 0] == pytest.approx(float(least[1, 0]))  # the first step: its worst to come (0.7) decides
    assert least[0, -1] > least[1, -1]


def test_bf16_autocast_is_the_gpu_default_and_trains_when_asked(policy: Path, problems: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                torch_one_thread: None) -> None:
    import prm.grpo.trainer as trainer

    config = _config(policy, problems, tmp_path / "bf16", max_steps=1, bf16=True)
    assert not trainer.grpo_bf16(_config(policy, problems, tmp_path), torch.device("cpu"))  # CPUs: float32
    monkeypatch.setattr(trainer, "use_bf16", lambda requested, device: device.type == "cuda")
    assert trainer.grpo_bf16(_config(policy, problems, tmp_path), torch.device("cuda"))  # a bf16 GPU: on
    assert not trainer.grpo_bf16(_config(policy, problems, tmp_path, bf16=False), torch.device("cuda"))
    seen: list[torch.dtype] = []
    original = trainer.completion_log_probs

    def spy(model: object, *args: object) -> torch.Tensor:
        seen.append(torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else torch.float32)
        return original(model, *args)

    monkeypatch.setattr(trainer, "completion_log_probs", spy)
    train_grpo(config)
    assert seen and set(seen) == {torch.bfloat16}  # every forward of the update ran under bf16 autocast
    assert all(param.dtype == torch.float32 for param in AutoModelForCausalLM.from_pretrained(
        str(tmp_path / "bf16")).parameters())  # master weights stay float32
    record = json.loads((tmp_path / "bf16" / "grpo_metrics.json").read_text())
    assert record["runtime"]["precision"] == "bf16 mixed"
