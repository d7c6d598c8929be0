"""Invoices: one ``payments`` document per invoice attempt of a booking.

States: CREATING (the document exists, the invoice may not yet) → PENDING (the invoice is
live at Xendit) → PAID | EXPIRED; each move is a compare-and-swap on the state. The document's
id is the invoice's ``external_id`` (``<booking code>-<attempt>``), so a booking never has two
live invoices: a repeated request finds the stored one, and a create whose answer was lost is
looked up by ``external_id`` before another is made. Only a booking still PENDING_PAYMENT on
the same payment attempt gets an invoice; otherwise the attempt is withdrawn.
"""
from __future__ import annotations

import logging
import secrets
from datetime import timedelta
from typing import Any, Optional

from pymongo import ReturnDocument

from booking import metrics
from booking.db import with_retries
from booking.errors import InvalidTransitionError, UnknownEntityError
from booking.i18n import N_, SOURCE, texts
from booking.models import EXPIRED, PENDING_PAYMENT, Booking
from booking.payments.common import (
    CREATING, LAPSED, NOTICE_EXPIRED, OUTCOME_WITHDRAWN, PENDING, Context, Conversation, Payment,
    parse_instant,
)
from booking.payments.notices import Notices
from booking.xendit import XenditError

logger = logging.getLogger(__name__)
# What Xendit's checkout page shows about the invoice, in the customer's language
INVOICE_DESCRIPTION = N_("{service}, {when}, booking {code} at {business}")


