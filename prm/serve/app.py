"""The HTTP layer of ``prm serve``: the FastAPI app factory :func:`create_app`.

Routes: ``POST /score`` (PRM step scores), ``POST /verify`` (answer checks), ``POST /get_reward``
(OpenRLHF's remote reward model shape), ``GET /health``, ``GET /metrics`` (JSON; Prometheus text with
``?format=prometheus``). Bodies are read by hand so that the size limit holds while streaming and every
error is a JSON ``{"detail": first problem, "errors": [every problem]}`` naming the item and field:
400 unreadable JSON, 413 body too large, 422 invalid or over a limit, 501 no PRM loaded.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ValidationError

from eval.aggregate import AGGREGATIONS
from prm.serve.metrics import Metrics, prometheus_text
from prm.serve.schemas import (
    RequestError,
    RewardRequest,
    ScoreRequest,
    ServeConfig,
    VerifyRequest,
    check_limits,
    format_validation_errors,
)
from prm.serve.service import ScoringService, verdict_json
from verifiers.sandbox import get_sandbox

__all__ = ["create_app", "load_scorer"]

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)


def load_scorer(config: ServeConfig) -> Any | None:
    """The scorer of ``config.prm``, in any format (torch is imported only when one is served)."""
    if not config.prm:
        return None
    from prm.model.formats import load_scorer as load_prm_scorer
    from prm.model.formats import parse_options
    from prm.runtime import set_threads

    set_threads(config.threads)
    return load_prm_scorer(config.prm, config.prm_format, device=config.device, dtype=config.dtype,
                           batch_size=config.forward_batch, **parse_options(config.prm_options))


async def read_body(request: Request, model: type[M], limit: int) -> M:
    """The body parsed as ``model``; RequestError 413 past ``limit`` bytes, 400 bad JSON, 422 invalid."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise RequestError(413, [f"body: {int(declared)} bytes > limit {limit}"])
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(413, [f"body: more than {limit} bytes > limit {limit}"])
        chunks.append(chunk)
    try:
        return model.model_validate_json(b"".join(chunks))
    except ValidationError as error:
        problems = error.errors(include_input=False, include_url=False)
        status = 400 if any(p["type"] == "json_invalid" for p in problems) else 422
        raise RequestError(status, format_validation_errors(problems)[:20]) from None


def _install_handlers(app: FastAPI, metrics: Metrics) -> None:
    @app.exception_handler(RequestError)
    async def _request_error(_: Request, error: RequestError) -> JSONResponse:
        return JSONResponse({"detail": str(error), "errors": error.errors}, status_code=error.status)

    @app.middleware("http")
    async def _observe(request: Request, call_next: Any) -> Response:
        start = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception:  # noqa: BLE001 - count it, answer JSON, keep serving
            logger.exception("%s %s failed", request.method, request.url.path)
            response = JSONResponse({"detail": "internal error", "errors": ["internal error"]}, status_code=500)
        metrics.observe(request.url.path, response.status_code, time.perf_counter() - start)
        return response


def _add_routes(app: FastAPI, service: ScoringService, metrics: Metrics) -> None:
    config = service.config

    @app.post("/score")
    async def score(request: Request) -> dict[str, Any]:
        body = await read_body(request, ScoreRequest, config.max_body_bytes)
        results = await service.score(body.items, body.aggregation)
        return {"results": results, "aggregation": body.aggregation or config.aggregation}

    @app.post("/verify")
    async def verify(request: Request) -> dict[str, Any]:
        body = await read_body(request, VerifyRequest, config.max_body_bytes)
        check_limits(config, "pairs", [{"gold": p.gold, "answer": p.answer} for p in body.pairs])
        verdicts = await service.verify([(p.gold, p.answer) for p in body.pairs])
        return {"results": [verdict_json(v) for v in verdicts]}

    @app.post("/get_reward")
    async def get_reward(request: Request) -> dict[str, Any]:
        body = await read_body(request, RewardRequest, config.max_body_bytes)
        return await service.get_reward(body)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "prm": config.prm if service.scorer is not None else None,
                "rewards": config.reward_spec(), "aggregation": config.aggregation,
                "aggregations": list(AGGREGATIONS), "max_batch": config.max_batch, "max_wait_ms": config.max_wait_ms}

    @app.get("/metrics", response_model=None)
    async def get_metrics(format: str = "json") -> dict[str, Any] | PlainTextResponse:
        batcher = service.batcher
        snapshot = metrics.snapshot(batcher.stats if batcher else None, batcher.queue_depth if batcher else 0)
        return PlainTextResponse(prometheus_text(snapshot)) if format == "prometheus" else snapshot


def create_app(config: ServeConfig, scorer: Any | None = None) -> FastAPI:
    """The app serving ``scorer`` (or the PRM at ``config.prm``; none: /verify and answer rewards only)."""
    service = ScoringService(config, scorer if scorer is not None else load_scorer(config))
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # every answer check's deadline covers a sandbox worker's start: pay for the starts before serving
        await asyncio.to_thread(get_sandbox().prestart, max(1, config.workers))
        yield
        service.close()

    app = FastAPI(title="prm serve", description="PRM step scores, answer checks and GRPO rewards",
                  lifespan=lifespan)
    app.state.service, app.state.metrics = service, metrics
    _install_handlers(app, metrics)
    _add_routes(app, service, metrics)
    return app
