"""Reward functions for TRL's ``GRPOTrainer``: the sympy answer check and a PRM outcome score.

TRL calls each reward as ``f(prompts=..., completions=..., completion_ids=..., **dataset_columns)`` (plus
``trainer_state``, ``log_extra``, ``log_metric``), may call them from threads, logs them under their
``__name__`` (``rewards/<name>/mean``), and skips ``None`` ("cannot judge") instead of scoring it 0::

    from trl import GRPOConfig, GRPOTrainer
    from prm.integrations.trl import PRMOutcomeReward, answer_reward, make_reward_funcs

    trainer = GRPOTrainer(model=..., train_dataset=ds,            # ds columns: prompt, answer (or solution)
                          reward_funcs=[answer_reward, PRMOutcomeReward("runs/prm", aggregation="min")], ...)
    reward_funcs = make_reward_funcs("answer,prm_outcome:runs/prm")  # the same from a string

``answer_reward`` reads the gold from the ``answer`` column (``AnswerReward(gold_column=...)`` for another),
or from a ``solution`` column's last ``\\boxed{}``. ``PRMOutcomeReward`` scores every step of each completion
with :class:`prm.model.PRMScorer` (one forward per solution, a lock around the model) and aggregates the step
scores (``min`` by default; an empty completion scores 0.0); the problem text comes from the ``problem``
column or from the prompt.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from prm.prompts import CHAT_INSTRUCTION, PLAIN_TEMPLATE
from verifiers.config import VerifyConfig
from verifiers.extract import extract_answer
from verifiers.rewards import answer_reward as _verify_rewards
from verifiers.rewards import completion_text

__all__ = ["REWARD_FACTORIES", "AnswerReward", "PRMOutcomeReward", "answer_reward", "make_reward_funcs",
           "problem_from_prompt"]

logger = logging.getLogger(__name__)

RewardFunc = Callable[..., list[float | None]]


def _strip_template(text: str, template: str) -> str:
    head, _, tail = template.partition("{problem}")
    head, tail = head.replace("{{", "{").replace("}}", "}"), tail.replace("{{", "{").replace("}}", "}")
    if text.startswith(head) and text.endswith(tail) and len(text) >= len(head) + len(tail):
        return text[len(head): len(text) - len(tail)]
    return text


def problem_from_prompt(prompt: Any) -> str:
    """The problem text in a prompt: a plain string (our ``Problem: ...\\nSolution:\\n`` template removed) or a
    conversation (the last user turn, our step-by-step instruction removed)."""
    if isinstance(prompt, str):
        return _strip_template(prompt, PLAIN_TEMPLATE).strip()
    if isinstance(prompt, Sequence):
        users = [m for m in prompt if isinstance(m, dict) and m.get("role") == "user"]
        if users:
            return _strip_template(str(users[-1].get("content", "")), CHAT_INSTRUCTION).strip()
    raise ValueError(f"cannot read a problem from prompt {prompt!r}: expected a string or a list of messages")


class AnswerReward:
    """1.0 / 0.0 per completion by the sympy answer check; None where the gold is missing or unreadable.

    The gold is the ``gold_column`` column; when the dataset has none, the last ``\\boxed{}`` (or stated
    answer) of a ``solution`` column. Thread-safe.
    """

    def __init__(self, gold_column: str = "answer", workers: int = 1, config: VerifyConfig | None = None,
                 name: str = "answer_reward") -> None:
        self.gold_column, self.workers, self.config = gold_column, workers, config
        self.__name__ = name

    def golds(self, columns: dict[str, Any], count: int) -> list[str]:
        if self.gold_column in columns:
            golds = ["" if g is None else str(g) for g in columns[self.gold_column]]
        elif "solution" in columns:
            golds = [extract_answer(str(s)) or "" if s is not None else "" for s in columns["solution"]]
        else:
            known = sorted(k for k in columns if k not in ("trainer_state", "log_extra", "log_metric"))
            raise ValueError(f"{self.__name__}: the dataset has no {self.gold_column!r} (or 'solution') column; "
                             f"columns: {known}")
        if len(golds) != count:
            raise ValueError(f"{self.__name__}: {count} completions but {len(golds)} values of {self.gold_column!r}")
        return golds

    def __call__(self, prompts: Sequence[Any] | None, completions: Sequence[Any],
                 completion_ids: Sequence[Sequence[int]] | None = None, **columns: Any) -> list[float | None]:
        golds = self.golds(columns, len(completions))
        return _verify_rewards(prompts, completions, golds, workers=self.workers, config=self.config)

    def __repr__(self) -> str:
        return f"AnswerReward(gold_column={self.gold_column!r})"


answer_reward = AnswerReward()


class PRMOutcomeReward:
    """A PRM's aggregated step scores as one reward per completion.

    A completion with no step at all (empty or blank) scores 0.0, as in ``prm.grpo.rewards``: it is a failed
    solution, not an unjudgeable one. One whose steps all fall past the PRM's length limit gets None (skipped).

    ``prm_path`` is a folder written by ``prm train``; pass ``scorer`` instead to reuse a loaded
    :class:`prm.model.PRMScorer`. Thread-safe: one lock serialises the model.
    """

    def __init__(self, prm_path: str | Path | None = None, aggregation: str = "min", batch_size: int = 16,
                 device: str = "auto", problem_column: str = "problem", scorer: Any | None = None,
                 name: str = "prm_outcome") -> None:
        from prm.model.scoring import AGGREGATIONS, load_scorer

        if aggregation not in AGGREGATIONS:
            raise ValueError(f"unknown aggregation {aggregation!r}; choose from {', '.join(AGGREGATIONS)}")
        if scorer is None and prm_path is None:
            raise ValueError("PRMOutcomeReward needs prm_path (a `prm train` folder) or a scorer")
        self.scorer = scorer if scorer is not None else load_scorer(prm_path, device=device, batch_size=batch_size)
        self.aggregation, self.batch_size, self.problem_column = aggregation, batch_size, problem_column
        self.__name__ = name
        self._lock = threading.Lock()

    def problems(self, prompts: Sequence[Any] | None, columns: dict[str, Any], count: int) -> list[str]:
        if self.problem_column in columns:
            problems = [str(p) for p in columns[self.problem_column]]
        elif prompts is not None:
            problems = [problem_from_prompt(p) for p in prompts]
        else:
            raise ValueError(f"{self.__name__}: no prompts and no {self.problem_column!r} column to read problems")
        if len(problems) != count:
            raise ValueError(f"{self.__name__}: {count} completions but {len(problems)} problems")
        return problems

    def step_scores(self, prompts: Sequence[Any] | None, completions: Sequence[Any],
                    **columns: Any) -> list[list[float | None]]:
        """P(correct) of every step of every completion (one forward per completion, under the lock)."""
        problems = self.problems(prompts, columns, len(completions))
        items = [(problem, completion_text(c)) for problem, c in zip(problems, completions, strict=True)]
        with self._lock:
            return self.scorer.score_batch(items, self.batch_size)

    def __call__(self, prompts: Sequence[Any] | None, completions: Sequence[Any],
                 completion_ids: Sequence[Sequence[int]] | None = None, **columns: Any) -> list[float | None]:
        from prm.model.scoring import aggregate

        return [aggregate(scores, self.aggregation) if scores else 0.0
                for scores in self.step_scores(prompts, completions, **columns)]

    def __repr__(self) -> str:
        return f"PRMOutcomeReward(aggregation={self.aggregation!r})"


def _prm_outcome(arg: str) -> RewardFunc:
    path, _, how = arg.partition("@")
    if not path:
        raise ValueError("prm_outcome needs a PRM folder: 'prm_outcome:PATH' or 'prm_outcome:PATH@AGGREGATION'")
    return PRMOutcomeReward(path, aggregation=how or "min")


# The registry of rewards by name: a factory taking the text after "name:" (may be empty).
REWARD_FACTORIES: dict[str, Callable[[str], RewardFunc]] = {
    "answer": lambda arg: AnswerReward(gold_column=arg) if arg else answer_reward,
    "prm_outcome": _prm_outcome,
}


def make_reward_funcs(spec: str) -> list[RewardFunc]:
    """Reward functions from a comma-separated spec: ``answer`` (``answer:COLUMN`` for another gold column),
    ``prm_outcome:PATH`` (``prm_outcome:PATH@last`` for another aggregation)."""
    funcs = []
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        name, _, arg = item.partition(":")
        if name not in REWARD_FACTORIES:
            raise ValueError(f"unknown reward {name!r} in {spec!r}; choose from {', '.join(REWARD_FACTORIES)}")
        funcs.append(REWARD_FACTORIES[name](arg))
    if not funcs:
        raise ValueError(f"no reward named in {spec!r}")
    return funcs