class Invoices:
    """Creates, reads, withdraws and lapses invoice attempts."""

    def __init__(self, ctx: Context, notices: Notices) -> None:
        self.ctx, self.notices = ctx, notices

    # ----------------------------------------------------------------- create
    def request_payment(self, booking: Booking, conversation: Conversation) -> Payment:
        """The invoice of the booking's current payment attempt, created if needed.

        Returns the payment; its ``invoice_url`` is None when Xendit could not be reached
        (reconciliation creates the invoice later and sends the link).
        """
        payment_id = f"{booking.code}-{booking.payment_attempt}"
        now = self.ctx.now()
        creator = secrets.token_hex(8)
        doc = with_retries(lambda: self.ctx.db.payments.find_one_and_update(
            {"_id": payment_id},
            {"$setOnInsert": {"creator": creator,
                "code": booking.code, "booking_id": booking.id, "attempt": booking.payment_attempt,
                "business_id": booking.business_id, "customer_id": booking.customer_id,
                "amount": booking.due_now, "currency": booking.currency, "state": CREATING,
                "conversation": conversation.__dict__, "created_at": now, "updated_at": now}},
            upsert=True, return_document=ReturnDocument.AFTER))
        if doc["state"] != CREATING:
            return Payment.from_doc(doc)
        # Not ours to create fresh: an earlier request may have created the invoice already.
        return self.create(doc, look_first=doc["creator"] != creator)

    def wanted(self, doc: dict[str, Any]) -> bool:
        """Whether payment ``doc`` is still what its booking waits for."""
        try:
            booking = self.ctx.core.get(doc["code"])
        except UnknownEntityError:
            return False
        return booking.status == PENDING_PAYMENT and booking.payment_attempt == doc["attempt"]

    def create(self, doc: dict[str, Any], look_first: bool) -> Payment:
        """Create the invoice of a CREATING payment at Xendit, if its booking still wants it."""
        if not self.wanted(doc):
            logger.info("payment %s: booking no longer waits for it; no invoice", doc["_id"])
            self.withdraw(doc)
            return self.payment(doc["_id"])
        try:
            invoice = self.ctx.client.ensure_invoice(self._payload(doc), look_first)
        except XenditError as exc:
            logger.error("no invoice for %s yet (reconciliation will retry): %s", doc["_id"], exc)
            with_retries(lambda: self.ctx.db.payments.update_one(
                {"_id": doc["_id"]}, {"$set": {"last_error": str(exc)}}))
            return Payment.from_doc(doc)
        expires_at = parse_instant(invoice.get("expiry_date")) or (
            self.ctx.now() + timedelta(minutes=self.ctx.settings.invoice_duration_minutes))
        stored = with_retries(lambda: self.ctx.db.payments.find_one_and_update(
            {"_id": doc["_id"], "state": CREATING},
            {"$set": {"state": PENDING, "invoice_id": invoice["id"],
                      "invoice_url": invoice.get("invoice_url"), "expires_at": expires_at,
                      "updated_at": self.ctx.now()}},
            return_document=ReturnDocument.AFTER))
        if stored is None:  # someone else stored it, withdrew it or a callback moved it on
            stored = self._read(doc["_id"])
            if stored["state"] == LAPSED and stored.get("outcome") == OUTCOME_WITHDRAWN:
                self.expire_at_xendit(invoice["id"])  # withdrawn while we were creating it
        else:
            self.ctx.core.set_hold_until(doc["code"], expires_at, attempt=doc["attempt"])
        return Payment.from_doc(stored)

    def _payload(self, doc: dict[str, Any]) -> dict[str, Any]:
        booking = self.ctx.core.get(doc["code"])
        catalog = self.ctx.core.catalog
        service = catalog.service(booking.service_id)
        business = catalog.business(booking.business_id)
        tx = texts((doc.get("conversation") or {}).get("language"))  # the customer's
        name = service.name_in(tx.language)
        customer: dict[str, Any] = {"given_names": booking.customer_name or "Guest"}
        if booking.customer_id.isdigit():
            customer["mobile_number"] = "+" + booking.customer_id
        base = self.ctx.settings.public_base_url
        back = f"{base}/webhooks/xendit/return?booking={booking.code}" + (
            "" if tx.language == SOURCE else f"&lang={tx.language}")
        return {
            "external_id": doc["_id"], "amount": doc["amount"], "currency": doc["currency"],
            "description": tx(INVOICE_DESCRIPTION, service=name, code=booking.code,
                              when=tx.full_moment(booking.start, business.tz),
                              business=business.name),
            "invoice_duration": self.ctx.settings.invoice_duration_minutes * 60,
            "customer": customer,
            "items": [{"name": name, "price": doc["amount"], "quantity": 1}],
            "success_redirect_url": back, "failure_redirect_url": back,
            "metadata": {"booking_code": booking.code, "business_id": booking.business_id},
        }

    # ----------------------------------------------------------------- read
    def _read(self, payment_id: str) -> Optional[dict[str, Any]]:
        return with_retries(lambda: self.ctx.db.payments.find_one({"_id": payment_id}))

    def current_payment(self, code: str) -> Optional[Payment]:
        """The latest payment attempt of a booking."""
        doc = with_retries(lambda: self.ctx.db.payments.find_one(
            {"code": code}, sort=[("attempt", -1)]))
        return Payment.from_doc(doc) if doc else None

    def payment(self, payment_id: str) -> Payment:
        """The payment with this id, or ``UnknownEntityError``."""
        doc = self._read(payment_id)
        if doc is None:
            raise UnknownEntityError("payment", payment_id)
        return Payment.from_doc(doc)

    # ----------------------------------------------------------------- withdraw
    def withdraw_invoices(self, code: str, keep: Optional[str] = None) -> int:
        """Withdraw a booking's unpaid attempts (it was paid another way, or cancelled): live
        invoices are expired at Xendit so nobody pays twice; returns how many were withdrawn."""
        docs = with_retries(lambda: list(self.ctx.db.payments.find(
            {"code": code, "state": {"$in": [CREATING, PENDING]}, "_id": {"$ne": keep}})))
        return sum(1 for doc in docs if self.withdraw(doc))

    def withdraw(self, doc: dict[str, Any]) -> bool:
        """Withdraw one unpaid attempt (CAS to EXPIRED, outcome ``withdrawn``); False if its
        live invoice could not be expired at Xendit (tried again on the next withdrawal)."""
        invoice_id = doc.get("invoice_id")
        if doc["state"] == CREATING:  # a lost create may have made one after all
            try:
                found = self.ctx.client.live_invoice(doc["_id"])
            except XenditError as exc:
                logger.warning("cannot look up invoices of %s: %s", doc["_id"], exc)
                found = None
            invoice_id = found["id"] if found and found.get("status") == "PENDING" else None
        if invoice_id and not self.expire_at_xendit(invoice_id):
            return False
        moved = with_retries(lambda: self.ctx.db.payments.update_one(
            {"_id": doc["_id"], "state": doc["state"]},
            {"$set": {"state": LAPSED, "outcome": OUTCOME_WITHDRAWN,
                      "updated_at": self.ctx.now()}}))
        return moved.modified_count == 1

    def expire_at_xendit(self, invoice_id: str) -> bool:
        """Expire a live invoice at Xendit; True when it is no longer payable there."""
        try:
            self.ctx.client.retrying(lambda: self.ctx.client.request(
                "POST", f"/invoices/{invoice_id}/expire!"))
        except XenditError as exc:
            if exc.status != 404:  # 404: not pending any more (expired or paid)
                logger.error("could not expire invoice %s: %s", invoice_id, exc)
                return False
        return True

    # ----------------------------------------------------------------- lapse
    def lapse(self, doc: dict[str, Any], invoice_id: Optional[str] = None) -> bool:
        """An unpaid attempt lapsed (CAS from CREATING/PENDING to EXPIRED); True if moved."""
        fields: dict[str, Any] = {"state": LAPSED, "updated_at": self.ctx.now()}
        if invoice_id:
            fields["invoice_id"] = invoice_id
        moved = with_retries(lambda: self.ctx.db.payments.update_one(
            {"_id": doc["_id"], "state": {"$in": [CREATING, PENDING]}}, {"$set": fields}))
        return moved.modified_count == 1

    def release(self, doc: dict[str, Any]) -> str:
        """An unpaid attempt lapsed: if it is the booking's current one, free the time and
        tell the customer (once)."""
        booking = self.ctx.core.get(doc["code"])
        if booking.status == PENDING_PAYMENT and booking.payment_attempt == doc["attempt"]:
            try:
                self.ctx.core.transition(booking.code, EXPIRED, expected=PENDING_PAYMENT)
            except InvalidTransitionError:
                pass  # paid or cancelled meanwhile
        booking = self.ctx.core.get(doc["code"])
        if booking.status == EXPIRED and booking.payment_attempt == doc["attempt"]:
            metrics.PAYMENTS.labels("expired").inc()
            self.notices.notify(doc, NOTICE_EXPIRED)  # once: one notice id per payment and kind
            return "expired: time released"
        return f"expired: booking is {booking.status}"
