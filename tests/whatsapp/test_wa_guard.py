"""The request guard of the webhook handlers, on a real Sanic app over real HTTP: size, content
type, JSON, and header / query values read as bytes (never a 5xx)."""
from __future__ import annotations

import asyncio
import socket
import threading
from typing import Iterator, Optional

import pytest
from sanic import Sanic, response

from channels.http_guard import (LARGEST_BODY, Refused, RequestGuard, ascii_digits, one_arg,
                                 one_header, same_secret)
from tools.mongod import free_port

GUARD = RequestGuard(max_bytes=1000)


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    app = Sanic("guard_test")

    @app.post("/hook")
    async def hook(request):
        try:
            body = GUARD.body(request)
            if not same_secret("t0ken", one_header(request, "x-token")):
                raise Refused(401, "bad token")
            value = GUARD.parse(body)
        except Refused as refused:
            return refused.response()
        return response.json({"type": type(value).__name__})

    @app.get("/verify")
    async def verify(request):
        ok = same_secret("t0ken", one_arg(request, "token"))
        return response.text("yes" if ok else "no", status=200 if ok else 403)

    port = free_port()
    loop = asyncio.new_event_loop()
    started = threading.Event()

    async def serve() -> None:
        server = await app.create_server(host="127.0.0.1", port=port, access_log=False,
                                         return_asyncio_server=True)
        await server.startup()
        await server.start_serving()
        started.set()

    threading.Thread(target=loop.run_forever, daemon=True).start()
    asyncio.run_coroutine_threadsafe(serve(), loop).result(30)
    assert started.wait(30)
    yield port
    loop.call_soon_threadsafe(loop.stop)


def call(port: int, method: str, target: bytes, headers: list[tuple[bytes, bytes]],
         body: bytes = b"") -> Optional[int]:
    lines = [method.encode() + b" " + target + b" HTTP/1.1", b"host: x", b"connection: close",
             b"content-length: " + str(len(body)).encode()] + [n + b": " + v for n, v in headers]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return int(answer.split(b" ", 2)[1]) if answer else None


JSON = (b"content-type", b"application/json")


@pytest.mark.parametrize("headers, body, status", [
    ([JSON, (b"x-token", b"t0ken")], b'{"a": 1}', 200),
    ([JSON, (b"x-token", b"t0ken")], b"[1, 2]", 200),
    ([JSON, (b"x-token", "tökén".encode())], b"{}", 401),
    ([JSON, (b"x-token", b"\xff\xfe")], b"{}", 401),
    ([JSON, (b"x-token", b"t0ken"), (b"x-token", b"t0ken")], b"{}", 401),  # repeated
    ([JSON], b"{}", 401),
    ([(b"content-type", b"text/plain"), (b"x-token", b"t0ken")], b"{}", 415),
    ([(b"content-type", "jsön".encode()), (b"x-token", b"t0ken")], b"{}", 415),
    ([JSON, (b"x-token", b"t0ken")], b"{" * 1001, 413),
    ([JSON, (b"x-token", b"t0ken")], b'{"a": ', 400),
    ([JSON, (b"x-token", b"t0ken")], b"\xff\xfe{}", 400),
    ([JSON, (b"x-token", b"t0ken")], b"[" * 900 + b"]" * 90, 400),
])
def test_the_guard_answers_a_precise_4xx(server, headers, body, status):
    assert call(server, "POST", b"/hook", headers, body) == status


@pytest.mark.parametrize("query, status", [
    (b"token=t0ken", 200), (b"token=%C3%A9", 403), (b"token=%FF", 403), (b"token=%ED%B3%BF", 403),
    (b"token=t0ken&token=t0ken", 403), (b"token=x&token=t0ken", 403), (b"", 403),
    (b"token[]=t0ken", 403)])
def test_query_values_are_compared_as_bytes_once(server, query, status):
    assert call(server, "GET", b"/verify?" + query, []) == status


def test_a_deeply_nested_body_is_bad_json_not_a_crash(server):
    assert call(server, "POST", b"/hook", [JSON, (b"x-token", b"t0ken")], b"[" * 999) in (400, 413)


def test_strict_digits():
    assert ascii_digits("0123") and not ascii_digits("²") and not ascii_digits("١")
    assert not ascii_digits("") and not ascii_digits(" 1") and not ascii_digits(["1"])


def test_handler_limits_fit_the_servers_own():
    """Sanic refuses larger bodies before buffering them (tools/run.py); every handler's own
    limit is within it, so a body a handler accepts is never cut off by the server."""
    from channels.whatsapp.channel import FLOWS_GUARD, WEBHOOK_GUARD
    from channels.xendit.channel import GUARD as XENDIT_GUARD
    from tools.run import service_env

    sanic_limit = int(service_env()["SANIC_REQUEST_MAX_SIZE"])
    assert WEBHOOK_GUARD.max_bytes == FLOWS_GUARD.max_bytes == LARGEST_BODY == 3 * 1024 * 1024
    assert XENDIT_GUARD.max_bytes <= LARGEST_BODY <= sanic_limit
