"""The action server: rasa-sdk's app, on loopback, believing only callers with the token.

    python -m actions.server        # what `make run` starts (instead of `rasa run actions`)

The action server executes whatever tracker it is sent: whoever can call it can act as any
customer. So it listens on ``ACTION_SERVER_HOST`` (default ``127.0.0.1``; a private address in
a multi-host deployment) and, when ``ACTION_SERVER_TOKEN`` is set (``make run`` and ``make
run-cluster`` always set one), refuses every call without ``Authorization: Bearer <token>``
(401; compared as bytes in constant time). ``/health`` stays open and says nothing. Errors never
echo the request (rasa-sdk's default handler returns the whole tracker in a 500).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any, Optional

from rasa_sdk.endpoint import create_app
from sanic import Sanic, response
from sanic.request import Request

from booking import logsafe
from channels.http_guard import same_secret
from channels.metrics_http import metrics

logger = logging.getLogger(__name__)
MAX_REQUEST_BYTES = 8 * 1024 * 1024  # a tracker window of 50 events is far below this
# Rasa reuses a connection only within 2 s of its last answer (channels/rasa_patches.py); the
# server must keep it open longer, or a call can be written to a connection being closed
KEEP_ALIVE_SECONDS = 30


def bearer_ok(expected: str, header: Any) -> bool:
    """Whether ``Authorization`` carries ``Bearer <expected>`` (any bytes are safe here)."""
    if not isinstance(header, str) or not header[:7].lower() == "bearer ":
        return False
    return same_secret(expected, header[7:].strip().encode("utf-8", "surrogateescape"))


def build_app(token: Optional[str]) -> Sanic:
    """rasa-sdk's app for the ``actions`` package, with the token check and quiet errors."""
    app = create_app("actions", cors_origins=None)
    app.config.REQUEST_MAX_SIZE = MAX_REQUEST_BYTES
    app.config.KEEP_ALIVE_TIMEOUT = KEEP_ALIVE_SECONDS

    @app.middleware("request")
    async def only_with_the_token(request: Request) -> Any:
        if token and request.path not in ("/health", "/metrics") and not bearer_ok(
                token, request.headers.get("authorization")):
            return response.json({"error": "missing or invalid action server token"},
                                 status=401)
        return None

    app.add_route(metrics, "/metrics", methods=["GET"])  # (its own guard: METRICS_TOKEN)

    @app.exception(Exception)
    async def failed(request: Request, exception: Exception) -> Any:
        status = getattr(exception, "status_code", 500)
        if status >= 500:
            logger.error("action call failed: %s", type(exception).__name__, exc_info=exception)
        return response.json({"error": "action server error" if status >= 500
                              else "bad request"}, status=status)

    return app


def main(argv: Optional[list[str]] = None) -> int:
    """Serve on ``ACTION_SERVER_HOST:ACTION_SERVER_PORT``."""
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    logsafe.install()
    parser = argparse.ArgumentParser(description="the action server")
    parser.add_argument("--port", type=int, default=int(os.environ.get("ACTION_SERVER_PORT")
                                                        or 5055))
    args = parser.parse_args(argv)
    host = os.environ.get("ACTION_SERVER_HOST") or "127.0.0.1"
    port = args.port
    token = os.environ.get("ACTION_SERVER_TOKEN") or None
    if token is None:
        logger.warning("ACTION_SERVER_TOKEN is not set: any local process may call actions")
    app = build_app(token)
    logger.info("action server on http://%s:%d/webhook (token %s)", host, port,
                "required" if token else "not required")
    app.run(host, port, access_log=False, workers=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
