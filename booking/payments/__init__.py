"""Payments up front: Xendit invoices, callbacks, payouts to vendor and villa, reconciliation.

One module per state machine, composed here by ``PaymentService``:

- ``invoices``: a booking's invoice attempts (``payments``: CREATING → PENDING → PAID |
  EXPIRED);
- ``callbacks``: recorded before the 200, applied by re-reading the invoice; outcomes set once;
- ``payouts``: vendor and villa shares (SCHEDULED → REQUESTED → SUCCEEDED | FAILED, or
  CANCELLED with the booking);
- ``refunds``: the customer's money back through Xendit, in full, exactly once (NEEDED →
  REQUESTED → SUCCEEDED | FAILED), with what was already paid out of it (to claw back);
- ``reconciliation``: what Xendit knows and we missed, holds released at ``hold_until``, and
  payouts and refunds sent again or followed;
- ``notices``: the news each customer is told (one per payment and kind);
- ``common``: the shared states, types and settings.

Every effect is a compare-and-swap or an insert under a unique id, so replays, reorderings and
a second processor change nothing; all reads and writes go through ``with_retries`` and all
times come from the core's clock.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Optional

from pymongo import ASCENDING

from booking.bookings import BookingService
from booking.db import ensure_ttl_index, with_retries
from booking.models import CANCELLED, Booking
from booking.payments.callbacks import Callbacks
from booking.payments.common import (
    CREATING, FAILED, LAPSED, NEEDED, NOTICE_EXPIRED, NOTICE_LINK, NOTICE_PAID, NOTICE_REFUND,
    OUTCOME_CONFIRMED, OUTCOME_REFUND, OUTCOME_WITHDRAWN, PAID, PAYOUT_CANCELLED, PENDING,
    REQUESTED, SCHEDULED, SUCCEEDED, CallbackError, Context, Conversation, Payment,
    PaymentSettings, parse_instant,
)
from booking.payments.invoices import Invoices
from booking.payments.notices import Notices
from booking.payments.payouts import Payouts
from booking.payments.receipts import Receipts
from booking.payments.reconciliation import Reconciler
from booking.payments.refunds import REASON_CANCELLED, Refunds
from booking.receipt import ReceiptData
from booking.xendit import XenditClient

__all__ = [
    "CREATING", "FAILED", "LAPSED", "NEEDED", "NOTICE_EXPIRED", "NOTICE_LINK", "NOTICE_PAID",
    "NOTICE_REFUND", "OUTCOME_CONFIRMED", "OUTCOME_REFUND", "OUTCOME_WITHDRAWN", "PAID",
    "PAYOUT_CANCELLED", "PENDING", "REQUESTED", "SCHEDULED", "SUCCEEDED", "CallbackError",
    "Conversation", "Payment", "PaymentService", "PaymentSettings", "parse_instant",
]


class PaymentService:
    """Takes payment for bookings at businesses that require it; see the module docstring."""

    def __init__(self, core: BookingService, client: XenditClient,
                 settings: PaymentSettings = PaymentSettings()) -> None:
        self.core, self.client, self.settings = core, client, settings
        self.db = core.db
        ctx = Context(core, client, settings)
        self.notices = Notices(ctx)
        self.refunds = Refunds(ctx)
        self.payouts = Payouts(ctx, self.refunds)
        self.invoices = Invoices(ctx, self.notices)
        self.callbacks = Callbacks(ctx, self.invoices, self.payouts, self.refunds, self.notices)
        self.reconciler = Reconciler(ctx, self.invoices, self.callbacks, self.payouts,
                                     self.refunds, self.notices)
        self.receipts = Receipts(ctx)

    def ensure_indexes(self) -> None:
        """Indexes of the payment collections, and the retention of callbacks and notices
        (``DATA_RETENTION_DAYS``: TTL indexes on when they arrived)."""
        self.db.payments.create_index([("code", ASCENDING), ("attempt", ASCENDING)])
        self.db.payments.create_index([("state", ASCENDING), ("expires_at", ASCENDING)])
        self.db.payments.create_index("invoice_id", sparse=True)
        self.db.payments.create_index("receipt_token", unique=True, sparse=True)
        self.db.xendit_callbacks.create_index([("state", ASCENDING), ("received_at", ASCENDING)])
        self.db.payment_notices.create_index([("state", ASCENDING), ("created_at", ASCENDING)])
        self.db.payouts.create_index([("state", ASCENDING), ("updated_at", ASCENDING)])
        self.db.payouts.create_index("code")
        self.db.refunds.create_index("code")
        self.db.refunds.create_index([("state", ASCENDING), ("updated_at", ASCENDING)])
        seconds = self.settings.retention_seconds
        ensure_ttl_index(self.db.xendit_callbacks, "received_at", seconds)
        ensure_ttl_index(self.db.payment_notices, "created_at", seconds)

    # ----------------------------------------------------------------- invoices
    def request_payment(self, booking: Booking, conversation: Conversation) -> Payment:
        """The invoice of the booking's current payment attempt (see ``Invoices``)."""
        return self.invoices.request_payment(booking, conversation)

    def current_payment(self, code: str) -> Optional[Payment]:
        """The latest payment attempt of a booking."""
        return self.invoices.current_payment(code)

    def payment(self, payment_id: str) -> Payment:
        """The payment with this id, or ``UnknownEntityError``."""
        return self.invoices.payment(payment_id)

    def pay_again(self, code: str, customer_id: str, conversation: Conversation,
                  business_id: Optional[str] = None) -> Payment:
        """After an expired link: hold the time again (if free) and issue a new invoice.

        Raises:
            UnknownEntityError: no such booking of ``customer_id`` (at ``business_id``, when
                given).
            SlotConflictError: the time is taken or too soon now (with alternatives).
            InvalidTransitionError: the booking is neither expired nor waiting for payment.
            CustomerLimitError: too many payment attempts or unpaid holds.
        """
        booking = self.core.hold_again(code, customer_id, business_id=business_id)
        return self.request_payment(booking, conversation)

    def withdraw_invoices(self, code: str, keep: Optional[str] = None) -> int:
        """Withdraw a booking's unpaid attempts; returns how many were withdrawn."""
        return self.invoices.withdraw_invoices(code, keep)

    def after_cancel(self, booking: Booking) -> int:
        """A booking was cancelled: withdraw its unpaid invoices; unless what was paid is kept
        (the customer cancelled after the booking's cancellation window: its payouts go on,
        ``booking.deposits``), cancel its unsent payouts and refund what was paid (recorded
        with what payouts already sent; the next reconciliation pass asks Xendit, so the
        customer's reply never waits for it). Returns the amount to refund (0 if none)."""
        self.withdraw_invoices(booking.code)
        current = self.core.get(booking.code)
        if current.status != CANCELLED or current.payment_kept:
            return 0
        self.payouts.cancel_unsent(current.code)
        if not current.paid_by:
            return 0
        doc = with_retries(lambda: self.db.payments.find_one({"_id": current.paid_by}))
        if doc is None:
            return 0
        self.refunds.record(doc, REASON_CANCELLED)
        return int(doc["amount"])

    # ----------------------------------------------------------------- callbacks
    def record_callback(self, body: Any) -> bool:
        """Store a verified callback under ``<invoice id>:<status>``; False for a replay."""
        return self.callbacks.record(body)

    def unprocessed_callbacks(self, older_than: Optional[datetime] = None) -> list[str]:
        """Ids of callbacks recorded but not processed, oldest first."""
        return self.callbacks.unprocessed(older_than)

    def process_callback(self, callback_id: str, payouts: bool = True) -> Optional[str]:
        """Apply a recorded callback (see ``Callbacks.process``); the booking code, if any."""
        return self.callbacks.process(callback_id, payouts)

    def apply_invoice(self, invoice: dict[str, Any]) -> str:
        """Apply an invoice as read from Xendit; returns what happened."""
        return self.callbacks.apply_invoice(invoice)

    # ----------------------------------------------------------------- notices
    def notice(self, payment_id: str, kind: str) -> Optional[dict[str, Any]]:
        """The news ``kind`` of a payment, if the server wrote it (``None`` otherwise)."""
        return self.notices.notice(payment_id, kind)

    def claim_notice(self, stale_after: timedelta = timedelta(minutes=5)
                     ) -> Optional[dict[str, Any]]:
        """The next notice to send (claimed); one left claimed by a crashed sender is sent
        again after ``stale_after``."""
        return self.notices.claim(stale_after)

    def finish_notice(self, notice_id: str, ok: bool = True, error: str = "") -> None:
        """Record that a notice was sent (or failed for good)."""
        self.notices.finish(notice_id, ok, error)

    # ----------------------------------------------------------------- payouts
    def schedule_payouts(self, booking: Booking, payment_id: str) -> None:
        """One payout per party with a destination; scheduling twice changes nothing."""
        self.payouts.schedule(booking, payment_id)

    def run_payouts(self, code: Optional[str] = None) -> int:
        """Send scheduled payouts (of one booking, or all); returns how many were sent."""
        return self.payouts.run(code)

    @staticmethod
    def idempotency_key(doc: dict[str, Any]) -> str:
        """The ``Idempotency-key`` of a payout's current transfer attempt."""
        return Payouts.idempotency_key(doc)

    def refresh_payouts(self) -> int:
        """Read payouts not yet final from Xendit and record their status."""
        return self.payouts.refresh()

    # ----------------------------------------------------------------- refunds
    def run_refunds(self, code: Optional[str] = None) -> int:
        """Ask Xendit for the refunds due (of one booking, or all); how many it accepted."""
        return self.refunds.run(code)

    def refresh_refunds(self) -> int:
        """Read refunds not yet final from Xendit and record their status."""
        return self.refunds.refresh()

    def refund(self, payment_id: str) -> Optional[dict[str, Any]]:
        """The refund document of a payment, if one was recorded."""
        return self.refunds.refund(payment_id)

    # ----------------------------------------------------------------- reconciliation
    def reconcile(self) -> dict[str, int]:
        """One reconciliation pass (see ``booking.payments.reconciliation``)."""
        return self.reconciler.reconcile()

    # ----------------------------------------------------------------- receipts
    def receipt_url(self, token: str, language: str = "en") -> str:
        """The public address of a receipt, printed in ``language``."""
        return self.receipts.url(token, language)

    def receipt_pdf(self, token: str, language: str = "en") -> Optional[bytes]:
        """The PDF confirmation behind an unguessable token (None if there is none)."""
        return self.receipts.pdf(token, language)

    def receipt_data(self, doc: dict[str, Any]) -> ReceiptData:
        """What the receipt of payment ``doc`` shows."""
        return self.receipts.data(doc)
