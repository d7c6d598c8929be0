"""One request guard for the webhook handlers (WhatsApp webhook, Flows endpoint, Xendit
callback): body size, content type, JSON parsing, and header / query values read as bytes.

Whatever a client sends, a handler that goes through these answers a deliberate 4xx, never a
5xx: values are compared as bytes (``hmac.compare_digest`` on ``str`` raises ``TypeError`` for
non-ASCII text), repeated headers and query parameters count as absent, and JSON that cannot be
read is refused with the handler's own status.

Sizes: ``LARGEST_BODY`` (3 MiB, Meta's webhook limit) is the most any handler accepts; the Rasa
server's ``SANIC_REQUEST_MAX_SIZE`` should be set to it, so Sanic refuses anything larger
before buffering it, and each handler refuses more than its own ``max_bytes`` (≤ that).
"""
from __future__ import annotations

import hmac
import json
import re
from dataclasses import dataclass
from typing import Any, Optional

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

LARGEST_BODY = 3 * 1024 * 1024
_ASCII_DIGITS = re.compile(r"[0-9]+")


class Refused(Exception):
    """A request the handler answers with a 4xx and does nothing else for."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(f"{status}: {error}")
        self.status = status
        self.error = error

    def response(self) -> HTTPResponse:
        """The JSON answer for this refusal."""
        return response.json({"error": self.error}, status=self.status)


@dataclass(frozen=True)
class RequestGuard:
    """Size limit, content type and JSON parsing of one handler's requests."""

    max_bytes: int = LARGEST_BODY
    json_only: bool = True  # refuse other content types with 415
    bad_json_status: int = 400  # the Flows endpoint answers 421 instead

    def body(self, request: Request) -> bytes:
        """The raw body, after the size and content-type checks; raises ``Refused``."""
        body = request.body or b""
        if len(body) > self.max_bytes:
            raise Refused(413, f"body over {self.max_bytes} bytes")
        if self.json_only and b"json" not in (one_header(request, "content-type") or b"").lower():
            raise Refused(415, "expected application/json")
        return body

    def parse(self, body: bytes) -> Any:
        """The JSON value of a body; raises ``Refused`` for anything unreadable."""
        try:
            return json.loads(body)
        except (ValueError, RecursionError):  # JSON, UTF-8 and int-size errors, deep nesting
            raise Refused(self.bad_json_status, "malformed JSON") from None


def _as_bytes(value: str) -> bytes:
    """A header or query value as bytes (any ``str``, lone surrogates included)."""
    return value.encode("utf-8", "surrogatepass")


def one_header(request: Request, name: str) -> Optional[bytes]:
    """The value of a header sent exactly once, as bytes; None when absent or repeated."""
    values = request.headers.getall(name, [])
    return _as_bytes(values[0]) if len(values) == 1 and isinstance(values[0], str) else None


def one_arg(request: Request, name: str) -> Optional[bytes]:
    """The value of a query parameter sent exactly once, as bytes; None otherwise."""
    try:
        values = request.args.getlist(name) or []
    except (ValueError, UnicodeError):  # an unreadable query string
        return None
    return _as_bytes(values[0]) if len(values) == 1 and isinstance(values[0], str) else None


def same_secret(expected: str, given: Optional[bytes]) -> bool:
    """Whether ``given`` is the configured secret, compared in constant time as bytes. No
    secret configured accepts nothing."""
    return bool(expected) and given is not None and hmac.compare_digest(
        given, expected.encode("utf-8"))


def ascii_digits(text: Any, max_len: int = 19) -> bool:
    """Whether ``text`` is a string of ASCII digits only (``"²"`` and ``"١"`` are not)."""
    return isinstance(text, str) and len(text) <= max_len and bool(_ASCII_DIGITS.fullmatch(text))
