"""Payouts to vendor and villa (Payouts v2), netted into the refunds a business owes.

One ``payouts`` document per booking and party. Its state machine, every move a
compare-and-swap on (state, transfer_attempt, payout_id) that also bumps ``rev``:

- SCHEDULED → REQUESTED (Xendit accepted the transfer) | FAILED (refused for now, ``retryable``:
  sent again with the same key) | CANCELLED (the booking no longer stands paid);
- FAILED (retryable) → REQUESTED | FAILED | CANCELLED;
- REQUESTED → SUCCEEDED | FAILED (final) | SCHEDULED with the next ``transfer_attempt`` (Xendit
  reported that very transfer FAILED for a temporary reason);
- CANCELLED → REQUESTED only by a sender holding Xendit's answer for that attempt's key (the
  transfer went out while the booking was being cancelled; the refund record nets it).

A payout is sent only while its booking stands paid by the payment that scheduled it
(CONFIRMED, or COMPLETED / NO_SHOW after it, or CANCELLED by the customer after its
cancellation window: what was paid is kept, ``booking.deposits``). It shares out what was
paid (a deposit, or the price), not what the visit costs. A stale reader's CAS matches nothing, so two
reconcilers racing make one transfer per party and attempt, with one ``Idempotency-key``.

Every payout move is written into the refund of its payment, if there is one (what was paid
out of it, ``booking.payments.refunds``); a payout found unpayable because its booking was
cancelled after payment records that refund.
"""
from __future__ import annotations

import logging
from typing import Any, Optional

from pymongo import ReturnDocument

from booking import metrics
from booking.db import with_retries
from booking.errors import UnknownEntityError
from booking.models import CANCELLED, COMPLETED, CONFIRMED, NO_SHOW, Booking
from booking.payments.common import (
    FAILED, PAYOUT_CANCELLED, REQUESTED, SCHEDULED, SUCCEEDED, Context,
)
from booking.payments.refunds import REASON_CANCELLED, Refunds
from booking.split import split_payment
from booking.xendit import XenditError, XenditRetryableError

logger = logging.getLogger(__name__)

_TEMPORARY_PAYOUT_FAILURES = {"TEMPORARY_TRANSFER_ERROR", "INSUFFICIENT_BALANCE"}
_PAID_BOOKING_STATUSES = (CONFIRMED, COMPLETED, NO_SHOW)
_SENDABLE = {"$or": [{"state": SCHEDULED}, {"state": FAILED, "retryable": True}]}
_MAX_CAS_ROUNDS = 5


