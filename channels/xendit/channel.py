"""Xendit on the Rasa server: invoice callbacks, the PDF confirmations, and payment news told
in the customer's own conversation.

POST /webhooks/xendit/webhook: ``x-callback-token`` (constant time) → record the callback
(unique per invoice id and status) → 200; then in the background: re-read the invoice from
Xendit and apply it (booking core), tell the customer through Rasa as the external intent
``EXTERNAL_payment_update`` (so the dialogue records it and the reply goes out on their channel),
then send the payouts. A periodic task reconciles what callbacks missed and sends notices
written elsewhere (``make reconcile``).
"""
from __future__ import annotations

import channels.rasa_patches  # noqa: F401  (Rasa fix, see the module)
import asyncio
import functools
import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Awaitable, Callable, Dict, Optional, Text, TypeVar, Union

from pymongo.errors import PyMongoError
from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from booking import metrics
from booking.errors import BookingError
from booking.i18n import N_, texts
from booking.payments import CallbackError, PaymentService
from booking.xendit import XenditError
from channels.http_guard import Refused, RequestGuard, one_header, same_secret
from channels.notices import CustomerOutputs, tell

logger = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024  # Xendit's callbacks are small (≤ the server's LARGEST_BODY)
GUARD = RequestGuard(MAX_BODY)
RETURN_PAGE = ("<!doctype html><html lang={lang}><meta name=viewport "
               "content='width=device-width'><title>{title}</title><p>{text}</p>")
RETURN_TITLE = N_("Thank you")
RETURN_TEXT = N_("Thank you! Your confirmation arrives in WhatsApp as soon as the payment is "
                 "through. You can close this page.")
OnNewMessage = Callable[[UserMessage], Awaitable[Any]]
T = TypeVar("T")


def token_ok(expected: str, given: Union[bytes, str, None]) -> bool:
    """Whether the callback token matches, compared in constant time as bytes. No token
    configured accepts nothing."""
    if isinstance(given, str):
        given = given.encode("utf-8", "surrogatepass")
    return same_secret(expected, given)


def notice_text(notice: dict[str, Any]) -> str:
    """The external intent, as a payload Rasa parses without NLU."""
    entities = {"booking_code": notice["code"], "payment": notice["payment_id"],
                "payment_update": notice["kind"]}
    return "/EXTERNAL_payment_update" + json.dumps(entities, separators=(",", ":"))


