"""Payments up front: Xendit invoices, callbacks, payouts to vendor and villa, reconciliation.

One ``payments`` document per invoice attempt; its id is the invoice's ``external_id``
(``<booking code>-<attempt>``), so a booking never has two live invoices: a repeated request
finds the stored one, and a create whose answer was lost is looked up by ``external_id`` before
another is made. Callbacks are recorded (unique per invoice id and status) before they are
acknowledged; processing re-reads the invoice from Xendit and trusts only that. Every effect is
a compare-and-swap or an insert under a unique id, so replays, reorderings and a second
processor change nothing:

- the booking moves by CAS (``settle_payment`` / ``transition``);
- a payment's ``outcome`` is set once (CAS from none) and decides what the customer is told;
- customer notices (``payment_notices``) and payouts (``payouts``) have one id per payment and
  kind / booking and party, inserted with ``$setOnInsert``;
- payouts go to Xendit with a stable ``Idempotency-key``.
"""
from __future__ import annotations

import json
import logging
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from booking import orders
from booking.bookings import BookingService
from booking.db import with_retries
from booking.errors import BookingError, InvalidTransitionError, SlotConflictError, UnknownEntityError
from booking.models import CONFIRMED, EXPIRED, PENDING_PAYMENT, Booking
from booking.receipt import ReceiptData, render_pdf
from booking.split import split_payment
from booking.xendit import XenditClient, XenditError, XenditNotFoundError, XenditRetryableError

logger = logging.getLogger(__name__)

# Payment (invoice attempt) states.
CREATING, PENDING, PAID, LAPSED = "CREATING", "PENDING", "PAID", "EXPIRED"
# What a paid or lapsed payment meant for its booking (set once).
OUTCOME_CONFIRMED, OUTCOME_REFUND = "confirmed", "refund_needed"
# Customer notices.
NOTICE_PAID, NOTICE_EXPIRED, NOTICE_REFUND, NOTICE_LINK = "paid", "expired", "refund", "link"
# Payout states.
SCHEDULED, REQUESTED, SUCCEEDED, FAILED = "SCHEDULED", "REQUESTED", "SUCCEEDED", "FAILED"
_TEMPORARY_PAYOUT_FAILURES = {"TEMPORARY_TRANSFER_ERROR", "INSUFFICIENT_BALANCE"}


class CallbackError(BookingError):
    """A callback body that cannot be a Xendit invoice callback."""


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def parse_instant(raw: Any) -> Optional[datetime]:
    """Xendit's ISO-8601 instants (``2026-11-23T03:30:00.000Z``), as aware UTC."""
    if not isinstance(raw, str) or not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class PaymentSettings:
    """``INVOICE_DURATION_MINUTES``, ``PUBLIC_BASE_URL``, payout limits and
    ``XENDIT_CREATE_GRACE_SECONDS``, from the env."""

    invoice_duration_minutes: int = 30
    public_base_url: str = "http://localhost:5005"
    payout_transfer_attempts: int = 3
    create_grace_seconds: int = 120  # an invoice creation may still be in flight that long

    @classmethod
    def from_env(cls) -> "PaymentSettings":
        env = os.environ
        return cls(invoice_duration_minutes=int(env.get("INVOICE_DURATION_MINUTES")
                                                or cls.invoice_duration_minutes),
                   public_base_url=(env.get("PUBLIC_BASE_URL") or cls.public_base_url).rstrip("/"),
                   payout_transfer_attempts=int(env.get("PAYOUT_TRANSFER_ATTEMPTS")
                                                or cls.payout_transfer_attempts),
                   create_grace_seconds=int(env.get("XENDIT_CREATE_GRACE_SECONDS")
                                            or cls.create_grace_seconds))


@dataclass(frozen=True)
class Conversation:
    """Where to tell the customer about their payment."""

    sender_id: str
    channel: str = ""
    business_id: str = ""
    phone_number_id: Optional[str] = None


@dataclass(frozen=True)
class Payment:
    """One invoice attempt for a booking."""

    id: str
    code: str
    amount: int
    currency: str
    state: str
    invoice_id: Optional[str]
    invoice_url: Optional[str]
    expires_at: Optional[datetime]
    outcome: Optional[str]
    receipt_token: Optional[str]

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> "Payment":
        return cls(id=doc["_id"], code=doc["code"], amount=doc["amount"],
                   currency=doc["currency"], state=doc["state"], invoice_id=doc.get("invoice_id"),
                   invoice_url=doc.get("invoice_url"), expires_at=doc.get("expires_at"),
                   outcome=doc.get("outcome"), receipt_token=doc.get("receipt_token"))


