"""Refunds to customers through Xendit (``POST /refunds`` of the paid invoice).

One ``refunds`` document per payment (its id is the payment's). It says what the customer gets
back (``amount``: the whole payment), through which invoice (``invoice_id``), and what was
already paid out of it to which party (``paid_out``, ``paid_out_total``): what the business
must claw back. Its ``state``, every move a compare-and-swap on (state, refund_attempt,
refund_id):

- NEEDED (recorded) → REQUESTED (Xendit accepted attempt ``refund_attempt``: ``refund_id``,
  ``requested_at``) | NEEDED with ``retryable`` (429, 5xx, no answer, no or a rejected key,
  ``DUPLICATE_ERROR``: the next pass repeats the SAME ``Idempotency-key`` and body, so a request
  applied but unanswered refunds once) | FAILED (refused for good, ``failure_code`` and
  ``last_error`` kept: the business refunds by hand);
- FAILED (refused when created) → REQUESTED only by a sender holding Xendit's acceptance of that
  very attempt (two senders of one key, one of them answered with an error);
- REQUESTED → SUCCEEDED | FAILED (as read with ``GET /refunds/{id}``) | NEEDED with the next
  ``refund_attempt`` and no ``refund_id`` (Xendit reported that refund FAILED for a temporary
  reason, e.g. ``INSUFFICIENT_BALANCE``: a new refund under a new key, at most
  ``_MAX_REFUND_ATTEMPTS`` in all).

The ``Idempotency-key`` is ``refund-<payment id>-<refund_attempt>``; the body is built from
stored fields only, so every repeat of an attempt is the same request. Two senders racing on one
attempt send the same key (Xendit makes one refund) and only one CAS records it; a sender whose
read is stale (the attempt moved on) matches nothing. A full refund cannot be made twice at
Xendit either (``MAXIMUM_REFUND_AMOUNT_REACHED``).

Refunds recorded before refunds went through Xendit (no ``refund_attempt``) are never sent: the
business may have refunded them by hand; they stay NEEDED, listed as owed.
"""
from __future__ import annotations

import logging
from typing import Any, Optional

from pymongo import ReturnDocument

from booking.db import with_retries
from booking.payments.common import FAILED, NEEDED, REQUESTED, SUCCEEDED, Context
from booking.xendit import XenditConfigError, XenditError, XenditRetryableError

logger = logging.getLogger(__name__)

REASON_CANCELLED = "booking cancelled after payment"
_XENDIT_REASONS = {REASON_CANCELLED: "CANCELLATION"}  # any other reason: OTHERS
_TEMPORARY_REFUND_FAILURES = {"INSUFFICIENT_BALANCE", "REFUND_TEMPORARILY_UNAVAILABLE"}
_MAX_REFUND_ATTEMPTS = 3
_PAID_OUT_STATES = (REQUESTED, SUCCEEDED)  # payout states: the money went out
_SENDABLE: dict[str, Any] = {"state": NEEDED, "refund_attempt": {"$exists": True}}
_MAX_CAS_ROUNDS = 5


def worth_repeating(exc: XenditError) -> bool:
    """Whether a refused create is asked again with the same key rather than given up."""
    # 429/5xx/no answer, no or a rejected API key, and a key Xendit already holds (409 or
    # DUPLICATE_ERROR: a refund may exist under it, so giving up could refund twice by hand).
    return (isinstance(exc, (XenditRetryableError, XenditConfigError))
            or exc.status in (401, 409) or exc.code == "DUPLICATE_ERROR")


