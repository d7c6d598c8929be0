"""The customer's side: the API behind the phone page. What a customer sends becomes a signed
webhook POST to the product, exactly as Meta would send it; what the bot sends arrives through
the Graph stand-in and is pushed to the page as server-sent events.

Trust: this API is the phone itself, for whoever sits at the laptop (the sandbox listens on
loopback only, and sandbox/guard.py keeps other web pages out). Anyone using it may be any
customer; that is its purpose. It reaches the product only through the signed webhook, with
what a WhatsApp client could send: taps are built from the bot's own messages
(sandbox/customer.py), and a Flow completes only through the Flow's endpoint.

    GET  /api/config                          businesses (numbers) and message templates
    GET  /api/chats/{business}/{customer}     the chat's messages, oldest first
    GET  /api/chats/{business}/{customer}/events   server-sent events: message, typing
    POST /api/chats/{business}/{customer}/send     {"name", "message"}: the customer sends
    POST /api/chats/{business}/{customer}/read     {"ids"}: the customer saw the bot's messages
    POST /api/chats/{business}/{customer}/age      {"hours"}: pretend that much time passed
    GET  /media/{id}                          an uploaded medium
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import logging
import time
from typing import Any, Optional

from aiohttp import web

from sandbox import customer as customer_side
from sandbox.bodies import (CUSTOMER_IMAGES, SHOWN_INLINE, BadRequest, dump_json, json_body,
                            media_type)
from sandbox.config import Business, SandboxConfig
from sandbox.media import Media
from sandbox.store import Chats, Key
from sandbox.webhooks import Webhooks, new_wamid

logger = logging.getLogger(__name__)
IMAGE_MAX = 5 * 1024 * 1024  # WhatsApp's limit for images
HEARTBEAT_SECONDS = 15.0


class Phone:
    """The page's API over the chats, the webhook sender and the media store."""

    def __init__(self, config: SandboxConfig, chats: Chats, webhooks: Webhooks, media: Media,
                 templates: dict[str, Any]) -> None:
        self.config = config
        self.chats = chats
        self.webhooks = webhooks
        self.media = media
        self.templates = templates

    def setup(self, app: web.Application) -> None:
        """Add the page API routes to ``app``."""
        chat = "/api/chats/{business:[0-9]+}/{customer}"
        app.router.add_get("/api/config", self.config_view)
        app.router.add_get(chat, self.history)
        app.router.add_get(chat + "/events", self.events)
        app.router.add_post(chat + "/send", self.send)
        app.router.add_post(chat + "/read", self.read)
        app.router.add_post(chat + "/age", self.age)
        app.router.add_get("/media/{media_id:[0-9]+}", self.download)

    # ------------------------------------------------------------------ helpers
    def chat_of(self, request: web.Request) -> tuple[Business, str]:
        """The business and customer a chat route names (404 / 400 when invalid)."""
        business = self.config.business(request.match_info["business"])
        if business is None:
            raise web.HTTPNotFound(text='{"error": "no such business number"}',
                                   content_type="application/json")
        customer = request.match_info["customer"]
        if not (customer.isascii() and customer.isdigit() and 8 <= len(customer) <= 15):
            raise BadRequest("a customer number is 8 to 15 digits")
        return business, customer

    # ------------------------------------------------------------------ routes
    async def config_view(self, request: web.Request) -> web.Response:
        """The registered business numbers and the approved templates."""
        return web.json_response({
            "businesses": [{"phone_number_id": b.phone_number_id, "name": b.name,
                            "display_phone_number": b.display_phone_number}
                           for b in self.config.businesses],
            "templates": self.templates, "flow_id": self.config.flow_id})

    async def history(self, request: web.Request) -> web.Response:
        """The chat's messages, oldest first."""
        business, customer = self.chat_of(request)
        return web.json_response({"messages": self.chats.history(
            (business.phone_number_id, customer))})

    async def events(self, request: web.Request) -> web.StreamResponse:
        """Server-sent events for one chat until the page goes away."""
        business, customer = self.chat_of(request)
        key: Key = (business.phone_number_id, customer)
        response = web.StreamResponse(headers={"content-type": "text/event-stream",
                                               "cache-control": "no-cache"})
        await response.prepare(request)
        queue = self.chats.listen(key)
        try:
            await response.write(b": connected\n\n")
            while True:
                try:
                    event, data = await asyncio.wait_for(queue.get(), HEARTBEAT_SECONDS)
                except asyncio.TimeoutError:
                    await response.write(b": heartbeat\n\n")
                    continue
                if event == "close":
                    break
                line = json.dumps(data, separators=(",", ":"))
                await response.write(f"event: {event}\ndata: {line}\n\n".encode())
        except ConnectionResetError:
            pass
        finally:
            self.chats.unlisten(key, queue)
        return response

    async def send(self, request: web.Request) -> web.Response:
        """The customer sends a message: kept, shown, then posted to the product."""
        business, customer = self.chat_of(request)
        body = await json_body(request)
        name = body.get("name") if isinstance(body.get("name"), str) else ""
        message = await self.inbound(business, customer, body.get("message"))
        return web.json_response(self.deliver_new(business, customer, name, message))

    def deliver_new(self, business: Business, customer: str, name: str,
                    message: dict[str, Any]) -> dict[str, Any]:
        """Keep and show a customer's message, then post it to the product; its record."""
        record = self.chats.add((business.phone_number_id, customer), {
            "id": message["id"], "direction": "in", "status": "sending",
            "name": name[:256], "message": dict(message)})
        message["from"] = customer
        self.webhooks.later(self._post(business, customer, name[:256] or customer, message))
        return record

    async def _post(self, business: Business, customer: str, name: str,
                    message: dict[str, Any]) -> None:
        status, error = await self.webhooks.customer_message(business, customer, name, message)
        found = self.chats.find(message["id"])
        if found is None:
            return
        if status == 200:
            if found[1].get("status") == "sending":  # not already read by the bot
                self.chats.update(message["id"], status="delivered")
        else:
            self.chats.update(message["id"], status="failed",
                              error=f"the bot answered {status or 'nothing'} {error}".strip())

    async def inbound(self, business: Business, customer: str, raw: Any) -> dict[str, Any]:
        """The webhook message object for what the page sent (400 when a customer could not
        have sent it: sandbox/customer.py)."""
        def find(message_id: str) -> Optional[dict[str, Any]]:
            found = self.chats.find(message_id)
            return found[1] if found and found[0] == (business.phone_number_id, customer) \
                else None

        try:
            kind, content, quoted = customer_side.content(raw, find, self.templates)
        except customer_side.Refused as exc:
            raise BadRequest(str(exc)) from None
        if kind == "image":
            content = await self._image(content)
        return self.stamp(business, kind, content, quoted)

    def stamp(self, business: Business, kind: str, content: dict[str, Any],
              quoted: Optional[str] = None) -> dict[str, Any]:
        """A message object as Meta posts it: a new wamid, the time, the quoted message."""
        message: dict[str, Any] = {"id": new_wamid(), "timestamp": str(int(time.time())),
                                   "type": kind, kind: content}
        if quoted:
            message["context"] = {"from": business.display_phone_number.lstrip("+")
                                  .replace(" ", "").replace("-", ""), "id": quoted}
        try:
            dump_json(message)  # what Meta posts is strict JSON: no NaN, no Infinity
        except ValueError:
            raise BadRequest("the message holds a number JSON cannot carry") from None
        return message

    async def _image(self, content: dict[str, Any]) -> dict[str, Any]:
        data_url = content.get("data_url")
        if not isinstance(data_url, str) or not data_url.startswith("data:image/") or \
                ";base64," not in data_url:
            raise BadRequest("message.image.data_url must be a base64 data: URL of an image")
        head, encoded = data_url.split(",", 1)
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest("message.image.data_url is not valid base64") from None
        if not data or len(data) > IMAGE_MAX:
            raise BadRequest("an image is at most 5 MB")
        mime_type = media_type(head[5:])
        if mime_type not in CUSTOMER_IMAGES:
            raise BadRequest(f"an image is one of {sorted(CUSTOMER_IMAGES)}")
        image = {"id": await self.media.save(data, mime_type), "mime_type": mime_type,
                 "sha256": hashlib.sha256(data).hexdigest()}
        if isinstance(content.get("caption"), str) and content["caption"]:
            image["caption"] = content["caption"][:1024]
        return image

    async def read(self, request: web.Request) -> web.Response:
        """The customer saw these bot messages: each gets a ``read`` status webhook."""
        business, customer = self.chat_of(request)
        body = await json_body(request)
        ids = body.get("ids")
        if not isinstance(ids, list):
            raise BadRequest("ids must be a list")
        for message_id in ids[:100]:
            found = self.chats.find(str(message_id))
            if found is None or found[0] != (business.phone_number_id, customer):
                continue
            message = found[1]
            if message["direction"] == "out" and message["status"] in ("accepted", "delivered"):
                self.chats.update(message["id"], status="read")
                self.webhooks.later(self.webhooks.status(business, customer, message["id"],
                                                         "read"))
        return web.Response(status=204)

    async def age(self, request: web.Request) -> web.Response:
        """Pretend ``hours`` passed in this chat (to see what the 24-hour window does)."""
        business, customer = self.chat_of(request)
        hours = (await json_body(request)).get("hours")
        if isinstance(hours, bool) or not isinstance(hours, (int, float)) or \
                not 0 < hours <= 24 * 30:
            raise BadRequest("hours must be a number from 0 to 720")
        for message in self.chats.history((business.phone_number_id, customer)):
            self.chats.update(message["id"], at=message["at"] - hours * 3600)
        return web.Response(status=204)

    async def download(self, request: web.Request) -> web.Response:
        """An uploaded medium's bytes."""
        found = await self.media.read(request.match_info["media_id"])
        if found is None:
            raise web.HTTPNotFound()
        data, mime_type = found
        headers = {"Content-Security-Policy": "sandbox", "Cache-Control": "private"}
        if mime_type not in SHOWN_INLINE:
            headers["Content-Disposition"] = "attachment"
        return web.Response(body=data, content_type=mime_type, headers=headers)
