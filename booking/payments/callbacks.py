"""Xendit invoice callbacks: recorded before the 200, processed by re-reading the invoice.

A callback is stored under ``<invoice id>:<status>`` (unique), state NEW → DONE | IGNORED.
Processing trusts only the invoice as read from Xendit (external id, amount, currency). A
payment's ``outcome`` is set once (CAS from none) and decides what the customer is told:
``confirmed`` (payouts scheduled), ``refund_needed`` (paid after the time was given up) or
``withdrawn`` (the attempt was withdrawn; if Xendit still reports it PAID, it is refunded: the
refund is recorded, the customer told, and Xendit asked for it at once).
Marking a payment PAID and settling its booking are two writes: if the second fails, the
callback stays NEW (processed again) and reconciliation settles any PAID payment left without
an outcome (``settle_paid``).
"""
from __future__ import annotations

import json
import logging
import secrets
from datetime import datetime
from typing import Any, Optional

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from booking import metrics
from booking.db import with_retries
from booking.errors import InvalidTransitionError, SlotConflictError
from booking.payments.common import (
    CREATING, LAPSED, NOTICE_PAID, NOTICE_REFUND, OUTCOME_CONFIRMED, OUTCOME_REFUND,
    OUTCOME_WITHDRAWN, PAID, PENDING, CallbackError, Context, parse_instant,
)
from booking.payments.invoices import Invoices
from booking.payments.notices import Notices
from booking.payments.payouts import Payouts
from booking.payments.refunds import Refunds
from booking.xendit import XenditNotFoundError

logger = logging.getLogger(__name__)

_REFUND_REASONS = {OUTCOME_REFUND: "paid after the time was given up",
                   OUTCOME_WITHDRAWN: "paid after the invoice was withdrawn"}