class Refunds:
    """Records refunds owed, nets what was paid out, asks Xendit and follows each refund."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # ----------------------------------------------------------------- record
    def record(self, payment: dict[str, Any], reason: str) -> None:
        """Record once that ``payment`` is owed back in full (``run`` asks Xendit for it)."""
        now = self.ctx.now()
        invoice_id = payment.get("invoice_id") or self._invoice_of(payment["_id"])
        with_retries(lambda: self.ctx.db.refunds.update_one({"_id": payment["_id"]}, {
            "$setOnInsert": {
                "code": payment["code"], "business_id": payment["business_id"],
                "invoice_id": invoice_id, "amount": payment["amount"],
                "currency": payment["currency"], "reason": reason,
                "xendit_reason": _XENDIT_REASONS.get(reason, "OTHERS"), "state": NEEDED,
                "refund_attempt": 1, "retryable": False, "paid_out": {}, "paid_out_total": 0,
                "paid_out_rev": 0, "created_at": now, "updated_at": now}}, upsert=True))
        self.net(payment["_id"], payment["code"])

    def net(self, payment_id: str, code: str) -> None:
        """Write what the payouts of ``payment_id`` already sent into its refund, if any."""
        # A recomputation from older reads (a smaller revision sum) never overwrites.
        docs = with_retries(lambda: list(self.ctx.db.payouts.find(
            {"code": code, "payment_id": payment_id})))
        rev = sum(d.get("rev", 1) for d in docs)
        paid_out = {d["party"]: {"amount": d["amount"], "payout_id": d.get("payout_id"),
                                 "state": d["state"]}
                    for d in docs if d["state"] in _PAID_OUT_STATES}
        with_retries(lambda: self.ctx.db.refunds.update_one(
            {"_id": payment_id, "$or": [{"paid_out_rev": {"$lte": rev}},
                                        {"paid_out_rev": {"$exists": False}}]},
            {"$set": {"paid_out": paid_out, "paid_out_rev": rev,
                      "paid_out_total": sum(p["amount"] for p in paid_out.values())}}))

    def refund(self, payment_id: str) -> Optional[dict[str, Any]]:
        """The refund document of a payment, if one was recorded."""
        return self._read(payment_id)

    # ----------------------------------------------------------------- CAS
    def _cas(self, doc: dict[str, Any], fields: dict[str, Any], unset: tuple[str, ...] = (),
             push: Optional[dict[str, Any]] = None) -> Optional[dict[str, Any]]:
        """Move ``doc`` if it is still in the (state, attempt, refund id) it was read in."""
        update: dict[str, Any] = {"$set": {**fields, "updated_at": self.ctx.now()}}
        if unset:
            update["$unset"] = {name: "" for name in unset}
        if push:
            update["$push"] = push
        return with_retries(lambda: self.ctx.db.refunds.find_one_and_update(
            {"_id": doc["_id"], "state": doc["state"],
             "refund_attempt": doc.get("refund_attempt"), "refund_id": doc.get("refund_id")},
            update, return_document=ReturnDocument.AFTER))

    def _read(self, payment_id: str) -> Optional[dict[str, Any]]:
        return with_retries(lambda: self.ctx.db.refunds.find_one({"_id": payment_id}))

    def _invoice_of(self, payment_id: str) -> Optional[str]:
        """The Xendit invoice a payment was paid through (stored when it was marked PAID)."""
        doc = with_retries(lambda: self.ctx.db.payments.find_one(
            {"_id": payment_id}, {"invoice_id": 1}))
        return doc.get("invoice_id") if doc else None

    # ----------------------------------------------------------------- send
    def run(self, code: Optional[str] = None) -> int:
        """Ask Xendit for the refunds due (of one booking, or all); how many it accepted."""
        query: dict[str, Any] = dict(_SENDABLE)
        if code is not None:
            query["code"] = code
        docs = with_retries(lambda: list(self.ctx.db.refunds.find(query)))
        return sum(self._send(doc) for doc in docs)

    @staticmethod
    def idempotency_key(doc: dict[str, Any]) -> str:
        """The ``Idempotency-key`` of the refund's current attempt (stable across repeats)."""
        return f"refund-{doc['_id']}-{doc['refund_attempt']}"

    @staticmethod
    def payload(doc: dict[str, Any], invoice_id: str) -> dict[str, Any]:
        """The ``POST /refunds`` body of the current attempt, from stored fields only."""
        return {"invoice_id": invoice_id, "reference_id": doc["code"], "amount": doc["amount"],
                "currency": doc["currency"], "reason": doc.get("xendit_reason") or "OTHERS",
                "metadata": {"booking_code": doc["code"], "payment_id": doc["_id"],
                             "refund_attempt": doc["refund_attempt"]}}

    def _send(self, doc: dict[str, Any]) -> int:
        invoice_id = doc.get("invoice_id") or self._invoice_of(doc["_id"])
        if not invoice_id:
            logger.error("refund %s: its payment has no Xendit invoice", doc["_id"])
            self._cas(doc, {"state": FAILED, "retryable": False, "failure_code": "NO_INVOICE",
                            "last_error": "the payment has no Xendit invoice to refund"})
            return 0
        try:
            answer = self.ctx.client.create_refund(self.payload(doc, invoice_id),
                                                   self.idempotency_key(doc))
            if not isinstance(answer, dict) or not answer.get("id"):
                raise XenditRetryableError("POST /refunds: accepted without a refund id")
        except XenditError as exc:
            if worth_repeating(exc):
                logger.warning("refund %s not requested yet (sent again later): %s",
                               doc["_id"], exc)
                self._cas(doc, {"retryable": True, "last_error": str(exc),
                                "failure_code": exc.code or "XENDIT_UNAVAILABLE"})
            else:
                logger.error("refund %s refused by Xendit (the business must refund by hand): "
                             "%s", doc["_id"], exc)
                self._cas(doc, {"state": FAILED, "retryable": False, "last_error": str(exc),
                                "failure_code": exc.code or f"HTTP_{exc.status}"})
            return 0
        requested = self._record_requested(doc, answer)
        if requested is not None:
            self.apply_status(requested, answer)
        return 1

    def _record_requested(self, doc: dict[str, Any], answer: dict[str, Any]
                          ) -> Optional[dict[str, Any]]:
        """Xendit accepted ``doc``'s attempt: REQUESTED, unless that attempt moved on."""
        fields = {"state": REQUESTED, "refund_id": answer["id"], "retryable": False,
                  "xendit_status": answer.get("status"), "requested_at": self.ctx.now()}
        current: Optional[dict[str, Any]] = doc
        for _ in range(_MAX_CAS_ROUNDS):
            if current is None or current.get("refund_attempt") != doc["refund_attempt"]:
                return None  # a later attempt: this answer is stale
            if current["state"] not in (NEEDED, FAILED) or current.get("refund_id"):
                return None  # recorded by another sender of the same key
            moved = self._cas(current, fields)
            if moved is not None:
                return moved
            current = self._read(doc["_id"])
        return None

    # ----------------------------------------------------------------- follow
    def apply_status(self, doc: dict[str, Any], answer: dict[str, Any]) -> None:
        """Apply Xendit's status of ``doc``'s refund (CAS: a stale read changes nothing)."""
        if doc["state"] != REQUESTED or answer.get("id") != doc.get("refund_id"):
            return
        status = answer.get("status")
        if status == "SUCCEEDED":
            self._cas(doc, {"state": SUCCEEDED, "xendit_status": status,
                            "succeeded_at": self.ctx.now()})
        elif status in ("FAILED", "CANCELLED"):
            code = answer.get("failure_code") or status
            earlier = {"failed_refunds": {"refund_id": doc["refund_id"], "failure_code": code,
                                          "refund_attempt": doc["refund_attempt"]}}
            if code in _TEMPORARY_REFUND_FAILURES and doc["refund_attempt"] < _MAX_REFUND_ATTEMPTS:
                logger.warning("refund %s attempt %d failed (%s): trying again", doc["_id"],
                               doc["refund_attempt"], code)
                self._cas(doc, {"state": NEEDED, "xendit_status": status, "failure_code": code,
                                "retryable": True, "refund_attempt": doc["refund_attempt"] + 1},
                          unset=("refund_id", "requested_at"), push=earlier)
            else:
                logger.error("refund %s failed at Xendit (%s): the business must refund by "
                             "hand", doc["_id"], code)
                self._cas(doc, {"state": FAILED, "xendit_status": status, "failure_code": code,
                                "retryable": False})
        elif status and status != doc.get("xendit_status"):
            self._cas(doc, {"xendit_status": status})

    def refresh(self) -> int:
        """Read requested refunds from Xendit and record their status; how many were read."""
        return self.ctx.follow_requested("refunds", "refund_id", self.ctx.client.get_refund,
                                         self.apply_status)
