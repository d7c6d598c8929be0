"""What every console page shares: the services, who is signed in, the CSRF check, templates,
and blocking calls kept off the event loop.

Trust: a page believes only the session cookie (a random token whose hash is looked up in
MongoDB), and from the session only its business and role. Ids in URLs and forms are looked up
*within* that business (``booking.desk``), so another business's id is simply unknown: 404.
"""
from __future__ import annotations

import asyncio
import functools
import logging
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Awaitable, Callable, Optional, TypeVar
from urllib.parse import quote
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from booking.receipt import rupiah

logger = logging.getLogger(__name__)
T = TypeVar("T")
HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "console_session"
LOGIN_CSRF_COOKIE = "console_login_csrf"

TEMPLATES = Environment(loader=FileSystemLoader(HERE / "templates"),
                        autoescape=select_autoescape(["html"]), trim_blocks=True,
                        lstrip_blocks=True)
TEMPLATES.filters["rupiah"] = rupiah


def _local(moment: Optional[datetime], tz: ZoneInfo, fmt: str = "%H:%M") -> str:
    if moment is None:
        return ""
    if moment.tzinfo is None:  # pymongo returns naive UTC datetimes
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(tz).strftime(fmt)


TEMPLATES.filters["local"] = _local


@dataclass
class Services:
    """What the pages call: the front desk over the core, accounts, sessions, the audit log,
    and the customers' conversations (the inbox)."""

    config: Any  # console.config.ConsoleConfig
    desk: Any  # booking.desk.FrontDesk
    accounts: Any  # console.accounts.Accounts
    sessions: Any  # console.sessions.Sessions
    audit: Any  # console.audit.AuditLog
    clock: Callable[[], datetime]
    conversations: Any = None  # booking.conversations.Conversations
    team: Any = None  # booking.handoff.TeamDesk
    transcript: Any = None  # console.transcript.Transcript


def services(request: Request) -> Services:
    """The app's services."""
    return request.app.ctx.services


async def blocking(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking call (MongoDB, Xendit, argon2) in a worker thread."""
    return await asyncio.to_thread(functools.partial(call, *args, **kwargs))


def session_of(request: Request) -> Any:
    """The signed-in session (``None`` on the login page)."""
    return getattr(request.ctx, "session", None)


async def catalog(request: Request) -> Any:
    """The catalog snapshot (it may be read from MongoDB: never on the event loop)."""
    return await blocking(lambda: services(request).desk.core.catalog)


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTTPResponse:
    """A page from ``console/templates`` with the session, its CSRF token and the business
    (loaded with the session, see ``console.app``)."""
    session = session_of(request)
    svc = services(request)
    business = getattr(request.ctx, "business", None) if session is not None else None
    html = TEMPLATES.get_template(name).render(
        session=session, csrf=session.csrf_token if session else "", business=business,
        tz=business.tz if business else ZoneInfo("UTC"), path=request.path,
        today=_today(svc, business), **context)
    return response.html(html, status=status)


def _today(svc: Services, business: Any) -> Optional[date]:
    if business is None:
        return None
    return svc.clock().astimezone(business.tz).date()


def redirect(to: str) -> HTTPResponse:
    """A 303 See Other (after a POST, the browser GETs the page)."""
    return response.redirect(to, status=303)


def not_found(request: Request) -> HTTPResponse:
    """The one answer for anything not of this business."""
    return render(request, "error.html", status=404, title="Not found",
                  message="There is nothing here, or it belongs to another business.")


Handler = Callable[..., Awaitable[HTTPResponse]]


def signed_in(handler: Handler) -> Handler:
    """Pages for signed-in people only; others go to the login page (and come back)."""
    @functools.wraps(handler)
    async def wrapper(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
        if session_of(request) is None:
            if request.method == "GET":
                return redirect(f"/login?next={quote(request.path)}")
            return redirect("/login")
        return await handler(request, *args, **kwargs)
    return wrapper


def owners_only(handler: Handler) -> Handler:
    """Pages for owners (staff see the calendar and bookings only)."""
    @functools.wraps(handler)
    @signed_in
    async def wrapper(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
        if session_of(request).role != "owner":
            return render(request, "error.html", status=403, title="Owners only",
                          message="This page is for the business's owners.")
        return await handler(request, *args, **kwargs)
    return wrapper


def form(request: Request, name: str, limit: int = 2000) -> str:
    """A form field as text (empty when missing), bounded."""
    value = request.form.get(name) if request.form else None
    return (value or "")[:limit]


def parse_day(text: Optional[str]) -> Optional[date]:
    """A date from a URL or form (``YYYY-MM-DD``, years 2000–2100); None for anything else."""
    try:
        day = date.fromisoformat((text or "")[:10])
    except ValueError:
        return None
    return day if 2000 <= day.year <= 2100 else None


def parse_instant(text: Optional[str]) -> Optional[datetime]:
    """An ISO instant from a form (UTC when it names no offset, years 2000–2100); None for
    anything else."""
    try:
        moment = datetime.fromisoformat((text or "")[:40])
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment if 2000 <= moment.year <= 2100 else None


def actor(request: Request) -> str:
    """Who is acting, for the audit log and the order events."""
    return session_of(request).username
