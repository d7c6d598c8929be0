"""Reading what the sandbox is sent, strictly: JSON as the standard has it (UTF-8, no NaN or
Infinity, bounded nesting), media types as ``type/subtype`` only. Whatever does not read is a
``ValueError``, which each route turns into its own 4xx."""
from __future__ import annotations

import json
import math
import re
from typing import Any

from aiohttp import web

MEDIA_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&.+^_-]{0,62}/[A-Za-z0-9][A-Za-z0-9!#$&.+^_-]{0,62}")
CUSTOMER_IMAGES = {"image/jpeg", "image/png", "image/webp"}  # what WhatsApp sends as images
# What the Cloud API takes as media (Meta's "supported media types")
META_MEDIA = CUSTOMER_IMAGES | {
    "audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg", "video/mp4", "video/3gpp",
    "text/plain", "application/pdf", "application/msword", "application/vnd.ms-excel",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation"}
SHOWN_INLINE = CUSTOMER_IMAGES | {"application/pdf"}  # the rest downloads, never renders here


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} is too large for JSON")
    return value


def parse_json(raw: bytes) -> Any:
    """The JSON value of ``raw`` (UTF-8 whatever the header says); ValueError otherwise."""
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_no_constants,
                          parse_float=_finite)
    except (UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(str(exc)[:100]) from None


def dump_json(value: Any) -> bytes:
    """``value`` as strict JSON bytes (ValueError for NaN or Infinity anywhere)."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False).encode()


def media_type(raw: str, default: str = "application/octet-stream") -> str:
    """``type/subtype`` of a declared media type, parameters dropped; ``default`` when it is
    not one (a newline, a charset-only value...)."""
    head = raw.split(";", 1)[0].strip().lower()
    return head if MEDIA_TYPE.fullmatch(head) else default


class BadRequest(web.HTTPBadRequest):
    """A 400 with a JSON reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(text=json.dumps({"error": reason}), content_type="application/json")


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object (400 otherwise)."""
    try:
        body = parse_json(await request.read())
    except ValueError:
        raise BadRequest("the body is not JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("the body is not a JSON object")
    return body
