"""Rewards for RL on math: one registry, one spec grammar, one implementation each.

``prm grpo --rewards``, ``prm serve --rewards``, the TRL adapter (:mod:`prm.integrations.trl`) and the verl
adapter (:mod:`prm.integrations.verl`) all read the same spec and build from the same registry::

    from prm.rewards import RewardContext, build_rewards
    rewards = build_rewards("answer,prm_outcome@last:0.5", RewardContext(prm="runs/prm"))
    for reward in rewards:                # BuiltReward: term (name, weight, aggregation), kind, function
        reward.function(prompts, completions, answer=golds, problem=problems)

Registered rewards (``REWARDS``): ``answer`` (the sympy check), ``prm_outcome`` (aggregated PRM step scores),
``prm_process`` (per-step PRM scores), ``format``, ``length``. Submodules: ``spec`` (the grammar),
``registry`` (the registry, :class:`RewardContext`, :func:`combine`), ``answer``, ``prm_scores``, ``shaping``
(the implementations). Imports without torch; a PRM loads only when a PRM reward is built.
"""

from __future__ import annotations

from prm.rewards.answer import AnswerReward
from prm.rewards.prm_scores import PRMOutcomeReward, PRMProcessReward, outcome_score
from prm.rewards.registry import REWARDS, BuiltReward, RewardContext, RewardEntry, build_rewards, combine, parse_rewards
from prm.rewards.shaping import LengthReward, format_reward
from prm.rewards.spec import RewardTerm

__all__ = ["REWARDS", "AnswerReward", "BuiltReward", "LengthReward", "PRMOutcomeReward", "PRMProcessReward",
           "RewardContext", "RewardEntry", "RewardTerm", "build_rewards", "combine", "format_reward", "outcome_score",
           "parse_rewards"]
