"""Our rewards inside TRL: GRPOTrainer runs 2 steps on CPU with the answer check and a PRM outcome reward
(tiny models built in-process), logs them by name, and its logged rewards equal our functions' outputs;
the rewards are thread-safe, read gold from ``answer`` or ``solution``, and build from a spec string."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import pytest
from tiny_policy import build_tiny_prm

from data.synth import generate_problems
from eval.aggregate import solution_score
from prm.integrations.trl import (
    AnswerReward,
    PRMOutcomeReward,
    answer_reward,
    make_reward_funcs,
    problem_from_prompt,
    reward_weights,
)
from prm.model.scoring import PRMScorer
from prm.model.tiny import tiny_llama, tiny_tokenizer
from prm.prompts import CHAT_INSTRUCTION, build_prompt

pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def problems():
    return generate_problems(8, seed=5, split="test")


@pytest.fixture(scope="module")
def prm_folder(tmp_path_factory, problems) -> str:
    return build_tiny_prm(tmp_path_factory.mktemp("prm"), problems)


class RecordingAnswerReward(AnswerReward):
    """The real answer reward, keeping what it was called with and what it returned."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[list, list, list]] = []

    def __call__(self, prompts, completions, completion_ids=None, **columns):
        rewards = super().__call__(prompts, completions, completion_ids, **columns)
        self.calls.append((list(completions), list(columns["answer"]), rewards))
        return rewards


def test_grpo_trainer_runs_with_our_rewards(tmp_path, problems, prm_folder) -> None:
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    texts = [build_prompt(p.problem) + (p.solution or "") for p in problems] * 4
    tokenizer = tiny_tokenizer(texts)
    policy = tiny_llama(len(tokenizer), tokenizer.eos_token_id, tokenizer.pad_token_id, hidden=32, layers=1)
    rows = problems[:4]
    dataset = Dataset.from_dict({"prompt": [build_prompt(p.problem) for p in rows], "answer": [p.answer for p in rows],
                                 "problem": [p.problem for p in rows]})
    answer, prm = RecordingAnswerReward(), PRMOutcomeReward(prm_folder, device="cpu")
    args = GRPOConfig(output_dir=str(tmp_path), max_steps=2, per_device_train_batch_size=4, num_generations=2,
                      max_completion_length=12, report_to="none", use_cpu=True, logging_steps=1,
                      save_strategy="no", bf16=False, learning_rate=1e-3, seed=0)
    trainer = GRPOTrainer(model=policy, reward_funcs=[answer, prm], args=args, train_dataset=dataset,
                          processing_class=tokenizer)
    trainer.train()
    logs = [h for h in trainer.state.log_history if "rewards/answer_reward/mean" in h]
    assert len(logs) == 2 and len(answer.calls) == 2
    for log, (completions, golds, rewards) in zip(logs, answer.calls, strict=True):
        assert len(completions) == 4 and set(golds) <= {p.answer for p in rows}
        assert rewards == answer_reward(None, completions, answer=golds)  # what TRL got is our verdict
        assert log["rewards/answer_reward/mean"] == pytest.approx(sum(rewards) / len(rewards))
        assert 0.0 < log["rewards/prm_outcome/mean"] < 1.0 and math.isfinite(log["reward"])


@pytest.mark.parametrize(("completions", "columns", "expected"), [
    (["so \\boxed{5}", "\\boxed{6}"], {"answer": ["5", "5"]}, [1.0, 0.0]),
    (["\\boxed{5}", "\\boxed{5}"], {"answer": ["", None]}, [None, None]),  # cannot judge, never a silent 0
    (["\\boxed{\\frac12}", "\\boxed{2}"], {"solution": ["... so $\\boxed{0.5}$", "no stated answer"]}, [1.0, None]),
    ([[{"role": "assistant", "content": "The answer is 3."}]], {"answer": ["3"], "level": [2]}, [1.0]),
])
def test_answer_reward_table(completions, columns, expected) -> None:
    assert answer_reward(["p"] * len(completions), completions, completion_ids=None, **columns) == expected
    assert answer_reward.__name__ == "answer_reward"


def test_answer_reward_errors_name_the_column() -> None:
    with pytest.raises(ValueError, match="no 'gold' \\(or 'solution'\\) column; columns: \\['level'\\]"):
        AnswerReward(gold_column="gold")(None, ["\\boxed{1}"], level=[1])
    with pytest.raises(ValueError, match="2 completions but 1 values of 'answer'"):
        answer_reward(None, ["a", "b"], answer=["1"])


