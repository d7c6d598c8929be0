"""Reconciliation: apply what Xendit knows and we may have missed; safe anywhere, any time.

Each run, in order:
1. callbacks recorded but not processed (a crash after the 200);
2. payments whose invoice was never created (Xendit unreachable, no key): created now and the
   link sent, if the booking still waits for that attempt; withdrawn otherwise;
3. payments still pending past their expiry (a callback that never came): re-read;
4. payments marked PAID but never settled (the confirmation failed or the process died right
   after the payment was marked): settled now (confirmed, or refunded if the time is gone);
5. holds past their ``hold_until``, whatever Xendit says: a live invoice is expired at Xendit
   first (or, if it was paid, the payment applied); then the booking moves PENDING_PAYMENT →
   EXPIRED by compare-and-swap, its time freed and the customer told (when we know where). A
   hold whose payment is PAID (even if marked only while the link was being expired) is
   never released: the payment decides;
6. payouts to send again or to follow to a final status;
7. refunds owed to send to Xendit (recorded but not yet accepted, or refused for now: the same
   ``Idempotency-key`` again) and refunds requested to follow to a final status.

Steps 1 and 4 leave alone what changed in the last ``_IN_FLIGHT`` (a processor may still be on
it); doing it twice would change nothing anyway (outcomes are set once, effects have unique
keys).
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, Callable, Optional

from booking.db import with_retries
from booking.errors import BookingError
from booking.models import PENDING_PAYMENT, Booking
from booking.payments.callbacks import Callbacks
from booking.payments.common import CREATING, LAPSED, NOTICE_LINK, PAID, PENDING, Context
from booking.payments.invoices import Invoices
from booking.payments.notices import Notices
from booking.payments.payouts import Payouts
from booking.payments.refunds import Refunds
from booking.xendit import XenditError

logger = logging.getLogger(__name__)

_IN_FLIGHT = timedelta(seconds=30)  # younger callbacks and PAID marks are being processed


class Reconciler:
    """One reconciliation pass over callbacks, invoices, holds and payouts."""

    def __init__(self, ctx: Context, invoices: Invoices, callbacks: Callbacks, payouts: Payouts,
                 refunds: Refunds, notices: Notices) -> None:
        self.ctx, self.invoices, self.callbacks = ctx, invoices, callbacks
        self.payouts, self.refunds, self.notices = payouts, refunds, notices

    def reconcile(self) -> dict[str, int]:
        """Run every step once (see the module docstring); returns what each step did."""
        now = self.ctx.now()
        done = {"callbacks": 0, "invoices_created": 0, "invoices_checked": 0,
                "payments_settled": 0, "holds_released": 0, "payouts_sent": 0,
                "payouts_checked": 0, "refunds_sent": 0, "refunds_checked": 0}
        for callback_id in self.callbacks.unprocessed(older_than=now - _IN_FLIGHT):
            self._safely(self.callbacks.process, callback_id)
            done["callbacks"] += 1
        hold = timedelta(minutes=self.ctx.settings.invoice_duration_minutes)
        grace = timedelta(seconds=self.ctx.settings.create_grace_seconds)
        for doc in with_retries(lambda: list(self.ctx.db.payments.find(
                {"state": CREATING, "created_at": {"$lt": now - grace}}))):
            if doc["created_at"] + hold < now:  # too late for a link: step 4 frees the time
                if not self._safely(self.invoices.wanted, doc):
                    self._safely(self.invoices.withdraw, doc)  # its booking moved on
                continue
            payment = self._safely(self.invoices.create, doc, True)
            if payment is not None and payment.invoice_url:
                self.notices.notify(doc, NOTICE_LINK)
                done["invoices_created"] += 1
        for doc in with_retries(lambda: list(self.ctx.db.payments.find(
                {"state": PENDING, "expires_at": {"$lt": now}}))):
            invoice = self._safely(self.ctx.client.get_invoice, doc["invoice_id"])
            if invoice is not None:
                self._safely(self.callbacks.apply_invoice, invoice)
                done["invoices_checked"] += 1
        for doc in with_retries(lambda: list(self.ctx.db.payments.find(
                {"state": PAID, "outcome": None, "updated_at": {"$lt": now - _IN_FLIGHT}}))):
            if self._safely(self.callbacks.settle_paid, doc) is not None:
                done["payments_settled"] += 1
        for booking in self._holds_over(now, hold):
            if self._safely(self.release_hold, booking):
                done["holds_released"] += 1
        done["payouts_sent"] = self.payouts.run()
        done["payouts_checked"] = self.payouts.refresh()
        done["refunds_sent"] = self.refunds.run()
        done["refunds_checked"] = self.refunds.refresh()
        return done

    def _holds_over(self, now: datetime, hold: timedelta) -> list[Booking]:
        """Bookings still PENDING_PAYMENT after their hold (``hold_until``; bookings stored
        before it existed: ``created_at`` plus the invoice duration)."""
        docs = with_retries(lambda: list(self.ctx.db.bookings.find(
            {"status": PENDING_PAYMENT,
             "$or": [{"hold_until": {"$lt": now}},
                     {"hold_until": None, "created_at": {"$lt": now - hold}}]})))
        return [Booking.from_doc(d) for d in docs]

    def release_hold(self, booking: Booking) -> bool:
        """Give a lapsed hold's time back; True when the booking moved to EXPIRED."""
        doc = with_retries(lambda: self.ctx.db.payments.find_one(
            {"code": booking.code, "attempt": booking.payment_attempt}))
        if doc is None:  # never asked for a payment (the action server died after create)
            return self.ctx.core.release_hold(booking.code, booking.payment_attempt)
        if doc["state"] == PAID:
            return self._keep_paid(doc)
        invoice = self._live_invoice(doc)
        if invoice is not None and invoice.get("status") in ("PAID", "SETTLED"):
            self.callbacks.apply_invoice(invoice)
            return False
        if invoice is not None and invoice.get("status") == "PENDING":
            self.invoices.expire_at_xendit(invoice["id"])  # best effort: the hold is over
        if not self.invoices.lapse(doc, invoice["id"] if invoice else None):
            doc = with_retries(lambda: self.ctx.db.payments.find_one({"_id": doc["_id"]}))
            if doc is None or doc["state"] == PAID:  # paid while its link was being expired
                return self._keep_paid(doc) if doc else False
        return self.invoices.release(doc) == "expired: time released"

    def _keep_paid(self, doc: dict[str, Any]) -> bool:
        """A hold whose payment is PAID is not released: the payment confirms the booking (or
        refunds it). One whose settling never happened is settled here, unless it was marked
        moments ago (its processor is on it; a later pass looks again). Returns False."""
        if doc.get("outcome") is None and doc["updated_at"] < self.ctx.now() - _IN_FLIGHT:
            self.callbacks.settle_paid(doc)
        return False

    def _live_invoice(self, doc: dict[str, Any]) -> Optional[dict[str, Any]]:
        """The attempt's invoice as Xendit has it, or None (none made, or Xendit unreachable)."""
        try:
            if doc.get("invoice_id"):
                return self.ctx.client.get_invoice(doc["invoice_id"])
            if doc["state"] != LAPSED:
                return self.ctx.client.live_invoice(doc["_id"])
        except XenditError as exc:
            logger.warning("hold of %s ends without Xendit's word: %s", doc["code"], exc)
        return None

    @staticmethod
    def _safely(call: Callable[..., Any], *args: Any) -> Any:
        try:
            return call(*args)
        except (XenditError, BookingError) as exc:
            logger.error("reconciliation step %s failed: %s", getattr(call, "__name__", call), exc)
            return None
