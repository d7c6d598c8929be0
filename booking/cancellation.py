"""A booking's payment terms and the customer's own cancellation (``booking.deposits`` has the
rules). Mixed into ``BookingService``.

The terms are fixed when the booking is made (``amount_due``, ``cancel_window_hours`` and
``free_until`` on the booking; a move keeps them honest: ``deposits.free_until_after_move``).
Whether a cancellation keeps what was paid is decided on the version the compare-and-swap
cancels (``payment_kept``), so a payment or a move at the same moment cannot slip between the
decision and the cancellation. A business cancelling
(``FrontDesk.cancel``) never keeps anything: it uses the plain lifecycle, and the customer is
refunded in full.
"""
from __future__ import annotations

from typing import Any, Optional

from booking.deposits import Terms, kept_on_cancel, policy_of, terms
from booking.db import with_retries
from booking.errors import InvalidTransitionError
from booking.claims import Stale
from booking.models import ALLOWED_TRANSITIONS, CANCELLED, COMPLETED, OFFERED, Booking, Service

_MAX_STALE_RETRIES = 5


class Cancelling:
    """``terms`` and ``cancel`` of the core (``self`` is a ``BookingService``)."""

    def terms(self: Any, service: Service, customer_id: str) -> Terms:
        """What booking ``service`` asks of this customer up front; a first-time-only policy
        reads whether they have a completed visit at the business (one the desk or the
        customer confirmed: a visit completed by itself may have been a no-show)."""
        policy = policy_of(self.catalog.business(service.business_id), service)
        first_time = not policy.first_time_only or with_retries(
            lambda: self.db.bookings.count_documents(
                {"customer_id": customer_id, "business_id": service.business_id,
                 "status": COMPLETED, "auto_completed": {"$ne": True}}, limit=1)) == 0
        return terms(policy, service.price, first_time)

    def keeps_payment(self: Any, booking: Booking) -> bool:
        """Whether the customer cancelling ``booking`` now would leave what they paid."""
        return bool(booking.paid_by) and kept_on_cancel(booking.cancel_free_until, self.clock())

    def cancel(self: Any, code: str, customer_id: Optional[str] = None,
               business_id: Optional[str] = None) -> Booking:
        """The customer cancels an upcoming booking, freeing its time; what they paid is kept
        when free cancellation has ended (``payment_kept``), decided on the very version the
        compare-and-swap cancels. ``customer_id`` and ``business_id`` check ownership (see
        ``get_owned``)."""
        for _ in range(_MAX_STALE_RETRIES):
            current = self.get_owned(code, customer_id, business_id)
            if CANCELLED not in ALLOWED_TRANSITIONS[current.status] or current.status == OFFERED:
                raise InvalidTransitionError(code, current.status, CANCELLED)
            extra = {"payment_kept": True} if self.keeps_payment(current) else None
            try:
                return with_retries(lambda: self._apply_status(current, CANCELLED, {}, extra))
            except Stale:  # paid, moved or changed meanwhile: decide again on what it is now
                continue
        raise InvalidTransitionError(code, None, CANCELLED)
