"""A booking's payment lifecycle: paid (settle), held again ("Pay again"), hold end, release.

Mixed into ``BookingService``; every move is its compare-and-swap ``_apply_status``.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from booking.claims import CellTaken, SlotTaken, Stale
from booking.db import with_retries
from booking.errors import InvalidTransitionError, SlotConflictError
from booking.models import CONFIRMED, EXPIRED, PENDING_PAYMENT, Booking

_MAX_STALE_RETRIES = 5


class PaymentHolds:
    """``settle_payment``, ``hold_again``, ``set_hold_until`` and ``release_hold`` of the core
    (``self`` is a ``BookingService``)."""

    def settle_payment(self: Any, code: str, payment_id: str) -> Booking:
        """Confirm a booking paid through payment ``payment_id``: PENDING_PAYMENT → CONFIRMED,
        or EXPIRED → CONFIRMED when its time is still free. Repeating it returns the booking.

        Raises:
            SlotConflictError: the booking had expired and its time was taken since.
            InvalidTransitionError: the booking was cancelled, or confirmed by another payment.
        """
        for _ in range(_MAX_STALE_RETRIES):
            current = self.get(code)
            if current.status == CONFIRMED and current.paid_by == payment_id:
                return current
            if current.status not in (PENDING_PAYMENT, EXPIRED):
                raise InvalidTransitionError(code, current.status, CONFIRMED)
            try:
                return with_retries(lambda: self._apply_status(
                    current, CONFIRMED, {"payment": payment_id}, {"paid_by": payment_id}))
            except Stale:
                continue
            except CellTaken:
                raise SlotConflictError("the time was taken after the payment link expired")
        raise InvalidTransitionError(code, None, CONFIRMED)

    def hold_again(self: Any, code: str, customer_id: Optional[str] = None,
                   business_id: Optional[str] = None) -> Booking:
        """An EXPIRED booking's time is held again for a new payment attempt (``Pay again``):
        EXPIRED → PENDING_PAYMENT with the next ``payment_attempt`` and a new ``hold_until``,
        if the time is free and still ahead.

        ``customer_id`` and ``business_id``, when given, must be the booking's (see
        ``get_owned``).

        Raises:
            UnknownEntityError: no such booking (for this customer and business).
            SlotConflictError: the time is taken (with alternatives) or has passed.
            InvalidTransitionError: the booking is not expired.
            CustomerLimitError: ``payment_attempts`` used up, or too many ``unpaid_holds`` /
                ``upcoming`` bookings.
        """
        for _ in range(_MAX_STALE_RETRIES):
            current = self.get_owned(code, customer_id, business_id)
            if current.status == PENDING_PAYMENT:
                return current  # already held (a repeated tap)
            if current.status != EXPIRED:
                raise InvalidTransitionError(code, current.status, PENDING_PAYMENT)
            self.customer_slots.check_attempts(current.payment_attempt)
            now = self.clock()
            if current.start - now < self.rules.min_notice:
                raise SlotConflictError("that time is too soon now", [
                    s.start for s in self.next_free(current.service_id, now)])
            extra = {"payment_attempt": current.payment_attempt + 1,
                     "hold_until": now + self.hold,
                     **self.customer_slots.pick(current.business_id, current.customer_id,
                                                unpaid=True)}
            try:
                return with_retries(lambda: self._apply_status(current, PENDING_PAYMENT, {}, extra))
            except (Stale, SlotTaken):
                continue
            except CellTaken:
                raise SlotConflictError("that time has been taken", [
                    s.start for s in self.next_free(current.service_id, current.start)])
        raise InvalidTransitionError(code, None, PENDING_PAYMENT)

    def set_hold_until(self: Any, code: str, until: datetime,
                       attempt: Optional[int] = None) -> None:
        """Record until when an unpaid booking's time is held (the invoice expiry); only
        while it waits for payment (on payment attempt ``attempt``, when given)."""
        query: dict[str, Any] = {"code": code, "status": PENDING_PAYMENT}
        if attempt is not None:
            query["payment_attempt"] = attempt
        with_retries(lambda: self.db.bookings.update_one(query, {"$set": {"hold_until": until}}))

    def release_hold(self: Any, code: str, attempt: int) -> bool:
        """The hold of payment attempt ``attempt`` is over: PENDING_PAYMENT → EXPIRED by
        compare-and-swap, freeing the time. False when the booking moved on meanwhile."""
        for _ in range(_MAX_STALE_RETRIES):
            current = self.get(code)
            if current.status != PENDING_PAYMENT or current.payment_attempt != attempt:
                return False
            try:
                with_retries(lambda: self._apply_status(current, EXPIRED, {}))
                return True
            except Stale:
                continue
        return False