@pytest.mark.parametrize(("prompt", "problem"), [
    ("Problem: What is $2+3$?\nSolution:\n", "What is $2+3$?"),
    ("What is $2+3$?", "What is $2+3$?"),
    ([{"role": "system", "content": "be brief"},
      {"role": "user", "content": CHAT_INSTRUCTION.format(problem="Find x.")}], "Find x."),
])
def test_problem_from_prompt(prompt, problem) -> None:
    assert problem_from_prompt(prompt) == problem


def test_prm_outcome_reward_aggregates_step_scores(prm_folder, problems) -> None:
    scorer = PRMScorer(prm_folder, device="cpu")
    solutions = [p.solution or "" for p in problems[:3]] + [""]
    prompts = [build_prompt(p.problem) for p in problems[:4]]
    for how in ("min", "last"):
        reward = PRMOutcomeReward(scorer=scorer, aggregation=how)
        expected = [solution_score(scorer.score(p.problem, s), how) if s else 0.0
                    for p, s in zip(problems, solutions, strict=False)]
        assert reward(prompts, solutions) == pytest.approx(expected, abs=1e-5)  # problem read from the prompt
        assert reward(None, solutions, problem=[p.problem for p in problems[:4]]) == pytest.approx(expected, abs=1e-5)
    assert expected[-1] == 0.0 and all(0.0 < v < 1.0 for v in expected[:3])  # no step at all: a failed solution
    short = PRMOutcomeReward(scorer=PRMScorer(prm_folder, device="cpu", max_length=8))
    assert short(None, solutions[:1], problem=[problems[0].problem]) == [None]  # no step fits: cannot judge
    with pytest.raises(ValueError, match="unknown aggregation 'max'"):
        PRMOutcomeReward(scorer=scorer, aggregation="max")


def test_rewards_from_eight_threads_equal_serial(prm_folder, problems) -> None:
    completions = [p.solution or "" for p in problems] + ["\\boxed{0}", "The answer is 12."]
    golds = [p.answer for p in problems] + ["0", "13"]
    problem_texts = [p.problem for p in problems] + [problems[0].problem, problems[1].problem]
    prm = PRMOutcomeReward(prm_folder, device="cpu", batch_size=3)
    batches = [(completions[i:] + completions[:i], golds[i:] + golds[:i], problem_texts[i:] + problem_texts[:i])
               for i in range(8)]

    def both(batch):
        c, g, p = batch
        return answer_reward(None, c, answer=g), prm(None, c, problem=p)

    serial = [both(b) for b in batches]
    with ThreadPoolExecutor(max_workers=8) as pool:
        threaded = list(pool.map(both, batches))
    assert threaded == serial
    assert serial[0][0][: len(problems)] == [1.0] * len(problems) and serial[0][0][-2:] == [1.0, 0.0]


def test_make_reward_funcs(prm_folder) -> None:
    answer, prm = make_reward_funcs("answer, prm_outcome@last:0.5", prm=prm_folder)
    assert isinstance(answer, AnswerReward) and answer.__name__ == "answer"  # logged as rewards/answer/mean
    assert isinstance(prm, PRMOutcomeReward) and prm.aggregation == "last" and prm.__name__ == "prm_outcome"
    assert reward_weights("answer, prm_outcome@last:0.5") == [1.0, 0.5]  # GRPOConfig(reward_weights=...)
    (gold_from_solution,) = make_reward_funcs("answer", gold_column="gold")
    assert gold_from_solution(None, ["\\boxed{4}"], solution=["\\boxed{4}"]) == [1.0]
    with pytest.raises(ValueError, match="unknown reward 'orm'"):
        make_reward_funcs("answer,orm")
    with pytest.raises(ValueError, match="need a PRM"):
        make_reward_funcs("prm_outcome")
    with pytest.raises(ValueError, match="needs finish_reason"):  # TRL gives no finish reason
        make_reward_funcs("answer,format")
    with pytest.raises(ValueError, match="one number per completion"):
        make_reward_funcs("prm_process", prm=prm_folder)


def test_grpo_prm_rewards_are_the_prm_scores(prm_folder, problems) -> None:
    from prm.rewards import RewardContext, build_rewards

    context = RewardContext(prm=prm_folder)
    built = {r.name: r.function for r in build_rewards("prm_outcome,answer:0.5", context)}
    (process,) = build_rewards("prm_process", context)
    solutions = [p.solution or "" for p in problems[:3]] + [""]
    texts = [p.problem for p in problems[:4]]
    step_scores = context.prm_scorer.score_batch(list(zip(texts, solutions, strict=True)))
    assert process.kind == "process"
    assert process.function(None, solutions, problem=texts) == [s if s else None for s in step_scores]
    assert built["prm_outcome"](None, solutions, problem=texts) == pytest.approx(
        [solution_score(s, "min") if s else 0.0 for s in step_scores], abs=1e-6)
