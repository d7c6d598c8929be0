"""The Rasa input channel for the WhatsApp Cloud API: the routes.

POST /webhooks/whatsapp/webhook: request guard → signature → record every message in the inbox
→ 200 (503 when the database cannot take it, so Meta retries), then each customer's messages
are processed in order in the background (``worker.py``). A message to a number that is no
business of the catalog is kept as refused and never run. GET: verification. POST /flows: the
Flows data endpoint. Settings in ``config.py``, sending in ``output.py``.
"""
from __future__ import annotations

import channels.rasa_patches  # noqa: F401  (Rasa fixes, see the module)
import asyncio
import hashlib
import hmac
import logging
import os
import socket
import time
import uuid
from datetime import timedelta
from typing import Any, Awaitable, Callable, Dict, Optional, Text, Union

from pymongo.errors import PyMongoError
from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from booking import metrics
from booking.conversations import Conversations
from booking.customer_prefs import CustomerLanguages
from booking.errors import BookingError, UnknownEntityError
from booking.flow_tokens import FlowTokenError, FlowTokens
from booking.i18n import LANGUAGES, SOURCE, catalog, texts
from booking.logsafe import mask_phone
from channels.http_guard import LARGEST_BODY, Refused, RequestGuard, one_arg, one_header, same_secret
from channels.whatsapp.config import WhatsAppConfig
from channels.whatsapp.errors import OUTSIDE_WINDOW
from channels.whatsapp.flows import BookingFlow
from channels.whatsapp.flows_crypto import decrypt_request, encrypt_response, load_private_key
from channels.whatsapp.graph import GraphClient, GraphConfig
from channels.whatsapp.inbox import RECEIVED, Inbox
from channels.whatsapp.output import WhatsAppOutput
from channels.whatsapp.parse import Echo, PayloadError, Webhook, parse_webhook
from channels.whatsapp.worker import (UNSUPPORTED_REPLY, CustomerWorkers, flow_completion_text,
                                      outage)

__all__ = ["WhatsAppConfig", "WhatsAppInput", "WhatsAppOutput", "signature_ok",
           "flow_completion_text", "outage", "UNSUPPORTED_REPLY"]
logger = logging.getLogger(__name__)

MAX_BODY = LARGEST_BODY  # Meta's webhook bodies are up to 3 MB
WEBHOOK_GUARD = RequestGuard(MAX_BODY)
FLOWS_GUARD = RequestGuard(MAX_BODY, json_only=False, bad_json_status=421)
OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


def signature_ok(secret: str, body: bytes, header: Union[bytes, str, None]) -> bool:
    """Whether ``X-Hub-Signature-256`` is HMAC-SHA256(secret, raw body), compared in constant
    time as bytes (any header value, non-ASCII included, is just wrong). No secret accepts
    nothing."""
    if isinstance(header, str):
        header = header.encode("utf-8", "surrogatepass")
    if not secret or not header or not header.startswith(b"sha256="):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest().encode()
    return hmac.compare_digest(expected, header[len(b"sha256="):].strip().lower())


REFUSAL_LOOKUPS, REFUSAL_LOOKUP_SECONDS = 10, 0.2  # a refused message's own template: 2 s