class XenditInput(InputChannel):
    """Receives Xendit invoice callbacks; see the module docstring."""

    @classmethod
    def name(cls) -> Text:
        return "xendit"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        return cls(os.environ.get("XENDIT_CALLBACK_TOKEN", ""),
                   float(os.environ.get("XENDIT_RECONCILE_SECONDS") or 60))

    def __init__(self, callback_token: str, reconcile_seconds: float = 60) -> None:
        self.callback_token = callback_token
        self.reconcile_seconds = reconcile_seconds
        self.outputs = CustomerOutputs()  # the customer's own channel for the news
        self._tasks: set[asyncio.Task] = set()
        self._notifying: Optional[asyncio.Task] = None
        self._again = False
        self._one_at_a_time: Optional[asyncio.Semaphore] = None
        # Own worker threads: the acknowledgement path (record, receipts) never queues behind
        # background work (Xendit calls with backoff, reconciliation), and that work never
        # takes the threads the rest of the server needs.
        self._front = ThreadPoolExecutor(4, thread_name_prefix="xendit-ack")
        self._back = ThreadPoolExecutor(2, thread_name_prefix="xendit-work")

    async def _run(self, pool: ThreadPoolExecutor, call: Callable[..., T], *args: Any) -> T:
        """A blocking call in one of this channel's thread pools."""
        return await asyncio.get_running_loop().run_in_executor(
            pool, functools.partial(call, *args))

    @property
    def payments(self) -> PaymentService:
        """The payment service (connects to MongoDB: call from a worker thread first)."""
        from booking.runtime import payment_service

        return payment_service()

    # ------------------------------------------------------------------ routes
    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        bp = Blueprint("xendit_webhook", __name__)

        @bp.listener("after_server_start")
        async def start(app: Any, loop: Any) -> None:
            self._spawn(self._periodic(on_new_message))

        @bp.listener("before_server_stop")
        async def stop(app: Any, loop: Any) -> None:
            for task in list(self._tasks):
                task.cancel()
            self._front.shutdown(wait=False)
            self._back.shutdown(wait=False)
            await self.outputs.close()

        @bp.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @bp.route("/webhook", methods=["POST"])
        async def webhook(request: Request) -> HTTPResponse:
            answer = await self.receive(request, on_new_message)
            if answer.status >= 400:
                metrics.WEBHOOK_REFUSALS.labels("xendit", str(answer.status)).inc()
            return answer

        @bp.route("/receipts/<name>", methods=["GET"])
        async def receipt(request: Request, name: str) -> HTTPResponse:
            if not name.endswith(".pdf"):
                return response.json({"error": "not found"}, status=404)
            try:
                pdf = await self._run(self._front, self.payments.receipt_pdf, name[:-4],
                                      str(request.args.get("lang") or "en"))
            except (PyMongoError, BookingError) as exc:
                logger.error("cannot make receipt: %s", exc)
                return response.json({"error": "temporarily unavailable"}, status=503)
            if pdf is None:
                return response.json({"error": "not found"}, status=404)
            return response.raw(pdf, content_type="application/pdf", headers={
                "content-disposition": f'inline; filename="{name}"',
                "cache-control": "private, no-store"})

        @bp.route("/return", methods=["GET"])
        async def back_from_payment(request: Request) -> HTTPResponse:
            """Where Xendit sends the customer after paying, in their language (``lang``: only
            ever one of ours, else English; the page names nobody and changes nothing)."""
            tx = texts(request.args.get("lang"))
            return response.html(RETURN_PAGE.format(lang=tx.language, title=tx(RETURN_TITLE),
                                                    text=tx(RETURN_TEXT)))

        return bp

    async def receive(self, request: Request, on_new_message: OnNewMessage) -> HTTPResponse:
        """Check, record, acknowledge; the work happens after the answer."""
        try:
            body = GUARD.body(request)
            if not token_ok(self.callback_token, one_header(request, "x-callback-token")):
                raise Refused(401, "missing or invalid x-callback-token")
            payload = GUARD.parse(body)
        except Refused as refused:
            return refused.response()
        started = time.perf_counter()
        try:
            fresh = await self._run(self._front, self.payments.record_callback, payload)
        except CallbackError as exc:
            return response.json({"error": str(exc)}, status=400)
        except (PyMongoError, BookingError) as exc:
            logger.error("cannot record Xendit callback, asking for a retry: %s", exc)
            return response.json({"error": "temporarily unavailable"}, status=503)
        if fresh:
            self._spawn(self._handle(f"{payload['id']}:{payload['status']}", on_new_message))
        recorded_ms = (time.perf_counter() - started) * 1000
        return response.json({"status": "ok"},
                             headers={"server-timing": f"record;dur={recorded_ms:.1f}"})

    # ------------------------------------------------------------------ background
    def _spawn(self, coroutine: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, callback_id: str, on_new_message: OnNewMessage) -> None:
        """Process one recorded callback. One at a time: under a burst, the work queues here
        (Xendit only needs the 200, which is already sent) instead of taking the CPU the
        acknowledgements and customers' messages need."""
        if self._one_at_a_time is None:
            self._one_at_a_time = asyncio.Semaphore(1)
        async with self._one_at_a_time:
            await self._process(callback_id, on_new_message)

    async def _process(self, callback_id: str, on_new_message: OnNewMessage) -> None:
        try:
            code = await self._run(self._back, self.payments.process_callback, callback_id,
                                  False)
        except (PyMongoError, BookingError, XenditError) as exc:  # left NEW: reconciled later
            logger.error("processing Xendit callback %s failed: %s", callback_id, exc)
            return
        await self.send_notices(on_new_message)
        if code:
            await self._run(self._back, self.payments.run_payouts, code)

    async def send_notices(self, on_new_message: OnNewMessage) -> None:
        """Tell customers their pending payment news, one notice at a time. Concurrent calls
        fold into the running one."""
        if self._notifying is not None and not self._notifying.done():
            self._again = True
            await asyncio.shield(self._notifying)
            return
        self._notifying = asyncio.ensure_future(self._drain_notices(on_new_message))
        await asyncio.shield(self._notifying)

    async def _drain_notices(self, on_new_message: OnNewMessage) -> None:
        while True:
            self._again = False
            try:
                notice = await self._run(self._back, self.payments.claim_notice)
            except (PyMongoError, BookingError) as exc:
                logger.error("cannot read payment notices: %s", exc)
                return
            if notice is None:
                if self._again:
                    continue
                return
            ok, error = await tell(self.outputs, self._back, notice, notice_text(notice),
                                   on_new_message)
            await self._run(self._back, self.payments.finish_notice, notice["_id"], ok, error)

    async def _periodic(self, on_new_message: OnNewMessage) -> None:
        """Reconcile and send what others recorded, now (start-up recovery) and then every
        ``XENDIT_RECONCILE_SECONDS``."""
        first = True
        while True:
            try:
                if first:  # recorded before a crash or restart, never processed
                    for callback_id in await self._run(self._back,
                                                            self.payments.unprocessed_callbacks):
                        await self._handle(callback_id, on_new_message)
                    first = False
                summary = await self._run(self._back, self.payments.reconcile)
                if any(summary.values()):
                    logger.info("payment reconciliation: %s", summary)
                await self.send_notices(on_new_message)
            except asyncio.CancelledError:
                raise
            except Exception:  # keep reconciling on the next round
                logger.exception("payment reconciliation failed")
            await asyncio.sleep(self.reconcile_seconds)
