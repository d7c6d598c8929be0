"""The Rasa channel for the WhatsApp Cloud API.

POST /webhooks/whatsapp/webhook: signature → record every message in the inbox → 200 (503 when
the database cannot take it, so Meta retries), then each customer's messages are processed in
order in the background by the server holding that customer's lease. GET: verification.
"""
from __future__ import annotations

import channels.rasa_patches  # noqa: F401  (Rasa fix, see the module)
import asyncio
import hashlib
import hmac
import json
import logging
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from pymongo.errors import PyMongoError
from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from booking.db import is_transient
from booking.errors import BookingError, DatabaseUnavailableError, UnknownEntityError
from channels.whatsapp import render
from booking.flow_tokens import FlowTokenError, FlowTokens
from channels.whatsapp.errors import (OUTSIDE_WINDOW, GraphError, OutsideWindowError,
                                      RetryableGraphError)
from channels.whatsapp.flows import BookingFlow
from channels.whatsapp.flows_crypto import decrypt_request, encrypt_response, load_private_key
from channels.whatsapp.graph import GraphClient, GraphConfig
from channels.whatsapp.inbox import Inbox
from channels.whatsapp.parse import Inbound, PayloadError, parse_webhook

logger = logging.getLogger(__name__)

MAX_BODY = 3 * 1024 * 1024
UNSUPPORTED_REPLY = ("Sorry, I can only read text and taps on buttons. "
                     "Please type your message or choose an option.")


@dataclass(frozen=True)
class WhatsAppConfig:
    """The channel's settings, all from the environment."""

    verify_token: str
    app_secret: str
    phone_number_id: str
    fallback_template: str
    fallback_language: str
    sweep_seconds: float = 10.0
    db_timeout_ms: int = 2000
    max_turns: int = 4
    resend_seconds: float = 30.0
    resend_for_hours: float = 24.0

    @classmethod
    def from_env(cls) -> "WhatsAppConfig":
        env = os.environ
        return cls(verify_token=env.get("WHATSAPP_VERIFY_TOKEN", ""),
                   app_secret=env.get("WHATSAPP_APP_SECRET", ""),
                   phone_number_id=env.get("WHATSAPP_PHONE_NUMBER_ID", ""),
                   fallback_template=env.get("WHATSAPP_FALLBACK_TEMPLATE", "booking_follow_up"),
                   fallback_language=env.get("WHATSAPP_FALLBACK_TEMPLATE_LANGUAGE", "en"),
                   sweep_seconds=float(env.get("WHATSAPP_SWEEP_SECONDS") or 10),
                   db_timeout_ms=int(env.get("WHATSAPP_DB_TIMEOUT_MS") or 2000),
                   max_turns=int(env.get("WHATSAPP_MAX_CONCURRENT_TURNS") or 4),
                   resend_seconds=float(env.get("WHATSAPP_RESEND_SECONDS") or 30))


def signature_ok(secret: str, body: bytes, header: Optional[str]) -> bool:
    """Whether ``X-Hub-Signature-256`` is HMAC-SHA256(secret, raw body), compared in constant
    time. A missing secret accepts nothing."""
    if not secret or not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header[len("sha256="):].strip().lower())


def flow_completion_text(extra: dict[str, Any]) -> Optional[str]:
    """A completed booking Flow continues exactly like tapping that time: ``/choose_slot``."""
    params = extra.get("flow_response")
    if not isinstance(params, dict) or not params.get("service") or not params.get("slot_time"):
        return None
    entities = {"service": str(params["service"]), "slot_time": str(params["slot_time"])}
    if params.get("villa"):
        entities["villa"] = str(params["villa"])
    return "/choose_slot" + json.dumps(entities, separators=(",", ":"))


def outage(exc: BaseException) -> bool:
    """Whether a turn failed because the database is away (worth running again later)."""
    return isinstance(exc, DatabaseUnavailableError) or (isinstance(exc, PyMongoError)
                                                         and is_transient(exc))


