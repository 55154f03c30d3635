"""Client of ``prm serve`` (standard library only, so trainer machines need nothing extra) and a TRL reward
function that calls the server::

    client = RewardClient("http://10.0.0.5:8000")
    client.score([{"problem": p, "steps": ["2+2=4", "\\\\boxed{4}"]}])     # [{"step_scores": [...], "score": ...}]
    client.verify([("1/2", "so \\\\boxed{0.5}")])                        # [{"status": "equal", "equal": True, ...}]
    client.get_reward(query=[p + c], prompts=[p], labels=["4"])         # {"rewards": [...], ...}
    trainer = GRPOTrainer(..., reward_funcs=[remote_reward("http://10.0.0.5:8000")])

Connection errors, timeouts and 503s are retried with exponential backoff; other 4xx/5xx replies raise
:class:`ServeError` carrying the server's message (e.g. ``items[3].steps: 300 steps > limit 128``).
Every call opens its own connection, so one client (and one reward function) is safe to share between threads.
"""

from __future__ import annotations

import http.client
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

from verifiers.rewards import completion_text

__all__ = ["RewardClient", "ServeError", "remote_reward"]

logger = logging.getLogger(__name__)

RewardFunction = Callable[..., list[float | None]]
_RETRYABLE_STATUS = {502, 503, 504}


class ServeError(RuntimeError):
    """The server answered with an error status; ``status`` and ``errors`` (one line per problem)."""

    def __init__(self, status: int, detail: str, errors: Sequence[str] = ()) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status, self.detail, self.errors = status, detail, list(errors)


def _error_of(error: urllib.error.HTTPError) -> ServeError:
    try:
        body = json.loads(error.read() or b"{}")
    except ValueError:
        body = {}
    detail = body.get("detail", error.reason) if isinstance(body, dict) else error.reason
    errors = body.get("errors", []) if isinstance(body, dict) else []
    return ServeError(error.code, str(detail), errors)


class RewardClient:
    """Calls to one ``prm serve`` server at ``url`` with a per-request ``timeout`` and ``retries``."""

    def __init__(self, url: str, timeout: float = 60.0, retries: int = 3, backoff_s: float = 0.2) -> None:
        self.url = url.rstrip("/")
        self.timeout, self.retries, self.backoff_s = timeout, retries, backoff_s

    def _request(self, method: str, path: str, payload: Any = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode("utf-8")
        for attempt in range(self.retries + 1):
            request = urllib.request.Request(self.url + path, data=data, method=method,
                                             headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return json.loads(response.read())
            except urllib.error.HTTPError as error:
                failure: Exception = _error_of(error)
                if error.code not in _RETRYABLE_STATUS:
                    raise failure from None
            except (urllib.error.URLError, ConnectionError, TimeoutError, http.client.HTTPException) as error:
                failure = error
            if attempt < self.retries:
                delay = self.backoff_s * 2 ** attempt
                logger.warning("%s %s%s failed (%s); retry %d/%d in %.2f s", method, self.url, path, failure,
                               attempt + 1, self.retries, delay)
                time.sleep(delay)
        raise ConnectionError(f"{method} {self.url}{path} failed after {self.retries + 1} attempts: {failure}")

    def health(self) -> dict[str, Any]:
        return self._request("GET", "/health")

    def metrics(self) -> dict[str, Any]:
        return self._request("GET", "/metrics")

    def score(self, items: Sequence[dict[str, Any]], aggregation: str | None = None) -> list[dict[str, Any]]:
        """Step scores and aggregate per item ({"problem", "steps": [...]} or {"problem", "solution"})."""
        payload: dict[str, Any] = {"items": list(items)}
        if aggregation is not None:
            payload["aggregation"] = aggregation
        return self._request("POST", "/score", payload)["results"]

    def verify(self, pairs: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
        """One verdict per (gold, answer) pair: status, equal, extracted and parsed answers."""
        return self._request("POST", "/verify", {"pairs": [{"gold": g, "answer": a} for g, a in pairs]})["results"]

    def get_reward(self, query: Sequence[str], prompts: Sequence[str] | None = None,
                   labels: Sequence[str | None] | None = None) -> dict[str, Any]:
        """OpenRLHF's remote reward call: ``query`` is prompt + response text."""
        payload: dict[str, Any] = {"query": list(query)}
        if prompts is not None:
            payload["prompts"] = list(prompts)
        if labels is not None:
            payload["labels"] = [None if label is None else str(label) for label in labels]
        return self._request("POST", "/get_reward", payload)


def _prompt_text(prompt: Any) -> str:
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, Sequence) and all(isinstance(m, dict) for m in prompt):
        return "\n".join(str(m.get("content", "")) for m in prompt)
    return completion_text(prompt)


def remote_reward(url: str, label_column: str = "answer", timeout: float = 60.0, retries: int = 3,
                  name: str = "remote_reward") -> RewardFunction:
    """A TRL reward function ``f(prompts, completions, **columns) -> list[float | None]`` served by ``url``.

    The server's ``--rewards`` spec decides what the reward is; the labels come from the dataset column
    ``label_column`` when present (None entries and a missing column give the server no label).
    """
    client = RewardClient(url, timeout=timeout, retries=retries)

    def reward(prompts: Sequence[Any] | None, completions: Sequence[Any], **columns: Any) -> list[float | None]:
        texts = [completion_text(c) for c in completions]
        prompt_texts = [_prompt_text(p) for p in prompts] if prompts is not None else [""] * len(texts)
        labels = columns.get(label_column)
        if labels is not None and len(labels) != len(texts):
            raise ValueError(f"{name}: {len(texts)} completions but {len(labels)} {label_column!r} values")
        reply = client.get_reward([p + c for p, c in zip(prompt_texts, texts, strict=True)], prompt_texts,
                                  labels)
        rewards = reply["rewards"]
        if len(rewards) != len(texts):
            raise ServeError(200, f"{len(rewards)} rewards for {len(texts)} completions")
        return [None if r is None else float(r) for r in rewards]

    reward.__name__ = reward.__qualname__ = name
    return reward