class WhatsAppInput(InputChannel):
    """Receives Cloud API webhooks; durable, ordered per customer, de-duplicated."""

    @classmethod
    def name(cls) -> Text:
        """The channel's name (its routes are under ``/webhooks/whatsapp/``)."""
        return "whatsapp"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        """Settings come from the environment, not ``credentials.yml``."""
        return cls(WhatsAppConfig.from_env())

    def __init__(self, config: WhatsAppConfig) -> None:
        self.config = config
        self.graph = GraphClient(GraphConfig.from_env())
        self._inbox: Optional[Inbox] = None
        self._flows_key: Any = None
        self._sweeper: Optional[asyncio.Task] = None
        self._watcher: Optional[asyncio.Task] = None  # the console's queued items
        owner = f"{socket.gethostname()}:{uuid.uuid4().hex[:8]}"  # (the worker adds its pid)
        self.workers = CustomerWorkers(lambda: self.inbox, self.output_for, self.graph,
                                       config, owner, self.name())

    # ------------------------------------------------------------------ wiring
    @property
    def inbox(self) -> Inbox:
        """The inbox; built on first use (connects to MongoDB: call it from a worker thread).

        Its own client gives up on an unreachable database after ``db_timeout_ms`` and records
        a message in one attempt, so the webhook answers 503 in seconds and Meta retries.
        """
        if self._inbox is None:
            from booking.db import connect
            from booking.settings import Settings

            settings = Settings.from_env()
            inbox = Inbox(connect(settings.mongodb_url, settings.mongodb_db,
                                  serverSelectionTimeoutMS=self.config.db_timeout_ms),
                          record_attempts=1,
                          flood=(self.config.flood_messages,
                                 timedelta(seconds=self.config.flood_seconds)),
                          retention=timedelta(days=self.config.retention_days))
            inbox.ensure_indexes()
            Conversations(inbox.db).ensure_indexes()
            FlowTokens(inbox.db).ensure_indexes()
            self._inbox = inbox
        return self._inbox

    def output_for(self, phone_number_id: Optional[str]) -> WhatsAppOutput:
        """The output channel speaking from a business number."""
        return WhatsAppOutput(self.graph, self.inbox, self.config,
                              phone_number_id or self.config.phone_number_id,
                              self.customer_language)

    def customer_language(self, phone_number_id: str, customer: str) -> str:
        """Blocking: the language kept for a customer at the business of a number, else that
        business's default language (English for a number of no business)."""
        from booking.runtime import booking_service

        try:
            business = booking_service().catalog.business_by_phone_number_id(phone_number_id)
        except UnknownEntityError:
            return SOURCE
        return CustomerLanguages(self.inbox.db).language_of(business.id, customer,
                                                            business.language)

    def get_output_channel(self) -> Optional[OutputChannel]:
        """For messages pushed later (``output_channel=latest``): the default number."""
        return self.output_for(None)

    def get_metadata(self, request: Request) -> Optional[Dict[Text, Any]]:
        """None: metadata is built per message from the stored webhook."""
        return None

    @staticmethod
    def business_of(phone_number_id: str) -> Optional[str]:
        """The catalog's business for a WhatsApp number; None when it is no business's."""
        from booking.runtime import booking_service

        try:
            return booking_service().catalog.business_by_phone_number_id(phone_number_id).id
        except UnknownEntityError:
            return None

    # ------------------------------------------------------------------ routes
    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        """Health, verification, webhook and Flows routes, and the background sweep."""
        bp = Blueprint("whatsapp_webhook", __name__)
        metrics.register_collector("whatsapp_inbox", metrics.Backlog(lambda: self.inbox.backlog()))

        @bp.listener("after_server_start")
        async def recover(app: Any, loop: Any) -> None:
            self.workers.agent_of = lambda: getattr(app.ctx, "agent", None)
            # The message catalogs are read from disk once: here, not in a turn's first reply
            await asyncio.to_thread(lambda: [catalog(lang) for lang in LANGUAGES])
            self._sweeper = asyncio.create_task(self.workers.sweep(on_new_message))
            self._watcher = asyncio.create_task(self.workers.watch_items(on_new_message))

        @bp.listener("before_server_stop")
        async def close(app: Any, loop: Any) -> None:
            for task in (self._sweeper, self._watcher):
                if task is not None:
                    task.cancel()
            await self.workers.stop()  # (its turns still send: Graph closes after)
            await self.graph.close()

        @bp.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @bp.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            return self.verify(request)

        @bp.route("/webhook", methods=["POST"])
        async def webhook(request: Request) -> HTTPResponse:
            started = time.perf_counter()
            answer = await self.receive(request, on_new_message)
            metrics.WEBHOOK_ACK.observe(time.perf_counter() - started)
            if answer.status >= 400:
                metrics.WEBHOOK_REFUSALS.labels("whatsapp", str(answer.status)).inc()
            return answer

        @bp.route("/flows", methods=["POST"])
        async def flows(request: Request) -> HTTPResponse:
            started = time.perf_counter()
            answer = await self.flow_endpoint(request)
            metrics.FLOWS_REQUEST.labels(str(answer.status)).observe(time.perf_counter() - started)
            return answer

        return bp

    def verify(self, request: Request) -> HTTPResponse:
        """Meta's GET handshake: the challenge back when the token matches, else 403."""
        if (one_arg(request, "hub.mode") == b"subscribe"
                and same_secret(self.config.verify_token, one_arg(request, "hub.verify_token"))):
            challenge = one_arg(request, "hub.challenge") or b""
            return response.text(challenge.decode("utf-8", "replace"))
        return response.text("verification failed", status=403)

    async def receive(self, request: Request, on_new_message: OnNewMessage) -> HTTPResponse:
        """Check, record, acknowledge; processing happens after the answer."""
        try:
            body = WEBHOOK_GUARD.body(request)
            if not signature_ok(self.config.app_secret, body,
                                one_header(request, "x-hub-signature-256")):
                raise Refused(401, "missing or invalid X-Hub-Signature-256")
            webhook = parse_webhook(WEBHOOK_GUARD.parse(body))
        except Refused as refused:
            return refused.response()
        except PayloadError as exc:
            return response.json({"error": str(exc)}, status=400)
        try:
            fresh, undelivered = await asyncio.to_thread(self._record, webhook)
        except (PyMongoError, BookingError) as exc:
            logger.error("cannot record webhook, asking Meta to retry: %s", exc)
            return response.json({"error": "temporarily unavailable"}, status=503)
        for sender in dict.fromkeys(fresh):
            self.workers.kick(sender, on_new_message)
        for status in undelivered:  # refused later as outside the 24-hour window
            asyncio.create_task(self._template_after_refusal(status))
        return response.json({"status": "ok"})

    def _record(self, webhook: Webhook) -> tuple[list[str], list[Any]]:
        """Store messages, echoes and statuses; the customers with something to run and the
        statuses to answer."""
        fresh = [echo.customer for echo in webhook.echoes if self._record_echo(echo)]
        for message in webhook.messages:
            business_id = self.business_of(message.phone_number_id)
            status = self.inbox.record(message, business_id)
            if status == RECEIVED:
                fresh.append(message.sender)
            elif status is not None and business_id is None:
                logger.warning("refused WhatsApp message %s from %s to %s: no business has "
                               "that number", message.message_id, mask_phone(message.sender),
                               message.phone_number_id)
        undelivered = [s for s in webhook.statuses if self.inbox.record_status(s)
                       and s.status == "failed" and s.error_code == OUTSIDE_WINDOW
                       and self.business_of(s.phone_number_id) is not None]
        return fresh, undelivered

    async def _template_after_refusal(self, status: Any) -> None:
        """A message Meta took and then refused (131047): its own template (a reminder's), else
        the configured one. The refusal can arrive before this server recorded the send (the
        record follows Graph's answer), so a message's own template is looked for a moment."""
        own = None
        for _ in range(REFUSAL_LOOKUPS):
            own = await asyncio.to_thread(self.inbox.template_instead, status.message_id)
            if own is not None:
                break
            await asyncio.sleep(REFUSAL_LOOKUP_SECONDS)
        await self.output_for(status.phone_number_id).send_template_instead(
            status.recipient, template=(lambda language: own) if own else None)

    def _record_echo(self, echo: Echo) -> bool:
        """The owner wrote to a customer from the WhatsApp Business app: queued in the
        customer's order, where it gives the conversation to a person (what the customer wrote
        before it was the bot's; a replay is queued once, so it cannot take back a later hand
        back) and is written into it. False for a replay or a number that is no business's."""
        business_id = self.business_of(echo.phone_number_id)
        if business_id is None:
            return False
        return self.inbox.post(echo.customer, business_id, echo.phone_number_id, "echo",
                               echo.text, {"type": echo.kind},
                               item_id=f"echo:{echo.message_id}") is not None

    # ------------------------------------------------------------------ Flows
    async def flow_endpoint(self, request: Request) -> HTTPResponse:
        """The Flows data endpoint: 432 bad signature, 421 cannot decrypt, 427 bad token."""
        try:
            body = FLOWS_GUARD.body(request)
            if not signature_ok(self.config.app_secret, body,
                                one_header(request, "x-hub-signature-256")):
                raise Refused(432, "invalid signature")
            sealed = FLOWS_GUARD.parse(body)
        except Refused as refused:
            return refused.response()
        key = await asyncio.to_thread(self.flows_key)  # reads the key file once
        if key is None:
            return response.json({"error": "no Flows key configured"}, status=421)
        try:
            decrypted = await asyncio.to_thread(decrypt_request, sealed, key)
        except ValueError:  # FlowDecryptionError
            return response.json({"error": "cannot decrypt"}, status=421)
        try:
            answer = await asyncio.to_thread(lambda: self.booking_flow.answer(decrypted.payload))
        except FlowTokenError as exc:
            return response.json({"error_msg": texts(exc.language)(exc.message)}, status=427)
        except (PyMongoError, BookingError) as exc:
            logger.error("Flows endpoint cannot answer: %s", exc)
            return response.json({"error": "temporarily unavailable"}, status=503)
        return response.text(encrypt_response(answer, decrypted.aes_key, decrypted.iv),
                             content_type="text/plain")

    def flows_key(self) -> Any:
        """The Flows private key from WHATSAPP_FLOWS_PRIVATE_KEY (None when not set up)."""
        if self._flows_key is None:
            path = os.environ.get("WHATSAPP_FLOWS_PRIVATE_KEY")
            if not path:
                return None
            with open(path, "rb") as handle:
                self._flows_key = load_private_key(
                    handle.read(), os.environ.get("WHATSAPP_FLOWS_PRIVATE_KEY_PASSPHRASE"))
        return self._flows_key

    @property
    def booking_flow(self) -> BookingFlow:
        """The Flow's screens over the core."""
        from booking.runtime import booking_service

        core = booking_service()
        return BookingFlow(core, FlowTokens(core.db))