class Callbacks:
    """Records and processes invoice callbacks; applies invoices as Xendit reports them."""

    def __init__(self, ctx: Context, invoices: Invoices, payouts: Payouts, refunds: Refunds,
                 notices: Notices) -> None:
        self.ctx, self.invoices, self.payouts, self.notices = ctx, invoices, payouts, notices
        self.refunds = refunds

    # ----------------------------------------------------------------- record
    def record(self, body: Any) -> bool:
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
            with_retries(lambda: self.ctx.db.xendit_callbacks.insert_one({
                "_id": f"{invoice_id}:{status}", "invoice_id": invoice_id, "status": status,
                "external_id": body["external_id"][:255],
                # as JSON text: whatever it holds (64-bit overflowing numbers, "$" keys) stores
                "body": json.dumps(body), "state": "NEW",
                "received_at": self.ctx.now()}))
        except DuplicateKeyError:
            return False
        return True

    def unprocessed(self, older_than: Optional[datetime] = None) -> list[str]:
        """Ids of callbacks recorded but not processed, oldest first."""
        query: dict[str, Any] = {"state": "NEW"}
        if older_than is not None:
            query["received_at"] = {"$lt": older_than}
        return [d["_id"] for d in with_retries(lambda: list(
            self.ctx.db.xendit_callbacks.find(query, {"_id": 1}).sort("received_at", 1)))]

    # ----------------------------------------------------------------- process
    def process(self, callback_id: str, payouts: bool = True) -> Optional[str]:
        """Re-read the callback's invoice from Xendit and apply what it says (once); then
        send the payouts it scheduled (``payouts=False``: the caller does, later). Returns the
        booking code concerned, if any."""
        doc = with_retries(lambda: self.ctx.db.xendit_callbacks.find_one({"_id": callback_id}))
        if doc is None or doc["state"] != "NEW":
            return None
        try:
            invoice = self.ctx.client.get_invoice(doc["invoice_id"])
        except XenditNotFoundError:
            self._finish(callback_id, "IGNORED", "no such invoice at Xendit")
            return None
        result = self.apply_invoice(invoice)
        self._finish(callback_id, "DONE", result)
        payment = with_retries(lambda: self.ctx.db.payments.find_one(
            {"_id": invoice.get("external_id")}, {"code": 1}))
        code = payment["code"] if payment else None
        if payouts and code:
            self.payouts.run(code)
        return code

    def _finish(self, callback_id: str, state: str, result: str) -> None:
        with_retries(lambda: self.ctx.db.xendit_callbacks.update_one(
            {"_id": callback_id}, {"$set": {"state": state, "result": result,
                                            "processed_at": self.ctx.now()}}))

    def apply_invoice(self, invoice: dict[str, Any]) -> str:
        """Apply an invoice as read from Xendit; returns what happened (for the record)."""
        payment_id = invoice.get("external_id")
        doc = with_retries(lambda: self.ctx.db.payments.find_one({"_id": payment_id}))
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
            with_retries(lambda: self.ctx.db.payments.update_one(
                {"_id": payment_id}, {"$set": {"anomaly": "amount or currency mismatch"}}))
            return "amount or currency mismatch"
        status = invoice.get("status")
        if status in ("PAID", "SETTLED"):
            return self._apply_paid(doc, invoice)
        if status == "EXPIRED":
            return self._apply_lapsed(doc, invoice)
        return f"status {status}: nothing to do"

    def _apply_paid(self, doc: dict[str, Any], invoice: dict[str, Any]) -> str:
        now = self.ctx.now()
        paid_at = parse_instant(invoice.get("paid_at")) or now
        with_retries(lambda: self.ctx.db.payments.update_one(
            {"_id": doc["_id"], "state": {"$ne": PAID}},
            {"$set": {"state": PAID, "invoice_id": invoice["id"], "paid_at": paid_at,
                      "paid_amount": invoice.get("paid_amount", invoice.get("amount")),
                      "payment_method": invoice.get("payment_method", ""),
                      "payment_channel": invoice.get("payment_channel", ""),
                      "receipt_token": secrets.token_urlsafe(24), "updated_at": now}}))
        return self.settle_paid(doc)

    def settle_paid(self, doc: dict[str, Any]) -> str:
        """Carry out what payment ``doc``, marked PAID, means for its booking: confirm it (or,
        when that cannot be, record the refund) and tell the customer. Once: the outcome is set
        once and every effect has a unique key, so a second run (a replay, reconciliation
        re-applying a payment whose settling failed after it was marked PAID) changes nothing.
        Returns what happened (for the record)."""
        outcome = doc.get("outcome")
        if outcome is None:
            try:
                self.ctx.core.settle_payment(doc["code"], doc["_id"])
                outcome = OUTCOME_CONFIRMED
            except (SlotConflictError, InvalidTransitionError) as exc:
                logger.warning("payment %s cannot confirm %s: %s", doc["_id"], doc["code"], exc)
                outcome = OUTCOME_REFUND
            outcome = self._set_outcome(doc["_id"], outcome)
        if outcome == OUTCOME_CONFIRMED:
            booking = self.ctx.core.get(doc["code"])
            self.invoices.withdraw_invoices(booking.code, keep=doc["_id"])
            self.payouts.schedule(booking, doc["_id"])
            self.notices.notify(doc, NOTICE_PAID)
        elif outcome in _REFUND_REASONS:
            self.refunds.record(doc, _REFUND_REASONS[outcome])
            self.notices.notify(doc, NOTICE_REFUND, reason=outcome)
            self.refunds.run(doc["code"])  # at once; reconciliation repeats what this misses
        return f"paid: {outcome}"

    def _apply_lapsed(self, doc: dict[str, Any], invoice: dict[str, Any]) -> str:
        moved = with_retries(lambda: self.ctx.db.payments.find_one_and_update(
            {"_id": doc["_id"], "state": {"$in": [CREATING, PENDING]}},
            {"$set": {"state": LAPSED, "invoice_id": invoice["id"],
                      "updated_at": self.ctx.now()}}, return_document=ReturnDocument.AFTER))
        if moved is None and doc["state"] != LAPSED:
            return f"expired: ignored, payment is {doc['state']}"
        return self.invoices.release(doc)

    def _set_outcome(self, payment_id: str, outcome: str) -> str:
        """Set a payment's outcome once; return the one that stands."""
        doc = with_retries(lambda: self.ctx.db.payments.find_one_and_update(
            {"_id": payment_id, "outcome": None}, {"$set": {"outcome": outcome}},
            return_document=ReturnDocument.AFTER))
        if doc is None:
            doc = with_retries(lambda: self.ctx.db.payments.find_one({"_id": payment_id}))
        else:
            metrics.PAYMENTS.labels(outcome).inc()  # counted once, by the call that set it
        return doc["outcome"]
