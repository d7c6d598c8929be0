"""The audit log, for the owners: who changed what, when, with the fields before and after."""
from __future__ import annotations

from sanic import Sanic
from sanic.request import Request
from sanic.response import HTTPResponse

from console.web import blocking, owners_only, render, services, session_of


def register(app: Sanic) -> None:
    """The routes of this module."""

    @app.get("/audit")
    @owners_only
    async def audit(request: Request) -> HTTPResponse:
        entries = await blocking(services(request).audit.recent,
                                 session_of(request).business_id, 200)
        return render(request, "audit.html", entries=entries)
