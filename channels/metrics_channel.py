"""The Rasa server's ``GET /metrics`` (``channels/metrics_http.py``), served as an input channel
whose prefix is the root, so Prometheus scrapes every server at the same path. It takes no
messages. Registered in ``credentials.yml``."""
from __future__ import annotations

from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from channels.metrics_http import metrics


class MetricsInput(InputChannel):
    """``/metrics`` on the Rasa server."""

    @classmethod
    def name(cls) -> Text:
        return "metrics"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        return cls()

    def url_prefix(self) -> Text:
        return "/metrics"  # joined to Rasa's "/webhooks/": the root's /metrics

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint(self.name(), __name__)

        @bp.route("/", methods=["GET"])
        async def scrape(request: Request) -> HTTPResponse:
            return await metrics(request)

        @bp.route("/health", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        return bp
