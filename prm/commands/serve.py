"""``prm serve --prm PATH``: serve PRM step scores, answer checks and OpenRLHF-style rewards over HTTP.

Endpoints: ``POST /score``, ``POST /verify``, ``POST /get_reward``, ``GET /health``, ``GET /metrics``
(see :mod:`prm.serve.app`). Concurrent ``/score`` and ``/get_reward`` requests are merged into PRM
batches of up to ``--max-batch`` solutions, waiting at most ``--max-wait-ms`` for company. Without
``--prm`` only ``/verify`` and the answer reward are served. Bind to 127.0.0.1 (the default) unless the
network is trusted: the server has no authentication.
"""

from __future__ import annotations

import argparse
import logging

from prm.serve.schemas import ServeConfig

logger = logging.getLogger(__name__)

CONFIG = ServeConfig
_UVICORN_LEVELS = {"critical", "error", "warning", "info", "debug"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No positional arguments: everything is an option of ``ServeConfig``."""


def run(config: ServeConfig, args: argparse.Namespace) -> int:
    from prm.serve.app import create_app
    from prm.serve.runner import serve_forever

    try:
        app = create_app(config)
    except (OSError, ValueError) as error:
        logger.error("%s", error)
        return 2
    logger.info("serving %s on http://%s:%d (rewards: %s, max batch %d, max wait %g ms)",
                config.prm or "no PRM (answer checks only)", config.host, config.port, config.reward_spec(),
                config.max_batch, config.max_wait_ms)
    level = logging.getLevelName(logging.getLogger().getEffectiveLevel()).lower()  # `prm --log-level LEVEL`
    serve_forever(app, config.host, config.port, level if level in _UVICORN_LEVELS else "info")
    return 0