class PaymentService:
    """Takes payment for bookings at businesses that require it; see the module docstring."""

    def __init__(self, core: BookingService, client: XenditClient,
                 settings: PaymentSettings = PaymentSettings()) -> None:
        self.core, self.client, self.settings = core, client, settings
        self.db = core.db

    def ensure_indexes(self) -> None:
        self.db.payments.create_index([("code", ASCENDING), ("attempt", ASCENDING)])
        self.db.payments.create_index([("state", ASCENDING), ("expires_at", ASCENDING)])
        self.db.payments.create_index("invoice_id", sparse=True)
        self.db.payments.create_index("receipt_token", unique=True, sparse=True)
        self.db.xendit_callbacks.create_index([("state", ASCENDING), ("received_at", ASCENDING)])
        self.db.payment_notices.create_index([("state", ASCENDING), ("created_at", ASCENDING)])
        self.db.payouts.create_index([("state", ASCENDING), ("updated_at", ASCENDING)])

    def receipt_url(self, token: str) -> str:
        return f"{self.settings.public_base_url}/webhooks/xendit/receipts/{token}.pdf"

    # ================================================================= invoices
    def request_payment(self, booking: Booking, conversation: Conversation) -> Payment:
        """The invoice of the booking's current payment attempt, created if needed.

        Returns the payment; its ``invoice_url`` is None when Xendit could not be reached
        (reconciliation creates the invoice later and sends the link).
        """
        payment_id = f"{booking.code}-{booking.payment_attempt}"
        now = self.core.clock()
        creator = secrets.token_hex(8)
        doc = with_retries(lambda: self.db.payments.find_one_and_update(
            {"_id": payment_id},
            {"$setOnInsert": {"creator": creator,
                "code": booking.code, "booking_id": booking.id, "attempt": booking.payment_attempt,
                "business_id": booking.business_id, "customer_id": booking.customer_id,
                "amount": booking.price, "currency": booking.currency, "state": CREATING,
                "conversation": conversation.__dict__, "created_at": now, "updated_at": now}},
            upsert=True, return_document=ReturnDocument.AFTER))
        if doc["state"] != CREATING:
            return Payment.from_doc(doc)
        # Not ours to create fresh: an earlier request may have created the invoice already.
        return self._create_invoice(doc, look_first=doc["creator"] != creator)

    def _invoice_payload(self, doc: dict[str, Any]) -> dict[str, Any]:
        booking = self.core.get(doc["code"])
        catalog = self.core.catalog
        service = catalog.service(booking.service_id)
        business = catalog.business(booking.business_id)
        local = booking.start.astimezone(business.tz).strftime("%a %d %b %Y %H:%M")
        customer: dict[str, Any] = {"given_names": booking.customer_name or "Guest"}
        if booking.customer_id.isdigit():
            customer["mobile_number"] = "+" + booking.customer_id
        base = self.settings.public_base_url
        return {
            "external_id": doc["_id"], "amount": doc["amount"], "currency": doc["currency"],
            "description": f"{service.name}, {local}, booking {booking.code} at {business.name}",
            "invoice_duration": self.settings.invoice_duration_minutes * 60,
            "customer": customer,
            "items": [{"name": service.name, "price": doc["amount"], "quantity": 1}],
            "success_redirect_url": f"{base}/webhooks/xendit/return?booking={booking.code}",
            "failure_redirect_url": f"{base}/webhooks/xendit/return?booking={booking.code}",
            "metadata": {"booking_code": booking.code, "business_id": booking.business_id},
        }

    def _create_invoice(self, doc: dict[str, Any], look_first: bool) -> Payment:
        try:
            invoice = self.client.ensure_invoice(self._invoice_payload(doc), look_first)
        except XenditError as exc:
            logger.error("no invoice for %s yet (reconciliation will retry): %s", doc["_id"], exc)
            with_retries(lambda: self.db.payments.update_one(
                {"_id": doc["_id"]}, {"$set": {"last_error": str(exc)}}))
            return Payment.from_doc(doc)
        expires_at = parse_instant(invoice.get("expiry_date")) or (
            self.core.clock() + timedelta(minutes=self.settings.invoice_duration_minutes))
        stored = with_retries(lambda: self.db.payments.find_one_and_update(
            {"_id": doc["_id"], "state": CREATING},
            {"$set": {"state": PENDING, "invoice_id": invoice["id"],
                      "invoice_url": invoice.get("invoice_url"), "expires_at": expires_at,
                      "updated_at": self.core.clock()}},
            return_document=ReturnDocument.AFTER))
        if stored is None:  # someone else stored it (or a callback moved it on) meanwhile
            stored = self.db.payments.find_one({"_id": doc["_id"]})
        else:
            self.core.set_hold_until(doc["code"], expires_at)
        return Payment.from_doc(stored)

    def current_payment(self, code: str) -> Optional[Payment]:
        """The latest payment attempt of a booking."""
        doc = with_retries(lambda: self.db.payments.find_one(
            {"code": code}, sort=[("attempt", -1)]))
        return Payment.from_doc(doc) if doc else None

    def payment(self, payment_id: str) -> Payment:
        doc = with_retries(lambda: self.db.payments.find_one({"_id": payment_id}))
        if doc is None:
            raise UnknownEntityError("payment", payment_id)
        return Payment.from_doc(doc)

    def pay_again(self, code: str, customer_id: str, conversation: Conversation) -> Payment:
        """After an expired link: hold the time again (if free) and issue a new invoice.

        Raises:
            SlotConflictError: the time is taken or too soon now (with alternatives).
            InvalidTransitionError: the booking is neither expired nor waiting for payment.
        """
        booking = self.core.hold_again(code, customer_id)
        return self.request_payment(booking, conversation)

    def withdraw_invoices(self, code: str, keep: Optional[str] = None) -> int:
        """Expire a booking's unpaid invoices at Xendit (it was paid another way, or
        cancelled), so nobody pays twice; returns how many were withdrawn."""
        withdrawn = 0
        for doc in with_retries(lambda: list(self.db.payments.find(
                {"code": code, "state": PENDING, "_id": {"$ne": keep}}))):
            try:
                self.client.retrying(lambda: self.client.request(
                    "POST", f"/invoices/{doc['invoice_id']}/expire!"))
            except XenditError as exc:
                if exc.status != 404:
                    logger.error("could not expire invoice %s: %s", doc["invoice_id"], exc)
                    continue
            with_retries(lambda: self.db.payments.update_one(
                {"_id": doc["_id"], "state": PENDING},
                {"$set": {"state": LAPSED, "outcome": "withdrawn", "updated_at": utcnow()}}))
            withdrawn += 1
        return withdrawn

    def after_cancel(self, booking: Booking) -> int:
        """A booking was cancelled: withdraw its unpaid invoices; a paid one needs a refund
        (recorded for the business). Returns the amount to refund (0 if none)."""
        self.withdraw_invoices(booking.code)
        if not booking.paid_by:
            return 0
        self._record_refund(self.db.payments.find_one({"_id": booking.paid_by}),
                            "booking cancelled after payment")
        return booking.price

    def _record_refund(self, doc: dict[str, Any], reason: str) -> None:
        with_retries(lambda: self.db.refunds.update_one({"_id": doc["_id"]}, {"$setOnInsert": {
            "code": doc["code"], "business_id": doc["business_id"], "amount": doc["amount"],
            "currency": doc["currency"], "reason": reason, "state": "NEEDED",
            "created_at": utcnow()}}, upsert=True))

    # ================================================================= callbacks
    def record_callback(self, body: Any) -> bool:
        """Store a verified callback under ``<invoice id>:<status>``; False for a replay."""
        if not isinstance(body, dict):
            raise CallbackError("expected a JSON object")
        invoice_id, status = body.get("id"), body.get("status")
        if not isinstance(invoice_id, str) or not invoice_id or len(invoice_id) > 255:
            raise CallbackError("missing invoice id")
        if not isinstance(status, str) or not status or len(status) > 32:
            raise CallbackError("missing status")
        if not isinstance(body.get("external_id"), str):
            raise CallbackError("missing external_id")
        try:
            with_retries(lambda: self.db.xendit_callbacks.insert_one({
                "_id": f"{invoice_id}:{status}", "invoice_id": invoice_id, "status": status,
                "external_id": body["external_id"][:255],
                # as JSON text: whatever it holds (64-bit overflowing numbers, "$" keys) stores
                "body": json.dumps(body), "state": "NEW",
                "received_at": utcnow()}))
        except DuplicateKeyError:
            return False
        return True

    def unprocessed_callbacks(self, older_than: Optional[datetime] = None) -> list[str]:
        query: dict[str, Any] = {"state": "NEW"}
        if older_than is not None:
            query["received_at"] = {"$lt": older_than}
        return [d["_id"] for d in with_retries(lambda: list(
            self.db.xendit_callbacks.find(query, {"_id": 1}).sort("received_at", 1)))]

    def process_callback(self, callback_id: str, payouts: bool = True) -> Optional[str]:
        """Re-read the callback's invoice from Xendit and apply what it says (once); then
        send the payouts it scheduled (``payouts=False``: the caller does, later). Returns the
        booking code concerned, if any."""
        doc = with_retries(lambda: self.db.xendit_callbacks.find_one({"_id": callback_id}))
        if doc is None or doc["state"] != "NEW":
            return None
        try:
            invoice = self.client.get_invoice(doc["invoice_id"])
        except XenditNotFoundError:
            self._finish_callback(callback_id, "IGNORED", "no such invoice at Xendit")
            return None
        result = self.apply_invoice(invoice)
        self._finish_callback(callback_id, "DONE", result)
        payment = self.db.payments.find_one({"_id": invoice.get("external_id")}, {"code": 1})
        code = payment["code"] if payment else None
        if payouts and code:
            self.run_payouts(code)
        return code

    def _finish_callback(self, callback_id: str, state: str, result: str) -> None:
        with_retries(lambda: self.db.xendit_callbacks.update_one(
            {"_id": callback_id}, {"$set": {"state": state, "result": result,
                                            "processed_at": utcnow()}}))

    def apply_invoice(self, invoice: dict[str, Any]) -> str:
        """Apply an invoice as read from Xendit; returns what happened (for the record)."""
        payment_id = invoice.get("external_id")
        doc = with_retries(lambda: self.db.payments.find_one({"_id": payment_id}))
        if doc is None:
            logger.warning("invoice %s is not ours (external_id %r)", invoice.get("id"), payment_id)
            return "unknown external_id"
        if doc.get("invoice_id") not in (None, invoice.get("id")):
            return "another invoice of this payment"
        amount = invoice.get("amount")
        if (not isinstance(amount, (int, float)) or int(amount) != amount
                or int(amount) != doc["amount"] or invoice.get("currency") != doc["currency"]):
            logger.error("invoice %s: amount/currency %r %r differ from ours %d %s",
                         invoice.get("id"), amount, invoice.get("currency"), doc["amount"],
                         doc["currency"])
            with_retries(lambda: self.db.payments.update_one(
                {"_id": payment_id}, {"$set": {"anomaly": "amount or currency mismatch"}}))
            return "amount or currency mismatch"
        status = invoice.get("status")
        if status in ("PAID", "SETTLED"):
            return self._apply_paid(doc, invoice)
        if status == "EXPIRED":
            return self._apply_lapsed(doc, invoice)
        return f"status {status}: nothing to do"

    def _apply_paid(self, doc: dict[str, Any], invoice: dict[str, Any]) -> str:
        now = self.core.clock()
        paid_at = parse_instant(invoice.get("paid_at")) or now
        with_retries(lambda: self.db.payments.update_one(
            {"_id": doc["_id"], "state": {"$ne": PAID}},
            {"$set": {"state": PAID, "invoice_id": invoice["id"], "paid_at": paid_at,
                      "paid_amount": invoice.get("paid_amount", invoice.get("amount")),
                      "payment_method": invoice.get("payment_method", ""),
                      "payment_channel": invoice.get("payment_channel", ""),
                      "receipt_token": secrets.token_urlsafe(24), "updated_at": now}}))
        outcome = doc.get("outcome")
        if outcome is None:
            try:
                self.core.settle_payment(doc["code"], doc["_id"])
                outcome = OUTCOME_CONFIRMED
            except (SlotConflictError, InvalidTransitionError) as exc:
                logger.warning("payment %s cannot confirm %s: %s", doc["_id"], doc["code"], exc)
                outcome = OUTCOME_REFUND
            outcome = self._set_outcome(doc["_id"], outcome)
        if outcome == OUTCOME_CONFIRMED:
            booking = self.core.get(doc["code"])
            self.withdraw_invoices(booking.code, keep=doc["_id"])
            self.schedule_payouts(booking, doc["_id"])
            self._notify(doc, NOTICE_PAID)
        elif outcome == OUTCOME_REFUND:
            self._record_refund(doc, "paid after the time was given up")
            self._notify(doc, NOTICE_REFUND)
        return f"paid: {outcome}"

    def _apply_lapsed(self, doc: dict[str, Any], invoice: dict[str, Any]) -> str:
        moved = with_retries(lambda: self.db.payments.find_one_and_update(
            {"_id": doc["_id"], "state": {"$in": [CREATING, PENDING]}},
            {"$set": {"state": LAPSED, "invoice_id": invoice["id"],
                      "updated_at": self.core.clock()}}, return_document=ReturnDocument.AFTER))
        if moved is None and doc["state"] != LAPSED:
            return f"expired: ignored, payment is {doc['state']}"
        return self._release(doc)

    def _release(self, doc: dict[str, Any]) -> str:
        """An unpaid attempt lapsed: if it is the booking's current one, free the time and
        tell the customer (once)."""
        booking = self.core.get(doc["code"])
        if booking.status == PENDING_PAYMENT and booking.payment_attempt == doc["attempt"]:
            try:
                self.core.transition(booking.code, EXPIRED, expected=PENDING_PAYMENT)
            except InvalidTransitionError:
                pass  # paid or cancelled meanwhile
        booking = self.core.get(doc["code"])
        if booking.status == EXPIRED and booking.payment_attempt == doc["attempt"]:
            self._notify(doc, NOTICE_EXPIRED)  # once: one notice id per payment and kind
            return "expired: time released"
        return f"expired: booking is {booking.status}"

    def _set_outcome(self, payment_id: str, outcome: str) -> str:
        """Set a payment's outcome once; return the one that stands."""
        doc = with_retries(lambda: self.db.payments.find_one_and_update(
            {"_id": payment_id, "outcome": None}, {"$set": {"outcome": outcome}},
            return_document=ReturnDocument.AFTER))
        if doc is None:
            doc = self.db.payments.find_one({"_id": payment_id})
        return doc["outcome"]

    # ================================================================= notices
    def _notify(self, doc: dict[str, Any], kind: str) -> None:
        conversation = doc.get("conversation") or {}
        with_retries(lambda: self.db.payment_notices.update_one(
            {"_id": f"{doc['_id']}:{kind}"},
            {"$setOnInsert": {"kind": kind, "payment_id": doc["_id"], "code": doc["code"],
                              "conversation": conversation, "state": "PENDING",
                              "created_at": utcnow()}}, upsert=True))

    def notice(self, payment_id: str, kind: str) -> Optional[dict[str, Any]]:
        """The news ``kind`` of a payment, if the server wrote it (``None`` otherwise)."""
        return with_retries(lambda: self.db.payment_notices.find_one(
            {"_id": f"{payment_id}:{kind}"}))

    def claim_notice(self, stale_after: timedelta = timedelta(minutes=5)) -> Optional[dict[str, Any]]:
        """The next notice to send (claimed); one left claimed by a crashed sender is sent
        again after ``stale_after``."""
        now = utcnow()
        return with_retries(lambda: self.db.payment_notices.find_one_and_update(
            {"$or": [{"state": "PENDING"},
                     {"state": "SENDING", "claimed_at": {"$lt": now - stale_after}}]},
            {"$set": {"state": "SENDING", "claimed_at": now}}, sort=[("created_at", 1)],
            return_document=ReturnDocument.AFTER))

    def finish_notice(self, notice_id: str, ok: bool = True, error: str = "") -> None:
        with_retries(lambda: self.db.payment_notices.update_one(
            {"_id": notice_id}, {"$set": {"state": "SENT" if ok else "FAILED", "error": error,
                                          "sent_at": utcnow()}}))

    # ================================================================= payouts
    def schedule_payouts(self, booking: Booking, payment_id: str) -> None:
        """One payout per party with a destination (vendor, villa); the platform keeps its
        share. Scheduling twice changes nothing."""
        catalog = self.core.catalog
        business = catalog.business(booking.business_id)
        villa = catalog.villa(booking.villa_id) if booking.villa_id else None
        split = split_payment(booking.price, business, villa)
        now = utcnow()
        for party, amount, destination in (("vendor", split.vendor, business.payout),
                                           ("villa", split.villa, villa.payout if villa else None)):
            if amount <= 0 or destination is None:
                continue
            with_retries(lambda: self.db.payouts.update_one({"_id": f"{booking.code}:{party}"}, {
                "$setOnInsert": {
                    "code": booking.code, "booking_id": booking.id, "payment_id": payment_id,
                    "business_id": booking.business_id, "party": party, "amount": amount,
                    "currency": booking.currency, "destination": destination.__dict__,
                    "split": split.__dict__, "state": SCHEDULED, "transfer_attempt": 1,
                    "created_at": now, "updated_at": now}}, upsert=True))

    def run_payouts(self, code: Optional[str] = None) -> int:
        """Send scheduled payouts (of one booking, or all); returns how many were sent."""
        query: dict[str, Any] = {"$or": [{"state": SCHEDULED},
                                         {"state": FAILED, "retryable": True}]}
        if code is not None:
            query["code"] = code
        sent = 0
        for doc in with_retries(lambda: list(self.db.payouts.find(query))):
            sent += self._send_payout(doc)
        return sent

    @staticmethod
    def idempotency_key(doc: dict[str, Any]) -> str:
        """Stable per booking, party and transfer attempt (a new attempt only after Xendit
        reported the previous transfer FAILED for a temporary reason)."""
        return f"payout-{doc['booking_id']}-{doc['party']}-{doc['transfer_attempt']}"

    def _send_payout(self, doc: dict[str, Any]) -> int:
        destination = doc["destination"]
        body = {"reference_id": f"{doc['code']}-{doc['party']}-{doc['transfer_attempt']}",
                "channel_code": destination["channel_code"],
                "channel_properties": {"account_number": destination["account_number"],
                                       "account_holder_name": destination["account_holder_name"]},
                "amount": doc["amount"], "currency": doc["currency"],
                "description": f"Booking {doc['code']}: {doc['party']} share"}
        try:
            answer = self.client.create_payout(body, self.idempotency_key(doc))
        except XenditError as exc:
            retryable = isinstance(exc, XenditRetryableError)
            logger.error("payout %s failed%s: %s", doc["_id"],
                         " (Xendit unavailable)" if retryable else "", exc)
            self._update_payout(doc, {"state": FAILED, "retryable": retryable,
                                      "failure_code": exc.code or "XENDIT_UNAVAILABLE",
                                      "last_error": str(exc)})
            return 0
        self._update_payout(doc, {"state": REQUESTED, "payout_id": answer.get("id"),
                                  "xendit_status": answer.get("status"), "retryable": False})
        self._apply_payout_status(doc["_id"], answer)
        return 1

    def _update_payout(self, doc: dict[str, Any], fields: dict[str, Any]) -> None:
        with_retries(lambda: self.db.payouts.update_one(
            {"_id": doc["_id"], "state": {"$nin": [SUCCEEDED]}},
            {"$set": {**fields, "updated_at": utcnow()}}))

    def _apply_payout_status(self, payout_doc_id: str, answer: dict[str, Any]) -> None:
        doc = self.db.payouts.find_one({"_id": payout_doc_id})
        status = answer.get("status")
        if status == "SUCCEEDED":
            self._update_payout(doc, {"state": SUCCEEDED, "xendit_status": status})
        elif status in ("FAILED", "CANCELLED", "REVERSED"):
            code = answer.get("failure_code") or status
            if (code in _TEMPORARY_PAYOUT_FAILURES
                    and doc["transfer_attempt"] < self.settings.payout_transfer_attempts):
                self._update_payout(doc, {"state": SCHEDULED, "xendit_status": status,
                                          "failure_code": code,
                                          "transfer_attempt": doc["transfer_attempt"] + 1})
            else:
                self._update_payout(doc, {"state": FAILED, "xendit_status": status,
                                          "failure_code": code, "retryable": False})
        elif status:
            self._update_payout(doc, {"xendit_status": status})

    def refresh_payouts(self) -> int:
        """Read payouts not yet final from Xendit and record their status."""
        docs = with_retries(lambda: list(self.db.payouts.find({"state": REQUESTED})))
        for doc in docs:
            try:
                answer = self.client.get_payout(doc["payout_id"])
            except XenditError as exc:
                logger.warning("cannot read payout %s: %s", doc["_id"], exc)
                continue
            self._apply_payout_status(doc["_id"], answer)
        return len(docs)

    # ================================================================= reconciliation
    def reconcile(self) -> dict[str, int]:
        """Apply what Xendit knows and we may have missed; safe to run anywhere, any time.

        - callbacks recorded but not processed (a crash after the 200);
        - payments whose invoice was never created (Xendit was unreachable): create it now and
          send the link, or release the time if the hold is over;
        - payments still pending past their expiry (a callback that never came);
        - payouts to send again or to follow to a final status.
        """
        now = self.core.clock()
        done = {"callbacks": 0, "invoices_created": 0, "invoices_checked": 0,
                "payouts_sent": 0, "payouts_checked": 0}
        for callback_id in self.unprocessed_callbacks(older_than=utcnow() - timedelta(seconds=30)):
            self._safely(self.process_callback, callback_id)
            done["callbacks"] += 1
        hold = timedelta(minutes=self.settings.invoice_duration_minutes)
        grace = timedelta(seconds=self.settings.create_grace_seconds)
        for doc in with_retries(lambda: list(self.db.payments.find(
                {"state": CREATING, "created_at": {"$lt": now - grace}}))):
            if doc["created_at"] + hold < now:  # too late for a link: give the time back
                self._safely(self._lapse_uncreated, doc)
                continue
            payment = self._safely(self._create_invoice, doc, True)
            if payment is not None and payment.invoice_url:
                self._notify(doc, NOTICE_LINK)
                done["invoices_created"] += 1
        for doc in with_retries(lambda: list(self.db.payments.find(
                {"state": PENDING, "expires_at": {"$lt": now}}))):
            invoice = self._safely(self.client.get_invoice, doc["invoice_id"])
            if invoice is not None:
                self._safely(self.apply_invoice, invoice)
                done["invoices_checked"] += 1
        done["payouts_sent"] = self.run_payouts()
        done["payouts_checked"] = self.refresh_payouts()
        return done

    def _lapse_uncreated(self, doc: dict[str, Any]) -> None:
        # A lost create may have made an invoice after all: expire it before giving up.
        found = self.client.live_invoice(doc["_id"])
        if found is not None:
            if found.get("status") in ("PAID", "SETTLED"):
                self.apply_invoice(found)
                return
            self.client.request("POST", f"/invoices/{found['id']}/expire!")
        with_retries(lambda: self.db.payments.update_one(
            {"_id": doc["_id"], "state": CREATING},
            {"$set": {"state": LAPSED, "updated_at": self.core.clock()}}))
        self._release(doc)

    @staticmethod
    def _safely(call: Any, *args: Any) -> Any:
        try:
            return call(*args)
        except (XenditError, BookingError) as exc:
            logger.error("reconciliation step %s failed: %s", getattr(call, "__name__", call), exc)
            return None

    # ================================================================= receipt
    def receipt_pdf(self, token: str) -> Optional[bytes]:
        """The PDF confirmation behind an unguessable token (None if there is none)."""
        if not token or len(token) > 64:
            return None
        doc = with_retries(lambda: self.db.payments.find_one({"receipt_token": token}))
        if doc is None or doc.get("outcome") != OUTCOME_CONFIRMED:
            return None
        return render_pdf(self.receipt_data(doc))

    def receipt_data(self, doc: dict[str, Any]) -> ReceiptData:
        booking = self.core.get(doc["code"])
        catalog = self.core.catalog
        business = catalog.business(booking.business_id)
        service = catalog.service(booking.service_id)
        villa = catalog.villa(booking.villa_id).name if booking.villa_id else None
        method = " ".join(x for x in (doc.get("payment_method", ""),
                                      doc.get("payment_channel", "")) if x)
        return ReceiptData(
            business_name=business.name, customer_name=booking.customer_name,
            customer_phone=("+" + booking.customer_id) if booking.customer_id.isdigit() else "",
            booking_code=booking.code, service_name=service.name,
            staff_name=catalog.staff_member(booking.staff_id).name, start=booking.start,
            duration_minutes=service.duration_minutes, timezone=business.timezone,
            villa_name=villa, amount=doc["amount"], currency=doc["currency"],
            payment_method=method, paid_at=doc.get("paid_at"), invoice_id=doc.get("invoice_id", ""))
