"""News the server writes for customers, sent in their own conversation.

The console (another process) records what the business changed about a booking in
``booking_notices`` (``booking.notices``). This channel, served by every Rasa server, claims
those notices one at a time (a claim is atomic, so two servers never tell twice) and hands each
to Rasa as the external intent ``EXTERNAL_booking_update``: the dialogue records it in the
customer's history and the reply leaves through the customer's channel, the same outbound path
as every bot message (WhatsApp: retries, deferral, the template outside the 24-hour window).

A notice counts as sent only when the dialogue's action marked it told (so news is not lost
when the action server is down: Rasa would go on without the action); otherwise it is tried
again with a growing wait. It listens to nothing from outside: its only route is a health
check. It polls every ``NOTICES_POLL_SECONDS`` (default 2; one indexed query).
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from pymongo.errors import PyMongoError
from rasa.core.channels.channel import (CollectingOutputChannel, InputChannel, OutputChannel,
                                        UserMessage)
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from booking.errors import BookingError
from booking.notices import BookingNotices
from channels.payloads import payload_parse_data

logger = logging.getLogger(__name__)
OnNewMessage = Callable[[UserMessage], Awaitable[Any]]
LATER = "later"  # ``not_to_send``: not now, but the notice was put back to wait


def booking_news_text(notice: dict[str, Any], intent: str = "EXTERNAL_booking_update") -> str:
    """The external intent that tells ``notice``, as a payload Rasa parses without NLU."""
    entities = {"booking_code": notice["code"], "notice": notice["_id"]}
    return f"/{intent}" + json.dumps(entities, separators=(",", ":"))


class CustomerOutputs:
    """The customer's own channel for news the server starts: WhatsApp from the business
    number, else collected (REST and shell conversations read it from the tracker)."""

    def __init__(self) -> None:
        self._whatsapp: Any = None

    def output_for(self, conversation: dict[str, Any]) -> OutputChannel:
        """The output channel of ``conversation``. Its first use connects to MongoDB (the
        WhatsApp inbox): call it from a worker thread."""
        if conversation.get("channel") == "whatsapp":
            if self._whatsapp is None:
                from channels.whatsapp.channel import WhatsAppConfig, WhatsAppInput

                self._whatsapp = WhatsAppInput(WhatsAppConfig.from_env())
            return self._whatsapp.output_for(conversation.get("phone_number_id"))
        return CollectingOutputChannel()

    async def close(self) -> None:
        """Close the Graph API session, if one was opened."""
        if self._whatsapp is not None:
            await self._whatsapp.graph.close()


async def tell(outputs: CustomerOutputs, pool: ThreadPoolExecutor, notice: dict[str, Any],
               text: str, on_new_message: OnNewMessage,
               domain: Any = None) -> tuple[bool, str]:
    """Hand one notice to the dialogue (its external intent parsed without NLU when the
    ``domain`` is known: ``channels.payloads``); whether it went, and why not."""
    conversation = notice.get("conversation") or {}
    try:
        output = await asyncio.get_running_loop().run_in_executor(
            pool, outputs.output_for, conversation)
        await on_new_message(UserMessage(
            text, output, conversation.get("sender_id"), input_channel=conversation.get("channel"),
            metadata={"business_id": conversation.get("business_id"),
                      "phone_number_id": conversation.get("phone_number_id")},
            parse_data=payload_parse_data(text, domain)))
    except Exception as exc:  # recorded; the next notice still goes out
        logger.exception("telling notice %s failed", notice.get("_id"))
        return False, repr(exc)
    return True, ""


class NoticesInput(InputChannel):
    """Sends the business's booking news; see the module docstring."""

    @classmethod
    def name(cls) -> Text:
        return "notices"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        return cls(float(os.environ.get("NOTICES_POLL_SECONDS") or 2))

    def __init__(self, poll_seconds: float = 2.0) -> None:
        self.poll_seconds = poll_seconds
        self.outputs = CustomerOutputs()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="notices")
        self._task: Optional[asyncio.Task] = None
        self._queue: Optional[BookingNotices] = None
        self._agent: Callable[[], Any] = lambda: None  # the Rasa agent, once the server runs

    def queue(self) -> BookingNotices:
        """The notices queue (connects to MongoDB: call from the worker thread)."""
        if self._queue is None:
            from booking.runtime import booking_service

            core = booking_service()
            self._queue = BookingNotices(core.db, core.clock)
        return self._queue

    intent = "EXTERNAL_booking_update"  # what the dialogue hears

    def text_for(self, notice: dict[str, Any]) -> str:
        """The external intent that tells ``notice``."""
        return booking_news_text(notice, self.intent)

    def not_to_send(self, notice: dict[str, Any]) -> Optional[str]:
        """Blocking: why a claimed notice is no longer to be sent (it is then dropped), ``LATER``
        when it was put back to wait, or ``None``. Booking news is always told (the dialogue
        sees what superseded it)."""
        return None

    def prepare(self) -> None:
        """Blocking: work before each round of sending (none for booking news)."""

    def done_here(self, notice: dict[str, Any]) -> bool:
        """Blocking: do a claimed notice's work that tells nobody; whether it was such work
        (it is then finished without the dialogue). Booking news always goes to the dialogue."""
        return False

    async def drain(self, on_new_message: OnNewMessage) -> int:
        """Send every pending notice; how many were handed to the dialogue."""
        loop = asyncio.get_running_loop()
        sent = 0
        while True:
            try:
                notice = await loop.run_in_executor(self._pool, lambda: self.queue().claim())
                reason = notice and await loop.run_in_executor(self._pool, self.not_to_send,
                                                               notice)
                if reason == LATER:  # (it was put back to wait)
                    continue
                if reason:
                    await loop.run_in_executor(self._pool, self.queue().drop, notice["_id"],
                                               reason)
                    continue
                if notice and await loop.run_in_executor(self._pool, self.done_here, notice):
                    await loop.run_in_executor(self._pool, self.queue().finish, notice["_id"])
                    continue
            except (PyMongoError, BookingError) as exc:
                logger.error("cannot read %s: %s", self.name(), exc)
                return sent
            if notice is None:
                return sent
            ok, error = await tell(self.outputs, self._pool, notice, self.text_for(notice),
                                   on_new_message, getattr(self._agent(), "domain", None))
            told = ok and await loop.run_in_executor(
                self._pool, lambda: bool((self.queue().get(notice["_id"]) or {}).get("told_at")))
            if told:
                sent += 1
                await loop.run_in_executor(self._pool, self.queue().finish, notice["_id"])
            else:  # e.g. the action server was down: Rasa goes on without the action
                await loop.run_in_executor(
                    self._pool, self.queue().again, notice["_id"],
                    error or "the dialogue did not tell it (action server unreachable?)")

    async def _periodic(self, on_new_message: OnNewMessage) -> None:
        while True:
            try:
                await asyncio.get_running_loop().run_in_executor(self._pool, self.prepare)
                await self.drain(on_new_message)
            except asyncio.CancelledError:
                raise
            except Exception:  # keep sending on the next round
                logger.exception("sending %s failed", self.name())
            await asyncio.sleep(self.poll_seconds)

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        bp = Blueprint(self.name(), __name__)

        @bp.listener("after_server_start")
        async def start(app: Any, loop: Any) -> None:
            self._agent = lambda: getattr(app.ctx, "agent", None)
            self._task = asyncio.ensure_future(self._periodic(on_new_message))

        @bp.listener("before_server_stop")
        async def stop(app: Any, loop: Any) -> None:
            if self._task is not None:
                self._task.cancel()
            self._pool.shutdown(wait=False)
            await self.outputs.close()

        @bp.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        return bp
