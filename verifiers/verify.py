"""The verifier's public entry points: ``verify`` one pair, ``verify_many`` in parallel.

``verify(gold, pred)`` extracts the final answer from ``pred`` (a bare answer or a whole
solution), compares it to ``gold`` by type, and returns a :class:`Verdict`; it never raises on
string input. Plain arithmetic is decided in-process by exact rationals (microseconds); anything
that needs sympy is sent to a sandbox worker process with a hard timeout that works from any
thread (see ``verifiers.sandbox``).

Each call has one deadline, ``config.timeout_s`` after it starts, that every wait spends: for a free
sandbox worker, for a worker to start, for sympy. A call returns by then (plus the time to kill an
overrunning worker), from any thread or process; a timeout verdict's ``timeout_stage`` says which
wait the deadline fired in.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

from verifiers.compare import ExactOracle, NeedsSympy
from verifiers.config import DEFAULT_CONFIG, Status, VerifyConfig
from verifiers.decide import Decision, decide
from verifiers.extract import extract_answer, last_boxed, prose_answer
from verifiers.sandbox import SandboxError, SandboxTimeout, Stage, get_sandbox

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
    # status TIMEOUT only: the wait in which the call's deadline fired, "queue" (no sandbox worker was
    # free), "worker_start" (a worker was still starting) or "sympy" (the worker was killed mid-work)
    timeout_stage: Stage | None = None

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


def _decide(gold: str, pred: str, config: VerifyConfig, deadline: float) -> Decision:
    """Decide one pair of extracted answers; SandboxTimeout when sympy is needed and ``deadline`` passes."""
    try:
        return decide(gold, pred, ExactOracle(config))
    except NeedsSympy:
        pass
    reply = get_sandbox().run(("decide", gold, pred, config), deadline=deadline)
    if reply[0] != "ok":
        return Decision(Status.UNPARSABLE, reason=f"sympy worker: {reply[1]}")
    return reply[1]


class _CacheInfo(NamedTuple):
    hits: int
    misses: int
    maxsize: int
    currsize: int


class _DecisionCache:
    """:func:`_decide` behind a thread-safe LRU keyed by (gold, pred, config), not by the deadline.

    Timeouts and worker deaths raise, so they are never stored. ``cache_clear`` and ``cache_info`` are
    those of ``functools.lru_cache`` (the tests and the benchmark clear every such cache).
    """

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._data: OrderedDict[tuple[str, str, VerifyConfig], Decision] = OrderedDict()
        self._lock = threading.Lock()
        self._hits = self._misses = 0

    def __call__(self, gold: str, pred: str, config: VerifyConfig, deadline: float) -> Decision:
        key = (gold, pred, config)
        with self._lock:
            decision = self._data.get(key)
            if decision is not None:
                self._data.move_to_end(key)
                self._hits += 1
                return decision
            self._misses += 1
        decision = _decide(gold, pred, config, deadline)
        with self._lock:
            self._data[key] = decision
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)
        return decision

    def cache_clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._hits = self._misses = 0

    def cache_info(self) -> _CacheInfo:
        with self._lock:
            return _CacheInfo(self._hits, self._misses, self.maxsize, len(self._data))


_decide_cached = _DecisionCache(maxsize=1 << 16)

_TIMEOUT_REASONS: dict[Stage, str] = {
    "queue": "no sympy worker was free within {:g} s",
    "worker_start": "no sympy worker finished starting within {:g} s",
    "sympy": "sympy did not finish within {:g} s",
}


def _verify(gold: str, pred: str, config: VerifyConfig, deadline: float) -> Verdict:
    gold_answer = _gold_answer(gold, config)
    if gold_answer is None:
        return Verdict(Status.UNPARSABLE, None, None, reason="gold: empty or too long", unparsable_side="gold")
    pred_answer, why = _pred_answer(pred, config)
    if pred_answer is None:
        return Verdict(Status.UNPARSABLE, gold_answer, None, reason=why, unparsable_side="pred")
    try:
        decision = _decide_cached(gold_answer, pred_answer, config, deadline)
    except SandboxTimeout as timeout:
        return Verdict(Status.TIMEOUT, gold_answer, pred_answer,
                       reason=_TIMEOUT_REASONS[timeout.stage].format(config.timeout_s), timeout_stage=timeout.stage)
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
    deadline = time.monotonic() + config.timeout_s  # one budget for every wait below
    try:
        return _verify(str(gold), str(pred), config, deadline)
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
    """Verify many (gold, pred) pairs; results in input order, each under its own deadline.

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
