"""Signing in and out.

Password checks (argon2: CPU and memory by design) run in a pool of their own, ``LOGIN_POOL``:
a flood of logins queues there while every other page keeps the default threads.
"""
from __future__ import annotations

import asyncio
import logging
import math
import secrets
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from urllib.parse import urlparse

from sanic import Sanic
from sanic.request import Request
from sanic.response import HTTPResponse

from console.accounts import Account, AccountLocked, LoginFailed, LoginRefused, LoginThrottled
from console.web import (LOGIN_CSRF_COOKIE, SESSION_COOKIE, Services, blocking, form, redirect,
                         render, services, session_of)

logger = logging.getLogger(__name__)
LOGIN_WORKERS = 2
LOGIN_POOL = ThreadPoolExecutor(max_workers=LOGIN_WORKERS, thread_name_prefix="console-login")


def client_address(request: Request) -> str:
    """Who is signing in: the proxied address when Sanic trusts the proxy (FORWARDED_SECRET,
    REAL_IP_HEADER or PROXIES_COUNT set), else the peer of the socket."""
    return request.remote_addr or request.ip


async def check_login(svc: Services, username: str, password: str, client: str) -> Account:
    """``svc.accounts.authenticate`` in ``LOGIN_POOL`` (its time read there, when it runs)."""
    return await asyncio.get_running_loop().run_in_executor(
        LOGIN_POOL, lambda: svc.accounts.authenticate(username, password, svc.clock(),
                                                      client=client))


def _audit_refusal(svc: Services, username: str, reason: str, now: datetime) -> None:
    """Record a refused login of a real account (a password typed as the username is not
    kept); run after the answer, so that it takes no longer for a real account."""
    try:
        known = svc.accounts.by_username(username)
        if known is not None:
            svc.audit.record(known.business_id, known.username, "login_refused", known.username,
                             None, {"reason": reason}, now)
    except Exception:  # noqa: BLE001 - the answer is sent: log, never raise into the pool
        logger.exception("a refused console login could not be audited")


def _safe_next(target: str) -> str:
    """Only a path of this site (never ``//evil.example`` or ``https://…``)."""
    parsed = urlparse(target)
    if (not target.startswith("/") or target.startswith("//") or "\\" in target
            or parsed.scheme or parsed.netloc):
        return "/"
    return target


def _cookie(resp: HTTPResponse, name: str, value: str, request: Request, max_age: int) -> None:
    resp.cookies[name] = value
    morsel = resp.cookies[name]
    morsel["httponly"] = True
    morsel["samesite"] = "Strict" if name == SESSION_COOKIE else "Lax"
    morsel["path"] = "/"
    morsel["max-age"] = max_age
    if services(request).config.secure_cookies:
        morsel["secure"] = True


def login_page(request: Request, status: int = 200, message: str = "",
               username: str = "") -> HTTPResponse:
    """The login form with a fresh double-submit CSRF token."""
    token = secrets.token_urlsafe(24)
    resp = render(request, "login.html", status=status, login_csrf=token, message=message,
                  username=username, next=_safe_next(request.args.get("next") or
                                                     form(request, "next", 300) or "/"))
    _cookie(resp, LOGIN_CSRF_COOKIE, token, request, 3600)
    return resp


def register(app: Sanic) -> None:
    """The routes of this module."""

    @app.get("/login")
    async def show_login(request: Request) -> HTTPResponse:
        if session_of(request) is not None:
            return redirect("/")
        return login_page(request)

    @app.post("/login")
    async def do_login(request: Request) -> HTTPResponse:
        svc = services(request)
        username = form(request, "username", 64).strip().lower()
        password = form(request, "password", 256)
        try:
            account = await check_login(svc, username, password, client_address(request))
        except LoginRefused as refused:
            if username:
                LOGIN_POOL.submit(_audit_refusal, svc, username, type(refused).__name__,
                                  svc.clock())
            resp = login_page(request, 401 if isinstance(refused, LoginFailed) else 429,
                              refused.message, username)
            if isinstance(refused, LoginThrottled):
                resp.headers["retry-after"] = str(refused.retry_after_seconds)
            elif isinstance(refused, AccountLocked):
                wait = (refused.until - svc.clock()).total_seconds()
                resp.headers["retry-after"] = str(max(1, math.ceil(wait)))
            return resp
        # A new session, and the one this browser had (if any) ended: no session fixation.
        presented = request.cookies.get(SESSION_COOKIE)
        token, session = await blocking(svc.sessions.create, account, svc.clock(),
                                        replacing=presented[:200] if presented else None)
        await blocking(svc.audit.record, account.business_id, account.username, "login", "",
                       None, None, svc.clock())
        resp = redirect(_safe_next(form(request, "next", 300) or "/"))
        _cookie(resp, SESSION_COOKIE, token, request, svc.config.absolute_hours * 3600)
        del resp.cookies[LOGIN_CSRF_COOKIE]
        return resp

    @app.post("/logout")
    async def do_logout(request: Request) -> HTTPResponse:
        svc = services(request)
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            await blocking(svc.sessions.end, token[:200])
        resp = redirect("/login")
        del resp.cookies[SESSION_COOKIE]
        return resp