class Payouts:
    """Schedules, sends, follows and cancels payouts; keeps the refunds' netting current."""

    def __init__(self, ctx: Context, refunds: Refunds) -> None:
        self.ctx, self.refunds = ctx, refunds

    # ----------------------------------------------------------------- schedule
    def schedule(self, booking: Booking, payment_id: str) -> None:
        """One payout per party with a destination (vendor, villa); the platform keeps its
        share. Scheduling twice changes nothing."""
        catalog = self.ctx.core.catalog
        business = catalog.business(booking.business_id)
        villa = catalog.villa(booking.villa_id) if booking.villa_id else None
        paid = with_retries(lambda: self.ctx.db.payments.find_one({"_id": payment_id}))
        # what was paid (the deposit, or the price) is what is shared out
        split = split_payment(paid["amount"] if paid else booking.due_now, business, villa)
        now = self.ctx.now()
        for party, amount, destination in (("vendor", split.vendor, business.payout),
                                           ("villa", split.villa, villa.payout if villa else None)):
            if amount <= 0 or destination is None:
                continue
            doc_id = f"{booking.code}:{party}"
            with_retries(lambda: self.ctx.db.payouts.update_one({"_id": doc_id}, {
                "$setOnInsert": {
                    "code": booking.code, "booking_id": booking.id, "payment_id": payment_id,
                    "business_id": booking.business_id, "party": party, "amount": amount,
                    "currency": booking.currency, "destination": destination.__dict__,
                    "split": split.__dict__, "state": SCHEDULED, "transfer_attempt": 1,
                    "rev": 1, "created_at": now, "updated_at": now}}, upsert=True))

    # ----------------------------------------------------------------- CAS
    def _cas(self, doc: dict[str, Any], fields: dict[str, Any],
             unset: tuple[str, ...] = ()) -> Optional[dict[str, Any]]:
        """Move ``doc`` if it is still in the (state, attempt, payout id) it was read in."""
        update: dict[str, Any] = {"$set": {**fields, "updated_at": self.ctx.now()},
                                  "$inc": {"rev": 1}}
        if unset:
            update["$unset"] = {name: "" for name in unset}
        return with_retries(lambda: self.ctx.db.payouts.find_one_and_update(
            {"_id": doc["_id"], "state": doc["state"],
             "transfer_attempt": doc["transfer_attempt"], "payout_id": doc.get("payout_id")},
            update, return_document=ReturnDocument.AFTER))

    def _read(self, payout_doc_id: str) -> Optional[dict[str, Any]]:
        return with_retries(lambda: self.ctx.db.payouts.find_one({"_id": payout_doc_id}))

    # ----------------------------------------------------------------- send
    def run(self, code: Optional[str] = None) -> int:
        """Send scheduled payouts (of one booking, or all); returns how many were sent."""
        query: dict[str, Any] = dict(_SENDABLE)
        if code is not None:
            query["code"] = code
        docs = with_retries(lambda: list(self.ctx.db.payouts.find(query)))
        return sum(self._send(doc) for doc in docs)

    @staticmethod
    def idempotency_key(doc: dict[str, Any]) -> str:
        """Stable per booking, party and transfer attempt (a new attempt only after Xendit
        reported the previous transfer FAILED for a temporary reason)."""
        return f"payout-{doc['booking_id']}-{doc['party']}-{doc['transfer_attempt']}"

    def _payable(self, doc: dict[str, Any]) -> bool:
        try:
            booking = self.ctx.core.get(doc["code"])
        except UnknownEntityError:
            return False
        kept = booking.status == CANCELLED and booking.payment_kept  # a late cancellation
        return (booking.status in _PAID_BOOKING_STATUSES or kept) and (
            booking.paid_by == doc["payment_id"])

    def _send(self, doc: dict[str, Any]) -> int:
        if not self._payable(doc):
            if self._cas(doc, {"state": PAYOUT_CANCELLED, "retryable": False}) is not None:
                logger.info("payout %s cancelled: the booking no longer stands paid", doc["_id"])
                self._refund_cancelled(doc)
            return 0
        destination = doc["destination"]
        body = {"reference_id": f"{doc['code']}-{doc['party']}-{doc['transfer_attempt']}",
                "channel_code": destination["channel_code"],
                "channel_properties": {"account_number": destination["account_number"],
                                       "account_holder_name": destination["account_holder_name"]},
                "amount": doc["amount"], "currency": doc["currency"],
                "description": f"Booking {doc['code']}: {doc['party']} share"}
        try:
            answer = self.ctx.client.create_payout(body, self.idempotency_key(doc))
        except XenditError as exc:
            retryable = isinstance(exc, XenditRetryableError)
            logger.error("payout %s failed%s: %s", doc["_id"],
                         " (Xendit unavailable)" if retryable else "", exc)
            moved = self._cas(doc, {"state": FAILED, "retryable": retryable,
                                    "failure_code": exc.code or "XENDIT_UNAVAILABLE",
                                    "last_error": str(exc)})
            if moved is not None and not retryable:
                metrics.PAYOUTS.labels("failed").inc()  # refused for good
            return 0
        requested = self._record_requested(doc, answer)
        if requested is not None:
            self.apply_status(requested, answer)
        self.refunds.net(doc["payment_id"], doc["code"])
        return 1

    def _record_requested(self, doc: dict[str, Any], answer: dict[str, Any]
                          ) -> Optional[dict[str, Any]]:
        """Xendit accepted transfer ``transfer_attempt`` of ``doc``: REQUESTED, from whatever
        unsent state it is in now (another sender or a cancel may have moved it meanwhile)."""
        fields = {"state": REQUESTED, "payout_id": answer.get("id"),
                  "xendit_status": answer.get("status"), "retryable": False}
        current: Optional[dict[str, Any]] = doc
        for _ in range(_MAX_CAS_ROUNDS):
            if current is None or current["transfer_attempt"] != doc["transfer_attempt"]:
                return None
            unsent = current["state"] in (SCHEDULED, FAILED, PAYOUT_CANCELLED)
            if not unsent or current.get("payout_id"):
                return None  # recorded by another sender of the same key
            moved = self._cas(current, fields)
            if moved is not None:
                return moved
            current = self._read(doc["_id"])
        return None

    # ----------------------------------------------------------------- follow
    def apply_status(self, doc: dict[str, Any], answer: dict[str, Any]) -> None:
        """Apply Xendit's status of the transfer ``doc`` was read with (CAS: a stale read
        changes nothing)."""
        status = answer.get("status")
        if doc["state"] != REQUESTED or answer.get("id") != doc.get("payout_id"):
            return
        if status == "SUCCEEDED":
            if self._cas(doc, {"state": SUCCEEDED, "xendit_status": status}) is not None:
                metrics.PAYOUTS.labels("succeeded").inc()
        elif status in ("FAILED", "CANCELLED", "REVERSED"):
            code = answer.get("failure_code") or status
            if (code in _TEMPORARY_PAYOUT_FAILURES
                    and doc["transfer_attempt"] < self.ctx.settings.payout_transfer_attempts):
                self._cas(doc, {"state": SCHEDULED, "xendit_status": status, "failure_code": code,
                                "transfer_attempt": doc["transfer_attempt"] + 1},
                          unset=("payout_id",))
            elif self._cas(doc, {"state": FAILED, "xendit_status": status,
                                 "failure_code": code, "retryable": False}) is not None:
                metrics.PAYOUTS.labels("failed").inc()  # for good: the business is alerted
        elif status and status != doc.get("xendit_status"):
            self._cas(doc, {"xendit_status": status})
        self.refunds.net(doc["payment_id"], doc["code"])

    def refresh(self) -> int:
        """Read payouts not yet final from Xendit and record their status."""
        return self.ctx.follow_requested("payouts", "payout_id", self.ctx.client.get_payout,
                                         self.apply_status)

    # ----------------------------------------------------------------- cancel and refund
    def cancel_unsent(self, code: str) -> int:
        """The booking was cancelled: payouts not yet sent never will be; returns how many."""
        result = with_retries(lambda: self.ctx.db.payouts.update_many(
            {"code": code, **_SENDABLE},
            {"$set": {"state": PAYOUT_CANCELLED, "retryable": False,
                      "updated_at": self.ctx.now()}, "$inc": {"rev": 1}}))
        return result.modified_count

    def _refund_cancelled(self, payout: dict[str, Any]) -> None:
        """A paid booking was cancelled without ``after_cancel`` (a crash): record its refund."""
        try:
            booking = self.ctx.core.get(payout["code"])
        except UnknownEntityError:
            return
        if (booking.status != CANCELLED or booking.payment_kept
                or booking.paid_by != payout["payment_id"]):
            return
        payment = with_retries(lambda: self.ctx.db.payments.find_one({"_id": booking.paid_by}))
        if payment is not None:
            self.refunds.record(payment, REASON_CANCELLED)  # sent by the next refunds run