class WhatsAppOutput(OutputChannel):
    """Sends Rasa responses as Cloud API messages from one business number."""

    @classmethod
    def name(cls) -> Text:
        return "whatsapp"

    def __init__(self, graph: GraphClient, inbox: Inbox, config: WhatsAppConfig,
                 phone_number_id: str) -> None:
        self.graph, self.inbox, self.config = graph, inbox, config
        self.phone_number_id = phone_number_id

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        await self._send_all(recipient_id, render.text_message(text))

    async def send_text_with_buttons(self, recipient_id: Text, text: Text,
                                     buttons: list[Dict[Text, Any]], **kwargs: Any) -> None:
        choices = [render.Choice(b.get("title", ""), b.get("payload", "")) for b in buttons]
        key = None
        if len(choices) > render.LIST_ROWS_MAX:
            key = uuid.uuid4().hex[:16]
            await asyncio.to_thread(self.inbox.save_choices, key, text,
                                    [{"title": c.title, "payload": c.payload} for c in choices])
        await self._send_all(recipient_id, render.choices_message(text, choices, key))

    async def send_custom_json(self, recipient_id: Text, json_message: Dict[Text, Any],
                               **kwargs: Any) -> None:
        await self._send_all(recipient_id, render.custom_message(json_message))

    async def send_image_url(self, recipient_id: Text, image: Text, **kwargs: Any) -> None:
        await self._send_all(recipient_id, render.custom_message({"type": "image", "link": image}))

    async def send_page(self, recipient_id: str, key: str, page: int) -> None:
        """Page ``page`` of a saved long list ("More…" was tapped)."""
        saved = await asyncio.to_thread(self.inbox.load_choices, key)
        if saved is None:
            await self.send_text_message(recipient_id, "Those options have expired; please ask again.")
            return
        choices = [render.Choice(c["title"], c["payload"]) for c in saved["choices"]]
        await self._send_all(recipient_id, render.choices_message(saved["text"], choices, key, page))

    async def _send_all(self, recipient_id: str, messages: list[dict[str, Any]]) -> None:
        for message in messages:
            await self._send(recipient_id, message)

    async def _send(self, recipient_id: str, message: dict[str, Any]) -> None:
        kind = message["type"]
        try:
            wamid = await self.graph.send(self.phone_number_id, recipient_id, message)
            await asyncio.to_thread(self.inbox.record_outbound, wamid, recipient_id, kind, "sent")
        except OutsideWindowError as exc:
            await asyncio.to_thread(self.inbox.record_outbound, None, recipient_id, kind,
                                    "outside_window", str(exc))
            await self.send_template_instead(recipient_id)
        except RetryableGraphError as exc:  # not taken (429/5xx past the retries): kept
            logger.warning("Graph would not take %s to %s yet (%s); sending it later", kind,
                           recipient_id, exc)
            await asyncio.to_thread(self.inbox.defer_outbound, recipient_id,
                                    self.phone_number_id, message, str(exc),
                                    timedelta(seconds=self.config.resend_seconds))
        except GraphError as exc:
            logger.error("could not send %s to %s: %s", kind, recipient_id, exc)
            await asyncio.to_thread(self.inbox.record_outbound, None, recipient_id, kind,
                                    "failed", str(exc))

    async def send_template_instead(self, recipient_id: str) -> None:
        """The configured template, the only thing allowed outside the 24-hour window."""
        template = {"type": "template", "template": {
            "name": self.config.fallback_template,
            "language": {"code": self.config.fallback_language}}}
        try:
            wamid = await self.graph.send(self.phone_number_id, recipient_id, template)
            await asyncio.to_thread(self.inbox.record_outbound, wamid, recipient_id,
                                    "template", "sent")
        except GraphError as exc:
            await asyncio.to_thread(self.inbox.record_outbound, None, recipient_id, "template",
                                    "failed", str(exc))


