"""What the server computes, apart from HTTP: PRM step scores through the dynamic batcher, answer checks
through the verifier in a thread pool, and OpenRLHF-style rewards combining the two.

``/get_reward`` computes the ``--rewards`` spec (:mod:`prm.rewards`) of ``answer`` (1.0 / 0.0 by the sympy
check against the label; None when the label is missing or unparsable) and ``prm_outcome`` (the response's
PRM step scores aggregated, :func:`prm.rewards.outcome_score`) terms, combined by :func:`prm.rewards.combine`
(the weighted sum; None when a term is None). The PRM scores go through the dynamic batcher, so the reward
functions' own PRM calls are not used here; the rules are theirs. Items over a per-item limit get None and a
line in ``extra_logs["errors"]``, so one degenerate completion does not fail a trainer's whole batch.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from eval.aggregate import AGGREGATIONS, solution_score
from prm.rewards import AnswerReward, RewardTerm, combine, outcome_score, parse_rewards
from prm.serve.batcher import DynamicBatcher
from prm.serve.schemas import (
    SERVE_COLUMNS,
    RequestError,
    RewardRequest,
    ServeConfig,
    check_count,
    check_limits,
    item_limit_errors,
)
from verifiers import VerifyConfig, verify_many
from verifiers.verify import Verdict

__all__ = ["ScoringService", "split_response", "verdict_json"]

logger = logging.getLogger(__name__)

Item = tuple[str, list[str]]
_REASON_CHARS = 300  # the verifier's reasons may quote the whole answer
# Threads for answer checks in flight. An answer check's deadline starts when it starts and covers the wait for
# a sandbox worker, not a wait for one of these threads: with only --workers threads here, a request queued
# behind hostile ones came back after several timeouts (bench/serve_load.py --mode mix). So this pool is not
# the queue: the sandbox's --workers processes bound the sympy work, and these threads mostly wait on them.
_VERIFY_THREADS = 256


def split_response(query: str, prompt: str | None) -> str:
    """The response part of ``query`` (prompt + response text); the whole query when the prompt is not in it."""
    if not prompt:
        return query
    if query.startswith(prompt):
        return query[len(prompt):]
    at = query.find(prompt)  # e.g. a decoded BOS or chat-template prefix before the prompt
    return query[at + len(prompt):] if at >= 0 else query


def verdict_json(verdict: Verdict) -> dict[str, Any]:
    return {"status": verdict.status.value, "equal": verdict.is_equal,
            "extracted": {"gold": verdict.gold, "answer": verdict.pred},
            "parsed": {"gold": verdict.gold_parsed, "answer": verdict.pred_parsed},
            "reason": verdict.reason[:_REASON_CHARS], "timeout_stage": verdict.timeout_stage}


class ScoringService:
    """The PRM (optional) behind a :class:`DynamicBatcher`, and the verifier behind a thread pool."""

    def __init__(self, config: ServeConfig, scorer: Any | None = None) -> None:
        if config.aggregation not in AGGREGATIONS:
            raise ValueError(f"unknown aggregation {config.aggregation!r}; known: {', '.join(AGGREGATIONS)}")
        self.terms: list[RewardTerm] = parse_rewards(config.reward_spec(), available=SERVE_COLUMNS)
        if any(term.name == "prm_process" for term in self.terms):
            raise ValueError(f"--rewards {config.reward_spec()}: /get_reward gives one number per query; "
                             "prm_process gives one per step (use /score for step scores)")
        if scorer is None and any(term.name != "answer" for term in self.terms):
            raise ValueError(f"--rewards {config.reward_spec()} needs a PRM (--prm PATH)")
        self.config = config
        self.scorer = scorer
        self.batcher: DynamicBatcher[Item, list[float | None]] | None = None
        if scorer is not None:
            self.batcher = DynamicBatcher(self._score_batch, config.max_batch, config.max_wait_ms / 1000, "prm-batch")
        self.verify_config = VerifyConfig(timeout_s=config.timeout_s)
        self.answer_reward = AnswerReward(workers=config.workers, config=self.verify_config, name="answer")
        self._verify_pool = ThreadPoolExecutor(_VERIFY_THREADS, thread_name_prefix="serve-verify")

    def close(self) -> None:
        if self.batcher is not None:
            self.batcher.close()
        self._verify_pool.shutdown(wait=False, cancel_futures=True)

    def _score_batch(self, items: list[Item]) -> list[list[float | None]]:
        return self.scorer.score_batch(items, batch_size=max(1, min(len(items), self.config.forward_batch)))

    def steps_of(self, text: str) -> list[str]:
        return self.scorer.steps_of(text)

    async def step_scores(self, items: Sequence[Item]) -> list[list[float | None]]:
        """PRM scores of every step; items without steps get [] without reaching the model."""
        if self.batcher is None:
            raise RequestError(501, ["no PRM loaded: start the server with --prm PATH"])
        todo = [i for i, (_, steps) in enumerate(items) if steps]
        scored = await self.batcher.run([items[i] for i in todo])
        results: list[list[float | None]] = [[] for _ in items]
        for index, scores in zip(todo, scored, strict=True):
            results[index] = scores
        return results

    async def score(self, raw_items: Sequence[Any], aggregation: str | None) -> list[dict[str, Any]]:
        """``/score``: step scores and their aggregate for validated :class:`ScoreItem` s."""
        how = aggregation or self.config.aggregation
        if how not in AGGREGATIONS:
            raise RequestError(422, [f"aggregation: unknown aggregation {how!r}; known: {', '.join(AGGREGATIONS)}"])
        if self.scorer is None:
            raise RequestError(501, ["no PRM loaded: start the server with --prm PATH"])
        check_count(self.config, "items", len(raw_items))
        texts = [{"problem": item.problem, "steps": item.steps, "solution": item.solution} for item in raw_items]
        check_limits(self.config, "items", texts)
        items = [(item.problem, list(item.steps) if item.steps is not None else self.steps_of(item.solution))
                 for item in raw_items]
        check_limits(self.config, "items", texts, [len(steps) for _, steps in items])
        scores = await self.step_scores(items)
        return [{"step_scores": s, "score": solution_score(s, how)} for s in scores]

    async def verify(self, pairs: Sequence[tuple[str, str]]) -> list[Verdict]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._verify_pool, lambda: verify_many(
            pairs, workers=self.config.workers, config=self.verify_config))

    async def answer_rewards(self, responses: Sequence[str], labels: Sequence[str | None] | None
                             ) -> list[float | None]:
        """The ``answer`` reward: 1.0 / 0.0 by the answer check; None where the label is missing or unparsable."""
        golds = list(labels) if labels else [None] * len(responses)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._verify_pool, lambda: self.answer_reward(None, responses,
                                                                                        answer=golds))

    async def get_reward(self, request: RewardRequest) -> dict[str, Any]:
        """OpenRLHF's remote reward model reply: rewards, scores (the same values) and per-item logs."""
        check_count(self.config, "query", len(request.query))
        prompts = request.prompts or [None] * len(request.query)
        responses = [split_response(q, p) for q, p in zip(request.query, prompts, strict=True)]
        labels = request.labels or [None] * len(request.query)
        texts = [{"query": q, "prompts": p, "labels": label}
                 for q, p, label in zip(request.query, prompts, labels, strict=True)]
        prm_terms = [term for term in self.terms if term.name == "prm_outcome"]
        steps = [self.steps_of(r) for r in responses] if prm_terms else None
        errors = item_limit_errors(self.config, "query", texts, [len(s) for s in steps] if steps else None)
        logs: dict[str, Any] = {}
        values: dict[str, list[float | None]] = {}
        if any(term.name == "answer" for term in self.terms):
            values["answer"] = logs["answer_reward"] = await self.answer_rewards(responses, request.labels)
        if steps is not None:
            items = [(p or "", [] if i in errors else s) for i, (p, s) in enumerate(zip(prompts, steps, strict=True))]
            step_scores = await self.step_scores(items)
            how = prm_terms[0].aggregation or "min"
            values["prm_outcome"] = logs["prm_score"] = [None if i in errors else outcome_score(s, how)
                                                         for i, s in enumerate(step_scores)]
            logs["step_scores"] = step_scores
        rewards = combine(values, {term.name: term.weight for term in self.terms})
        rewards = [None if i in errors else r for i, r in enumerate(rewards)]
        if errors:
            logs["errors"] = [errors[i] for i in sorted(errors)]
            logger.warning("/get_reward: %d of %d items over a limit get no reward (first: %s)", len(errors),
                           len(rewards), logs["errors"][0])
        return {"rewards": rewards, "scores": rewards, "extra_logs": logs}
