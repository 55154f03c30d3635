"""Our rewards for TRL's ``GRPOTrainer``, built from the project's reward spec (:mod:`prm.rewards`).

TRL calls each reward as ``f(prompts=..., completions=..., completion_ids=..., **dataset_columns)`` (plus
``trainer_state``, ``log_extra``, ``log_metric``), may call them from threads, logs them under their
``__name__`` (``rewards/<name>/mean``), and skips ``None`` ("cannot judge") instead of scoring it 0::

    from trl import GRPOConfig, GRPOTrainer
    from prm.integrations.trl import make_reward_funcs, reward_weights

    spec = "answer,prm_outcome@min:0.5"                       # the grammar of `prm grpo --rewards`
    trainer = GRPOTrainer(model=..., train_dataset=ds,        # ds columns: prompt, answer (or solution)
                          reward_funcs=make_reward_funcs(spec, prm="runs/prm"),
                          args=GRPOConfig(reward_weights=reward_weights(spec), ...))

    from prm.integrations.trl import PRMOutcomeReward, answer_reward   # or the objects themselves
    trainer = GRPOTrainer(..., reward_funcs=[answer_reward, PRMOutcomeReward("runs/prm", aggregation="min")])

``answer_reward`` reads the gold from the ``answer`` column (``gold_column=`` for another), or from a
``solution`` column's last ``\\boxed{}``. ``PRMOutcomeReward`` scores every step of each completion with the
PRM and aggregates the step scores (an empty completion scores 0.0); the problem text comes from the
``problem`` column or from the prompt. TRL's GRPO takes outcome rewards only: a spec with ``prm_process`` is
refused (``prm grpo`` trains on it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prm.prompts import problem_from_prompt
from prm.rewards import AnswerReward, PRMOutcomeReward, RewardContext, build_rewards, parse_rewards

__all__ = ["AnswerReward", "PRMOutcomeReward", "answer_reward", "make_reward_funcs", "problem_from_prompt",
           "reward_weights"]

RewardFunc = Callable[..., list[float | None]]

# the columns a TRL dataset can give a reward (completion_ids always; finish_reason never)
TRL_COLUMNS = ("answer", "problem", "completion_ids")

answer_reward = AnswerReward()


def make_reward_funcs(spec: str, prm: str | None = None, **context: Any) -> list[RewardFunc]:
    """One reward function per term of ``spec`` (``prm.rewards`` grammar), named after its reward for TRL's logs.

    ``prm`` is the PRM folder for ``prm_outcome``; other keywords go to :class:`prm.rewards.RewardContext`
    (``gold_column``, ``problem_column``, ``workers``, ``device``, ``batch_size``, ``max_new_tokens``).
    The weights go to TRL separately: ``GRPOConfig(reward_weights=reward_weights(spec))``.
    """
    terms = parse_rewards(spec, available=TRL_COLUMNS)
    process = [t.name for t in terms if t.name == "prm_process"]
    if process:
        raise ValueError(f"TRL's GRPO takes one number per completion: {process[0]!r} in {spec!r} gives one per "
                         "step; use prm_outcome (or `prm grpo`, which trains on process rewards)")
    return [reward.function for reward in build_rewards(terms, RewardContext(prm=prm, **context))]


def reward_weights(spec: str) -> list[float]:
    """The weight of each term of ``spec``, in order: TRL's ``GRPOConfig.reward_weights``."""
    return [term.weight for term in parse_rewards(spec)]
