"""The Graph API stand-in: ``POST /{version}/{phone_number_id}/messages`` (messages, read
receipts with the typing indicator), ``POST /{version}/{phone_number_id}/media`` and
``GET /{version}/{media_id}``. It answers like the Cloud API, refuses what Meta refuses (a
payload over a limit becomes a red bubble on the phone naming the rule), and shows what it
accepts on the phone, then reports sent and delivered statuses back as webhooks.

Trust: a call must carry ``Authorization: Bearer <WHATSAPP_ACCESS_TOKEN>`` (compared in
constant time) and name a registered business number, as with Meta."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
import time
from pathlib import Path
from typing import Any, Optional

from aiohttp import BodyPartReader, web

from sandbox import limits
from sandbox.bodies import META_MEDIA, media_type, parse_json
from sandbox.config import Business, SandboxConfig
from sandbox.media import Media
from sandbox.store import Chats
from sandbox.webhooks import Webhooks, new_wamid

logger = logging.getLogger(__name__)
VERSION = r"{version:v[0-9]+\.[0-9]+}"
OUTSIDE_WINDOW = 131047
REJECTED_KEPT = 64 * 1024  # bytes of a refused body the phone keeps to show
TYPING_SECONDS = 25.0  # Meta dismisses the indicator after 25 s or with the next message
MEDIA_MAX = 8 * 1024 * 1024  # the sandbox's body limit (Meta: 100 MB documents)
TEMPLATES = Path(__file__).with_name("templates.json")


def graph_error(status: int, code: int, title: str, details: str = "") -> web.Response:
    """An error answered the way Graph does (``{"error": {...}}``)."""
    error: dict[str, Any] = {"message": f"({'#'}{code}) {title}", "type": "OAuthException",
                             "code": code, "fbtrace_id": secrets.token_urlsafe(9)}
    if details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    return web.json_response({"error": error}, status=status)


class GraphStandIn:
    """The routes Meta serves to the product."""

    def __init__(self, config: SandboxConfig, chats: Chats, webhooks: Webhooks, media: Media,
                 templates: dict[str, Any]) -> None:
        self.config = config
        self.chats = chats
        self.webhooks = webhooks
        self.media = media
        self.templates = templates  # the approved templates (sandbox/templates.json)
        self._typing: dict[tuple[str, str], asyncio.TimerHandle] = {}

    def setup(self, app: web.Application) -> None:
        """Add the Graph routes to ``app``."""
        app.router.add_post(f"/{VERSION}/{{phone_number_id}}/messages", self.messages)
        app.router.add_post(f"/{VERSION}/{{phone_number_id}}/media", self.upload)
        app.router.add_get(f"/{VERSION}/{{media_id:[0-9]+}}", self.media_url)

    # ------------------------------------------------------------------ checks
    def _authorised(self, request: web.Request) -> bool:
        given = request.headers.get("authorization", "")
        expected = f"Bearer {self.config.access_token}"
        return bool(self.config.access_token) and hmac.compare_digest(given.encode(),
                                                                      expected.encode())

    def _business(self, request: web.Request) -> Optional[Business]:
        return self.config.business(request.match_info.get("phone_number_id", ""))

    # ------------------------------------------------------------------ routes
    async def messages(self, request: web.Request) -> web.Response:
        """Send a message, or mark a customer's message read (with the typing indicator)."""
        if not self._authorised(request):
            return graph_error(401, 190, "Invalid OAuth access token")
        business = self._business(request)
        if business is None:
            return graph_error(400, 100, "Unsupported post request: no such phone number")
        try:
            body = parse_json(await request.read())
        except ValueError:
            return graph_error(400, 100, "Invalid parameter", "the body is not JSON")
        if limits.is_read_receipt(body):
            return self._read_receipt(business, body)
        to = recipient(body.get("to") if isinstance(body, dict) else None)
        if isinstance(body, dict) and "to" in body and to is None:
            return graph_error(400, 100, "Invalid parameter", "to: not a WhatsApp number")
        broken = limits.violations(body, self.templates)
        key = (business.phone_number_id, to or "")
        if broken:
            first = broken[0]
            logger.info("refused a %s message: %s", _kind(body), first.rule)
            if key[1]:
                self.chats.add(key, {"id": new_wamid(), "direction": "out", "status": "rejected",
                                     "message": kept_body(body), "errors": [
                                         {"code": v.code, "title": v.title, "rule": v.rule}
                                         for v in broken]})
            return graph_error(404 if first.code == 132001 else 400, first.code, first.title,
                               "; ".join(v.rule for v in broken))
        wamid = new_wamid()
        self._stop_typing(key)
        self.chats.add(key, {"id": wamid, "direction": "out", "status": "accepted",
                             "message": body})
        if body.get("type") != "template" and not self._within_window(key):
            self.webhooks.later(self._outside_window(business, key[1], wamid))
        else:
            self.webhooks.later(self._delivered(business, key[1], wamid))
        return web.json_response({"messaging_product": "whatsapp",
                                  "contacts": [{"input": body["to"], "wa_id": key[1]}],
                                  "messages": [{"id": wamid}]})

    async def _delivered(self, business: Business, customer: str, wamid: str) -> None:
        for status in ("sent", "delivered"):
            await self.webhooks.status(business, customer, wamid, status)
        if (self.chats.find(wamid) or ({}, {}))[1].get("status") == "accepted":
            self.chats.update(wamid, status="delivered")

    def _within_window(self, key: tuple[str, str]) -> bool:
        """Whether the customer wrote within the customer-service window."""
        if self.config.window_hours <= 0:
            return True
        last = max((m["at"] for m in self.chats.history(key) if m["direction"] == "in"),
                   default=None)
        return last is not None and time.time() - last < self.config.window_hours * 3600

    async def _outside_window(self, business: Business, customer: str, wamid: str) -> None:
        """Accepted, then refused as Meta does: a ``failed`` status with 131047."""
        error = {"code": OUTSIDE_WINDOW, "title": "Re-engagement message",
                 "message": "Re-engagement message", "error_data": {"details": (
                     "Message failed to send because more than 24 hours have passed since "
                     "the customer last replied to this number.")}}
        self.chats.update(wamid, status="failed", errors=[{
            "code": OUTSIDE_WINDOW, "title": "Re-engagement message",
            "rule": "more than 24 hours since the customer last wrote: only a template "
                    "may be sent"}])
        await self.webhooks.status(business, customer, wamid, "failed", [error])

    def _read_receipt(self, business: Business, body: dict[str, Any]) -> web.Response:
        found = self.chats.find(str(body.get("message_id")))
        if found is None or found[0][0] != business.phone_number_id or \
                found[1]["direction"] != "in":
            return graph_error(400, 100, "Invalid parameter", "message_id: no such message")
        key, message = found
        if message.get("status") != "read":
            self.chats.update(message["id"], status="read")
        if isinstance(body.get("typing_indicator"), dict):
            self._start_typing(key)
        return web.json_response({"success": True})

    def _start_typing(self, key: tuple[str, str]) -> None:
        self._stop_typing(key, tell=False)
        self.chats.signal(key, "typing", {"on": True})
        loop = asyncio.get_running_loop()
        self._typing[key] = loop.call_later(TYPING_SECONDS, self._stop_typing, key)

    def _stop_typing(self, key: tuple[str, str], tell: bool = True) -> None:
        handle = self._typing.pop(key, None)
        if handle is not None:
            handle.cancel()
            if tell:
                self.chats.signal(key, "typing", {"on": False})

    async def upload(self, request: web.Request) -> web.Response:
        """``POST /media`` (multipart: ``file``, ``type``, ``messaging_product``)."""
        if not self._authorised(request):
            return graph_error(401, 190, "Invalid OAuth access token")
        if self._business(request) is None:
            return graph_error(400, 100, "Unsupported post request: no such phone number")
        if not request.content_type.startswith("multipart/"):
            return graph_error(400, 100, "Invalid parameter", "expected multipart/form-data")
        data, mime_type = b"", ""
        try:
            async for part in (await request.multipart()):
                if not isinstance(part, BodyPartReader):
                    raise ValueError("nested multipart")
                if part.name == "file":
                    data = await part.read(decode=False)
                    mime_type = mime_type or part.headers.get("content-type", "")
                elif part.name == "type":
                    mime_type = (await part.read(decode=False)).decode("utf-8").strip()
        except (ValueError, UnicodeDecodeError, AssertionError) as exc:
            return graph_error(400, 100, "Invalid parameter", f"multipart: {str(exc)[:80]}")
        if not data or len(data) > MEDIA_MAX:
            return graph_error(400, 131053, "Media upload error", "file: missing or too large")
        if media_type(mime_type) not in META_MEDIA:
            return graph_error(400, 131053, "Media upload error",
                               f"type: {media_type(mime_type)} is not a supported media type")
        return web.json_response({"id": await self.media.save(data, mime_type or
                                                             "application/octet-stream")})

    async def media_url(self, request: web.Request) -> web.Response:
        """``GET /{media_id}``: where to download a medium."""
        if not self._authorised(request):
            return graph_error(401, 190, "Invalid OAuth access token")
        media_id = request.match_info["media_id"]
        found = await self.media.read(media_id)
        if found is None:
            return graph_error(400, 100, "Invalid parameter", "no such media")
        data, mime_type = found
        return web.json_response({
            "messaging_product": "whatsapp", "id": media_id, "mime_type": mime_type,
            "sha256": hashlib.sha256(data).hexdigest(), "file_size": len(data),
            "url": f"{self.config.public_url}/media/{media_id}"})


def _kind(body: Any) -> str:
    return str(body.get("type"))[:20] if isinstance(body, dict) else "non-object"


def recipient(to: Any) -> Optional[str]:
    """The WhatsApp id a ``to`` names (Meta takes ``+62 812-…`` and answers ``62812…``), or
    None when it is not a phone number."""
    if not isinstance(to, str):
        return None
    digits = to.strip().lstrip("+").replace(" ", "").replace("-", "")
    return digits if digits.isascii() and digits.isdigit() and 6 <= len(digits) <= 20 else None


def kept_body(body: Any) -> Any:
    """What the phone keeps of a refused body: all of it, unless it is huge."""
    size = len(json.dumps(body, default=str))
    if size <= REJECTED_KEPT:
        return body
    kind = body.get("type") if isinstance(body, dict) else None
    return {"type": kind if isinstance(kind, str) else "unknown",
            "note": f"{size} bytes, too large to keep"}
