"""``GET /metrics`` for each server (the Rasa server, the action server, the console).

What it trusts: with ``METRICS_TOKEN`` set, only a scraper sending ``Authorization: Bearer
<token>`` (compared in constant time); without it (and never with ``PRODUCTION`` set), only a
client on this machine that came directly (loopback, and none of the headers a proxy adds:
a request through nginx from outside carries ``X-Forwarded-For``).
The figures hold no personal data (``booking.metrics``), but a business's volumes are its own.
The exposition is built in a worker thread: it may read files (multiprocess mode) or MongoDB
(the inbox backlog).
"""
from __future__ import annotations

import asyncio
import os

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from booking.metrics import exposition
from booking.settings import production
from channels.http_guard import one_header, same_secret

LOOPBACK = {"127.0.0.1", "::1"}


PROXY_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip")  # what a proxy adds


def scrape_allowed(request: Request) -> bool:
    """Whether this request may read the metrics (see the module docstring). With
    ``PRODUCTION`` set the token is required: a TLS proxy that adds no header would make every
    request look local."""
    token = os.environ.get("METRICS_TOKEN") or ""
    if token:
        header = one_header(request, "authorization") or b""
        return header[:7].lower() == b"bearer " and same_secret(token, header[7:].strip())
    if production():
        return False
    return request.ip in LOOPBACK and not any(request.headers.getall(name, [])
                                              for name in PROXY_HEADERS)


async def metrics(request: Request) -> HTTPResponse:
    """This server's metrics in Prometheus' text format (403 for anyone else)."""
    if not scrape_allowed(request):
        return response.json({"error": "metrics are for the monitoring scraper"}, status=403)
    body, content_type = await asyncio.to_thread(exposition)
    return response.raw(body, content_type=content_type)
