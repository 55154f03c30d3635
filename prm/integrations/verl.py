"""Our rewards for verl: a ``compute_score`` on the sympy verifier, and dense PRM step rewards.

**Outcome reward** (``compute_score``): verl's reward manager decodes each response
(``skip_special_tokens=True``) and calls ``compute_score(data_source, solution_str, ground_truth,
extra_info, **reward_kwargs)`` from worker threads; a dict result gives the reward under ``"score"`` and logs
every other key. Ours returns ``{"score": float, "acc": bool, "pred": extracted answer, "judged": bool}``;
``ground_truth`` is a bare answer or a solution with a ``\\boxed{}`` answer. The reward is the spec in the
``rewards`` keyword (the grammar of ``prm grpo --rewards``, :mod:`prm.rewards`; default ``answer``, 1.0 / 0.0);
a spec of several terms also logs each term's value under its name, and ``prm_outcome`` needs ``prm`` (a PRM
folder) and the problem text in ``extra_info["problem"]`` (or ``"question"``). verl has no "cannot judge": an
unreadable gold scores 0.0 with ``judged`` False (and a warning), so it shows in the logged metrics. Plug it in
with the config keys of current verl (``reward.custom_reward_function``)::

    python -m verl.trainer.main_ppo algorithm.adv_estimator=grpo ... \\
        reward.custom_reward_function.path=$(python -c 'import prm.integrations.verl as m; print(m.__file__)') \\
        reward.custom_reward_function.name=compute_score \\
        +reward.custom_reward_function.reward_kwargs.rewards='answer,prm_outcome@min:0.5' \\
        +reward.custom_reward_function.reward_kwargs.prm=/path/to/prm

(verl releases before the ``reward`` config group read the same keys at top level:
``custom_reward_function.path=... custom_reward_function.name=compute_score``.) verl loads the file by path,
so ``prm-math`` must be installed in verl's environment.

**Dense step rewards** (``dense_step_rewards``, ``dense_step_rewards_batch``): DeepSeekMath-style process
supervision puts step ``j``'s PRM score on the token that ends step ``j``
(:func:`prm.grpo.step_spans.step_end_token_indices`) and zeros elsewhere: a float tensor of the response's
length, which is the shape of a row of verl's token-level reward tensor. ``compute_score`` returns one scalar
per response, so dense rewards need a custom reward manager that fills the rows itself
(``reward.reward_manager.source=importlib``, ``reward.reward_manager.module.path=<your file>``,
``reward.reward_manager.name=<its class>``). verl's GRPO estimator sums a row into one scalar per response;
the placement matters to token-level estimators (REINFORCE++, GAE).
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Sequence
from typing import Any

import torch

from prm.grpo.step_spans import step_end_token_indices
from prm.rewards import BuiltReward, RewardContext, build_rewards, combine, parse_rewards
from verifiers.config import Status
from verifiers.rewards import reward_of
from verifiers.verify import verify

__all__ = ["compute_score", "dense_step_rewards", "dense_step_rewards_batch"]

logger = logging.getLogger(__name__)


# the columns compute_score can give a reward: the gold, and the problem when extra_info has it
VERL_COLUMNS = ("answer", "problem")


_BUILD_LOCK = threading.Lock()  # verl calls compute_score from threads: build (and load a PRM) once


def _built(spec: str, prm: str | None, prm_format: str) -> list[BuiltReward]:
    with _BUILD_LOCK:
        return _build(spec, prm, prm_format)


@functools.lru_cache(maxsize=8)
def _build(spec: str, prm: str | None, prm_format: str) -> list[BuiltReward]:
    terms = parse_rewards(spec, available=VERL_COLUMNS)
    if any(term.name == "prm_process" for term in terms):
        raise ValueError(f"compute_score returns one number per response: {spec!r} has prm_process; place step "
                         "scores with dense_step_rewards_batch in a custom reward manager instead")
    return build_rewards(terms, RewardContext(prm=prm, prm_format=prm_format))


def _problem(extra_info: dict | None) -> str | None:
    info = extra_info or {}
    return info.get("problem") or info.get("question")


def compute_score(data_source: str, solution_str: str, ground_truth: Any, extra_info: dict | None = None,
                  rewards: str = "answer", prm: str | None = None, prm_format: str = "auto", **kwargs: Any
                  ) -> dict[str, Any]:
    """verl's reward-function signature: the ``rewards`` spec's value for one response (see the module docstring)."""
    verdict = verify(str(ground_truth), solution_str)
    built = _built(rewards, prm, prm_format)
    values: dict[str, list[float | None]] = {}
    for reward in built:
        if reward.name == "answer":  # the verdict above, by the answer reward's own rule
            values["answer"] = [reward_of(verdict)]
            continue
        problem = _problem(extra_info)
        if problem is None:
            raise ValueError(f"reward {reward.name!r} needs the problem text in extra_info['problem']")
        values[reward.name] = reward.function(None, [solution_str], answer=[ground_truth], problem=[problem])
    (score,) = combine(values, {reward.name: reward.weight for reward in built})
    judged = score is not None
    if not judged:
        index = (extra_info or {}).get("index")
        logger.warning("unjudgeable response (data_source %s, index %s, ground truth %r): scored 0.0, judged=False",
                       data_source, index, ground_truth)
    result: dict[str, Any] = {"score": score if judged else 0.0, "acc": verdict.status is Status.EQUAL,
                              "pred": verdict.pred or "", "judged": judged}
    if len(built) > 1:
        result.update({name: column[0] for name, column in values.items()})
    return result


def dense_step_rewards(tokenizer: Any, response_ids: Sequence[int], step_scores: Sequence[float | None],
                       text: str | None = None, separator: str = "\n\n", length: int | None = None
                       ) -> torch.Tensor:
    """A float tensor of ``length`` (default: the response's length) with each step's score on its end token.

    ``step_scores`` has one entry per step of the decoded response (``split_steps`` with ``separator``); a
    ``None`` score (a step past the PRM's length limit) places nothing. Two steps ending in one token add up.
    """
    ends = step_end_token_indices(tokenizer, response_ids, text=text, separator=separator)
    if len(ends) != len(step_scores):
        raise ValueError(f"the response has {len(ends)} steps but {len(step_scores)} step scores were given")
    width = len(response_ids) if length is None else length
    if width < len(response_ids):
        raise ValueError(f"length {width} is shorter than the response ({len(response_ids)} tokens)")
    rewards = torch.zeros(width, dtype=torch.float32)
    for end, score in zip(ends, step_scores, strict=True):
        if score is not None:
            rewards[end] += float(score)
    return rewards


def dense_step_rewards_batch(scorer: Any, tokenizer: Any, problems: Sequence[str],
                             responses: Sequence[Sequence[int]], width: int | None = None) -> torch.Tensor:
    """``(len(responses), width)`` dense step rewards for a batch, scored by a :class:`prm.model.Scorer`.

    ``responses`` are the policy's response token ids without padding (``tokenizer`` is the policy's); each is
    decoded, scored in one PRM forward with the scorer's segmentation, and its scores placed at its step-end
    tokens. ``width`` defaults to the longest response (verl: the padded response length).
    """
    if len(problems) != len(responses):
        raise ValueError(f"{len(problems)} problems but {len(responses)} responses")
    texts = [tokenizer.decode(list(ids), skip_special_tokens=True) for ids in responses]
    scores = scorer.score_batch(list(zip(problems, texts, strict=True)))
    width = max((len(ids) for ids in responses), default=0) if width is None else width
    separator = scorer.config.segmentation
    rows = [dense_step_rewards(tokenizer, ids, row_scores, text=text, separator=separator, length=width)
            for ids, text, row_scores in zip(responses, texts, scores, strict=True)]
    return torch.stack(rows) if rows else torch.zeros((0, width), dtype=torch.float32)
