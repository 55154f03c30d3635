"""The verifier's public entry points: ``verify`` one pair, ``verify_many`` in parallel.

``verify(gold, pred)`` extracts the final answer from ``pred`` (a bare answer or a whole
solution), compares it to ``gold`` by type, and returns a :class:`Verdict`; it never raises on
string input. Plain arithmetic is decided in-process by exact rationals (microseconds); anything
that needs sympy is sent to a sandbox worker process with a hard timeout that works from any
thread (see ``verifiers.sandbox``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

from verifiers.compare import ExactOracle, NeedsSympy
from verifiers.config import DEFAULT_CONFIG, Status, VerifyConfig
from verifiers.decide import Decision, decide
from verifiers.extract import extract_answer, last_boxed, prose_answer
from verifiers.sandbox import SandboxError, SandboxTimeout, get_sandbox

__all__ = ["Verdict", "verify", "verify_many"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Verdict:
    """The outcome of comparing a predicted answer with a gold answer."""

    status: Status
    gold: str | None
    pred: str | None
    gold_parsed: str = ""
    pred_parsed: str = ""
    reason: str = ""
    unparsable_side: str | None = None

    @property
    def is_equal(self) -> bool:
        return self.status is Status.EQUAL

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        return data


def _gold_answer(gold: str, config: VerifyConfig) -> str | None:
    # a boxed gold: its last box, or the boxes that close it together (\boxed{x=2}, \boxed{y=3})
    boxed = extract_answer(gold) if "box" in gold and last_boxed(gold) is not None else None
    answer = boxed if boxed is not None else gold.strip()
    return answer if answer and len(answer) <= config.max_answer_chars else None


def _pred_answer(pred: str, config: VerifyConfig) -> tuple[str | None, str]:
    answer = extract_answer(pred)
    if answer is None and config.prose_fallback:
        answer = prose_answer(pred)
    if answer is None:
        bare = pred.strip()
        if not bare:
            return None, "pred: empty"
        if len(bare) > config.max_bare_pred_chars:
            return None, "pred: no final answer found"
        answer = bare
    if len(answer) > config.max_answer_chars:
        return None, f"pred: answer longer than {config.max_answer_chars} characters"
    return answer, ""


@lru_cache(maxsize=1 << 16)
def _decide_cached(gold: str, pred: str, config: VerifyConfig) -> Decision:
    """Decide one pair of extracted answers; timeouts raise (and so are never cached)."""
    try:
        return decide(gold, pred, ExactOracle(config))
    except NeedsSympy:
        pass
    reply = get_sandbox().run(("decide", gold, pred, config), config.timeout_s)
    if reply[0] != "ok":
        return Decision(Status.UNPARSABLE, reason=f"sympy worker: {reply[1]}")
    return reply[1]


def _verify(gold: str, pred: str, config: VerifyConfig) -> Verdict:
    gold_answer = _gold_answer(gold, config)
    if gold_answer is None:
        return Verdict(Status.UNPARSABLE, None, None, reason="gold: empty or too long", unparsable_side="gold")
    pred_answer, why = _pred_answer(pred, config)
    if pred_answer is None:
        return Verdict(Status.UNPARSABLE, gold_answer, None, reason=why, unparsable_side="pred")
    try:
        decision = _decide_cached(gold_answer, pred_answer, config)
    except SandboxTimeout:
        return Verdict(Status.TIMEOUT, gold_answer, pred_answer,
                       reason=f"sympy did not finish within {config.timeout_s:g} s")
    except SandboxError as error:
        return Verdict(Status.UNPARSABLE, gold_answer, pred_answer, reason=f"sympy worker died: {error}")
    return Verdict(decision.status, gold_answer, pred_answer, decision.gold_parsed, decision.pred_parsed,
                   decision.reason, decision.unparsable_side)


def verify(gold: str, pred: str, config: VerifyConfig | None = None) -> Verdict:
    """Compare ``pred`` (an answer or a whole solution) with the reference answer ``gold``.

    >>> verify(r"\\frac{1}{2}", r"so the answer is $\\boxed{0.5}$.").status.value
    'equal'
    >>> verify("(1,2)", "(2,1)").status.value
    'not_equal'
    """
    config = config or DEFAULT_CONFIG
    try:
        return _verify(str(gold), str(pred), config)
    except Exception as error:  # noqa: BLE001 - the contract is a verdict, never an exception
        logger.exception("verify failed on gold=%.80r pred=%.80r", gold, pred)
        return Verdict(Status.UNPARSABLE, None, None, reason=f"internal error: {type(error).__name__}")


def _check_pair(index: int, pair: Any) -> tuple[Any, Any]:
    """``pair`` as (gold, pred); ValueError naming pair ``index`` when it is not a 2-item tuple or list."""
    if not isinstance(pair, tuple | list) or len(pair) != 2:
        raise ValueError(f"pair {index} should be a (gold, pred) tuple, got {type(pair).__name__} {str(pair)[:60]!r}")
    return pair[0], pair[1]


def verify_many(
    pairs: Iterable[tuple[str, str]], workers: int = 1, config: VerifyConfig | None = None
) -> list[Verdict]:
    """Verify many (gold, pred) pairs; results in input order, each under its own timeout.

    A pair that is not a 2-item tuple or list raises ValueError naming its index (before any work).

    With ``workers > 1`` the pairs are spread over that many threads, and the sympy work over
    as many sandbox processes, so symbolic comparisons run in parallel.
    """
    pairs = [_check_pair(index, pair) for index, pair in enumerate(pairs)]
    if workers <= 1 or len(pairs) < 2:
        return [verify(gold, pred, config) for gold, pred in pairs]
    get_sandbox().ensure_capacity(workers)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="verify") as pool:
        return list(pool.map(lambda pair: verify(pair[0], pair[1], config), pairs))