class WhatsAppInput(InputChannel):
    """Receives Cloud API webhooks; durable, ordered per customer, de-duplicated."""

    @classmethod
    def name(cls) -> Text:
        return "whatsapp"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        return cls(WhatsAppConfig.from_env())

    def __init__(self, config: WhatsAppConfig) -> None:
        self.config = config
        self.graph = GraphClient(GraphConfig.from_env())
        self._inbox: Optional[Inbox] = None
        self._workers: dict[str, asyncio.Task] = {}
        self._again: set[str] = set()  # customers kicked while their worker was running
        self._flows_key: Any = None
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._turns: Optional[asyncio.Semaphore] = None

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
                          record_attempts=1)
            inbox.ensure_indexes()
            self._inbox = inbox
        return self._inbox

    def output_for(self, phone_number_id: Optional[str]) -> WhatsAppOutput:
        """The output channel speaking from a business number."""
        return WhatsAppOutput(self.graph, self.inbox, self.config,
                              phone_number_id or self.config.phone_number_id)

    def get_output_channel(self) -> Optional[OutputChannel]:
        """For messages pushed later (``output_channel=latest``): the default number."""
        return self.output_for(None)

    def get_metadata(self, request: Request) -> Optional[Dict[Text, Any]]:
        return None  # metadata is built per message from the stored webhook

    @staticmethod
    def _business_id(phone_number_id: str) -> Optional[str]:
        from booking.runtime import booking_service

        try:
            return booking_service().catalog.business_by_phone_number_id(phone_number_id).id
        except UnknownEntityError:
            return None

    # ------------------------------------------------------------------ routes
    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint("whatsapp_webhook", __name__)

        @bp.listener("after_server_start")
        async def recover(app: Any, loop: Any) -> None:
            self._sweeper = asyncio.create_task(self._sweep(on_new_message))

        @bp.listener("before_server_stop")
        async def close(app: Any, loop: Any) -> None:
            self._sweeper.cancel()
            await self.graph.close()

        @bp.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @bp.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            token = request.args.get("hub.verify_token", "")
            if (request.args.get("hub.mode") == "subscribe" and self.config.verify_token
                    and hmac.compare_digest(token, self.config.verify_token)):
                return response.text(request.args.get("hub.challenge", ""))
            return response.text("verification failed", status=403)

        @bp.route("/webhook", methods=["POST"])
        async def webhook(request: Request) -> HTTPResponse:
            return await self.receive(request, on_new_message)

        @bp.route("/flows", methods=["POST"])
        async def flows(request: Request) -> HTTPResponse:
            return await self.flow_endpoint(request)

        return bp

    async def receive(self, request: Request,
                      on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> HTTPResponse:
        """Check, record, acknowledge; processing happens after the answer."""
        body = request.body or b""
        if len(body) > MAX_BODY:
            return response.json({"error": "body over 3 MB"}, status=413)
        if "json" not in (request.headers.get("content-type") or "").lower():
            return response.json({"error": "expected application/json"}, status=415)
        if not signature_ok(self.config.app_secret, body,
                            request.headers.get("x-hub-signature-256")):
            return response.json({"error": "missing or invalid X-Hub-Signature-256"}, status=401)
        try:
            webhook = parse_webhook(json.loads(body))
        except (ValueError, RecursionError) as exc:  # includes JSON errors and PayloadError
            reason = str(exc) if isinstance(exc, PayloadError) else "malformed JSON"
            return response.json({"error": reason}, status=400)
        try:
            fresh, undelivered = await asyncio.to_thread(self._record, webhook)
        except (PyMongoError, BookingError) as exc:
            logger.error("cannot record webhook, asking Meta to retry: %s", exc)
            return response.json({"error": "temporarily unavailable"}, status=503)
        for sender in dict.fromkeys(m.sender for m in fresh):
            self._kick(sender, on_new_message)
        for status in undelivered:  # refused later as outside the 24-hour window
            asyncio.create_task(self.output_for(status.phone_number_id or None)
                                .send_template_instead(status.recipient))
        return response.json({"status": "ok"})

    async def flow_endpoint(self, request: Request) -> HTTPResponse:
        """The Flows data endpoint: 432 bad signature, 421 cannot decrypt, 427 bad token."""
        body = request.body or b""
        if len(body) > MAX_BODY:
            return response.json({"error": "body over 3 MB"}, status=413)
        if not signature_ok(self.config.app_secret, body,
                            request.headers.get("x-hub-signature-256")):
            return response.json({"error": "invalid signature"}, status=432)
        key = self.flows_key()
        if key is None:
            return response.json({"error": "no Flows key configured"}, status=421)
        try:
            decrypted = await asyncio.to_thread(decrypt_request, json.loads(body), key)
        except (ValueError, RecursionError):  # FlowDecryptionError and JSON errors
            return response.json({"error": "cannot decrypt"}, status=421)
        try:
            answer = await asyncio.to_thread(lambda: self.booking_flow.answer(decrypted.payload))
        except FlowTokenError as exc:
            return response.json({"error_msg": str(exc)}, status=427)
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
        from booking.runtime import booking_service

        core = booking_service()
        return BookingFlow(core, FlowTokens(core.db))

    def _record(self, webhook: Any) -> tuple[list[Inbound], list[Any]]:
        fresh = [m for m in webhook.messages
                 if self.inbox.record(m, self._business_id(m.phone_number_id))]
        undelivered = [s for s in webhook.statuses if self.inbox.record_status(s)
                       and s.status == "failed" and s.error_code == OUTSIDE_WINDOW]
        return fresh, undelivered

    # ------------------------------------------------------------------ processing
    async def _sweep(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> None:
        """At start and every ``sweep_seconds``: resume customers with waiting messages (left
        by a restart, an outage, or a server that died holding their lease)."""
        while True:
            try:
                senders = await asyncio.to_thread(lambda: self.inbox.senders_with_work())
            except (PyMongoError, BookingError) as exc:
                logger.warning("could not look for unprocessed WhatsApp messages: %s", exc)
                senders = []
            for sender in senders:
                self._kick(sender, on_new_message)
            try:
                await self._resend_deferred()
            except (PyMongoError, BookingError) as exc:
                logger.warning("could not look for replies to send again: %s", exc)
            await asyncio.sleep(self.config.sweep_seconds)

    async def _resend_deferred(self) -> None:
        """Send again the replies Graph would not take earlier (each once it is taken; given up
        after ``resend_for_hours``, past WhatsApp's 24-hour window)."""
        inbox = await asyncio.to_thread(lambda: self.inbox)
        while (doc := await asyncio.to_thread(inbox.claim_deferred)) is not None:
            try:
                wamid = await self.graph.send(doc["phone_number_id"], doc["to"], doc["message"])
            except RetryableGraphError as exc:
                age = datetime.now(timezone.utc) - doc["at"].replace(tzinfo=timezone.utc)
                wait = min(self.config.resend_seconds * 2 ** doc["attempts"], 1800.0)
                await asyncio.to_thread(
                    inbox.deferred_again, doc["_id"], str(exc),
                    None if age > timedelta(hours=self.config.resend_for_hours)
                    else timedelta(seconds=wait))
                return  # Graph still refuses: the rest waits for the next sweep
            except GraphError as exc:
                await asyncio.to_thread(inbox.deferred_again, doc["_id"], str(exc), None)
                continue
            await asyncio.to_thread(inbox.deferred_sent, doc["_id"], wamid)

    def _kick(self, sender: str, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> None:
        """Make sure one worker drains this customer's messages, in order."""
        worker = self._workers.get(sender)
        if worker is None or worker.done():
            self._workers[sender] = asyncio.create_task(self._drain(sender, on_new_message))
        else:
            self._again.add(sender)  # the running worker looks once more before it ends

    async def _drain(self, sender: str,
                     on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> None:
        """Process the customer's messages one at a time while holding their lease; after
        giving it back, look once more (another server may have recorded one meanwhile)."""
        try:
            inbox = await asyncio.to_thread(lambda: self.inbox)  # first use connects
            while True:
                self._again.discard(sender)
                if not await asyncio.to_thread(inbox.acquire, sender, self._owner):
                    return  # another server is draining this customer
                outcome: Optional[bool] = True
                while outcome is True:
                    outcome = await self._next(inbox, sender, on_new_message)
                await asyncio.to_thread(inbox.release, sender, self._owner)
                if outcome is None:
                    return  # an outage: the sweep resumes the customer
                if not (await asyncio.to_thread(inbox.has_work, sender)
                        or sender in self._again):
                    return
        except (PyMongoError, BookingError) as exc:
            logger.error("inbox unavailable while draining %s: %s", sender, exc)

    async def _next(self, inbox: Inbox, sender: str,
                    on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Optional[bool]:
        """Claim and process the customer's oldest waiting message. True: done, look for the
        next; False: nothing waiting (or the lease went elsewhere); None: an outage interrupted
        it (it waits for a retry).

        Rasa's turns are CPU on this event loop, so a few run at a time (``max_turns``): webhook
        answers stay quick under load while the rest wait in the inbox, unclaimed.
        """
        if self._turns is None:
            self._turns = asyncio.Semaphore(self.config.max_turns)
        async with self._turns:
            if not await asyncio.to_thread(inbox.acquire, sender, self._owner):  # renew
                return False
            doc = await asyncio.to_thread(inbox.claim_next, sender)
            if doc is None:
                return False
            if doc["attempts"] > 1 and await asyncio.to_thread(inbox.in_conversation,
                                                               doc["_id"]):
                await self._until_stored(inbox.finish, doc["_id"], True, "")  # its turn ran
                return True
            try:
                await self._process(doc, on_new_message)
            except Exception as exc:
                if outage(exc):
                    logger.error("WhatsApp message %s hit an outage; it runs again later: %s",
                                 doc["_id"], exc)
                    await self._until_stored(inbox.put_back, doc["_id"], repr(exc))
                    return None
                logger.exception("processing WhatsApp message %s failed", doc["_id"])
                await self._until_stored(inbox.finish, doc["_id"], False, repr(exc))
                return True  # recorded; the next message still gets its turn
            await self._until_stored(inbox.finish, doc["_id"], True, "")
            return True

    async def _until_stored(self, write: Callable[..., Any], *args: Any) -> None:
        """Write a message's outcome, waiting out an outage (the lease keeps it ours)."""
        delay = 0.2
        while True:
            try:
                return await asyncio.to_thread(write, *args)
            except (PyMongoError, BookingError) as exc:
                logger.warning("cannot record a message's outcome yet (%s); retrying", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _process(self, doc: dict[str, Any],
                       on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> None:
        output = self.output_for(doc["phone_number_id"])
        try:
            await self.graph.mark_read(doc["phone_number_id"], doc["_id"])
        except GraphError as exc:
            logger.info("mark as read failed: %s", exc)
        text = doc.get("text") or flow_completion_text(doc.get("extra") or {})
        if text and text.startswith(render.MORE_PREFIX):
            key, _, page = text[len(render.MORE_PREFIX):].rpartition(":")
            await output.send_page(doc["sender"], key, int(page) if page.isdigit() else 1)
            return
        if not text:
            await output.send_text_message(doc["sender"], UNSUPPORTED_REPLY)
            return
        metadata = {"business_id": doc.get("business_id"), "phone_number_id":
                    doc["phone_number_id"], "message_id": doc["_id"],
                    "profile_name": doc.get("profile_name", "")}
        await on_new_message(UserMessage(text, output, doc["sender"], input_channel=self.name(),
                                         message_id=doc["_id"], metadata=metadata))
