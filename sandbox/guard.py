"""What every request to the sandbox must show before a route sees it.

The sandbox listens on loopback, but the developer's own browser can be made to call it by
any web page they visit. So:

- the ``Host`` must be the sandbox's own address (``127.0.0.1:<port>`` or ``localhost:<port>``):
  a DNS-rebinding page arrives under its own name and gets 403;
- a request that changes something and carries no ``Authorization`` (the phone page's API,
  the checkout's pay and expire, the dashboard's resend) must come from the sandbox's own
  pages: a browser's ``Origin`` or ``Sec-Fetch-Site`` saying otherwise gets 403. Programs that
  send neither (curl, tests) are the person at the laptop and pass;
- every answer says ``nosniff`` and may not be framed (no clickjacking of the Pay button).
"""
from __future__ import annotations

from typing import Awaitable, Callable

from aiohttp import web

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
SAME_SITE = {"same-origin", "none"}  # Sec-Fetch-Site of the sandbox's own pages, or typed URLs
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def guard(port: int) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """The middleware for a sandbox serving on ``port``."""
    hosts = {f"127.0.0.1:{port}", f"localhost:{port}"}
    origins = {f"http://{host}" for host in hosts}

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.headers.get("host", "").lower() not in hosts:
            return refused("this sandbox answers only at its own address")
        if request.method not in SAFE_METHODS and "authorization" not in request.headers:
            origin = request.headers.get("origin")
            fetch_site = request.headers.get("sec-fetch-site")
            if (origin is not None and origin not in origins) or \
                    (fetch_site is not None and fetch_site not in SAME_SITE):
                return refused("only the sandbox's own pages may do this")
        response = await handler(request)
        if not response.prepared:  # a server-sent event stream has sent its headers
            response.headers.setdefault("X-Content-Type-Options", "nosniff")
            response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    return middleware


def refused(reason: str) -> web.Response:
    """A 403 with the reason."""
    return web.json_response({"error": reason}, status=403)
