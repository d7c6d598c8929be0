"""The console's Sanic app: session and CSRF middleware, security headers, the pages.

    python -m console        # what `make run` starts, on CONSOLE_HOST:CONSOLE_PORT

Every POST carries the CSRF token of its session in the ``csrf`` field (the login form, before
any session, a double-submit cookie); one without it is refused with 403 and changes nothing.
A POST whose ``Origin`` is another site is refused too. Pages are never framed, never cached.
"""
from __future__ import annotations

import hmac
import logging
from typing import Optional

from sanic import Sanic, response
from sanic.exceptions import NotFound
from sanic.request import Request
from sanic.response import HTTPResponse

from channels.metrics_http import metrics
from console import views
from console.web import (HERE, LOGIN_CSRF_COOKIE, SESSION_COOKIE, Services, blocking, catalog,
                         form, not_found, render, services)

logger = logging.getLogger(__name__)
MAX_REQUEST_BYTES = 64 * 1024  # forms only: notes, catalog entries
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; "
       "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")


def create_app(svc: Services, name: str = "console") -> Sanic:
    """The console app over ``svc``."""
    app = Sanic(name)
    app.config.REQUEST_MAX_SIZE = MAX_REQUEST_BYTES
    app.config.FALLBACK_ERROR_FORMAT = "html"
    app.ctx.services = svc
    app.static("/static", str(HERE / "static"), name="static")

    @app.middleware("request")
    async def who_is_there(request: Request) -> Optional[HTTPResponse]:
        request.ctx.session = None
        if request.path.startswith("/static/") or request.path in ("/health", "/metrics"):
            return None
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            request.ctx.session = await blocking(services(request).sessions.get, token[:200],
                                                 services(request).clock())
        if request.ctx.session is not None:
            request.ctx.business = (await catalog(request)).business(
                request.ctx.session.business_id)
        if request.method == "POST":
            return _refused_post(request)
        return None

    @app.middleware("response")
    async def headers(request: Request, resp: HTTPResponse) -> None:
        resp.headers["x-frame-options"] = "DENY"
        resp.headers["x-content-type-options"] = "nosniff"
        resp.headers["referrer-policy"] = "same-origin"
        if not request.path.startswith("/static/"):
            resp.headers.setdefault("content-security-policy", CSP)
            resp.headers["cache-control"] = "no-store"

    @app.exception(NotFound)
    async def missing(request: Request, exc: Exception) -> HTTPResponse:
        return not_found(request)

    @app.get("/health")
    async def health(request: Request) -> HTTPResponse:
        return response.json({"service": "console"})

    app.add_route(metrics, "/metrics", methods=["GET"])  # (its own guard: METRICS_TOKEN)
    views.register(app)
    return app


def _refused_post(request: Request) -> Optional[HTTPResponse]:
    """403 for a cross-site POST or one without the right CSRF token; None to go on."""
    origin = request.headers.get("origin")
    configured = services(request).config.origin
    allowed = (configured,) if configured else (f"http://{request.host}",
                                                f"https://{request.host}")
    if origin and origin not in allowed:
        return _forbidden(request, "This form came from another site.")
    submitted = form(request, "csrf", 200)
    session = request.ctx.session
    if request.path == "/login":
        expected = request.cookies.get(LOGIN_CSRF_COOKIE) or ""
        if expected and submitted and hmac.compare_digest(expected.encode(), submitted.encode()):
            return None
        return _forbidden(request, "The login form had expired: please try again.")
    if session is None:
        return None  # the page itself sends the visitor to the login page
    if services(request).sessions.csrf_ok(session, submitted):
        return None
    return _forbidden(request, "This form had expired or did not come from the console: "
                               "nothing was changed. Please try again.")


def _forbidden(request: Request, message: str) -> HTTPResponse:
    return render(request, "error.html", status=403, title="Refused", message=message)
