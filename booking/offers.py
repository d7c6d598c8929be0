"""A waiting-list offer's lifecycle in the core: a freed time held for one waiting customer.

The offer is a booking document in status OFFERED (made by ``BookingService.create`` with a
request's ``offer_until``): it claims the staff member's cells like any booking, so the unique
index still guarantees one booking per time, and nobody else can take the time while the
customer decides. It takes none of the customer's limit slots and no plan usage until it is
accepted, when both are taken in the same compare-and-swap that makes it CONFIRMED (or
PENDING_PAYMENT, for a business that takes payment first). An offer nobody accepts in time, or
that the customer declines, is withdrawn: WITHDRAWN, its cells released in that one write (it
never was anyone's booking: the console's figures, the Sheets export and the transcript leave
it out, ``NOT_BOOKINGS``). Mixed into ``BookingService``; the list
itself (who waits, in which order, who is offered what) is ``booking.waitlist``.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from booking import orders
from booking.claims import SlotTaken, Stale
from booking.db import with_retries
from booking.errors import InvalidTransitionError, UnknownEntityError
from booking.limits import plan_usage
from booking.models import (CONFIRMED, OFFERED, PENDING_PAYMENT, UPCOMING_STATUSES, WITHDRAWN,
                            Booking)

_MAX_STALE_RETRIES = 5


class WaitlistHolds:
    """``accept_offer`` and ``withdraw_offer`` of the core (``self`` is a ``BookingService``)."""

    def accept_offer(self: Any, code: str, customer_id: str, business_id: str) -> Booking:
        """The customer takes the time held for them: OFFERED → CONFIRMED (PENDING_PAYMENT with
        a new payment hold when the business takes payment first). Repeating it returns the
        booking.

        Raises:
            UnknownEntityError: no such offer for this customer and business, or it ended
                (withdrawn: declined, or its hold passed, withdrawn now if nobody did yet).
            InvalidTransitionError: the booking is not an offer (and not one accepted).
            CustomerLimitError, PlanLimitReachedError: as for a new booking.
        """
        for _ in range(_MAX_STALE_RETRIES):
            current = self.get_owned(code, customer_id, business_id)
            if current.from_waitlist and current.status in UPCOMING_STATUSES:
                return current  # accepted already (a repeated tap)
            if current.status == WITHDRAWN:  # declined, or its hold was over: ended
                raise UnknownEntityError("offer", code)
            if current.status != OFFERED:
                raise InvalidTransitionError(code, current.status, CONFIRMED)
            now = self.clock()
            if current.hold_until is None or current.hold_until <= now:
                self.withdraw_offer(code, ended_by=now)
                raise UnknownEntityError("offer", code)
            business = self.catalog.business(current.business_id)
            deal = self.terms(self.catalog.service(current.service_id), customer_id)
            target = PENDING_PAYMENT if deal.due_now else CONFIRMED
            extra = {"accepted_at": now, "amount_due": deal.due_now,
                     "cancel_window_hours": deal.cancel_window_hours,
                     "free_until": deal.free_until(current.start),
                     "hold_until": now + self.hold if target == PENDING_PAYMENT else None,
                     **self.customer_slots.pick(business.id, customer_id,
                                                unpaid=target == PENDING_PAYMENT),
                     **plan_usage(self.db, business, now)}
            try:
                booking = with_retries(lambda: self._apply_status(
                    current, target, {"customer_id": customer_id, "waitlist": True}, extra,
                    event=orders.BOOKING_CREATED))
            except (Stale, SlotTaken):
                continue
            if target == PENDING_PAYMENT:
                self.order_log.append([orders.event_doc(
                    booking.order_id, booking.business_id, orders.PENDING_PAYMENT, now,
                    code=code)])
            return booking
        raise InvalidTransitionError(code, None, CONFIRMED)

    def withdraw_offer(self: Any, code: str, customer_id: Optional[str] = None,
                       business_id: Optional[str] = None,
                       ended_by: Optional[datetime] = None) -> bool:
        """Withdraw an offer (declined by ``customer_id`` at ``business_id``, when given, or
        ended: its hold over by ``ended_by``), freeing its time in one compare-and-swap; False
        when it is no such offer (accepted, withdrawn already, or someone else's)."""
        query: dict[str, Any] = {"code": code, "status": OFFERED}
        if customer_id is not None:
            query.update(customer_id=customer_id, business_id=business_id)
        if ended_by is not None:
            query["hold_until"] = {"$lte": ended_by}
        now = self.clock()
        doc = with_retries(lambda: self.db.bookings.find_one_and_update(query, {
            "$set": {"status": WITHDRAWN, "updated_at": now}, "$unset": {"cells": ""},
            "$inc": {"version": 1}, "$push": {"history": {"status": WITHDRAWN, "at": now}}}))
        if doc is None:
            return False
        self.order_log.append([orders.event_doc(
            doc.get("order_id"), doc["business_id"], orders.WAITLIST_PASSED, self.clock(),
            code=code, declined=customer_id is not None)])
        return True

    def ended_offers(self: Any, now: datetime) -> list[Booking]:
        """Offers whose hold is over (to withdraw), oldest first."""
        docs = with_retries(lambda: list(self.db.bookings.find(
            {"status": OFFERED, "hold_until": {"$lte": now}}).sort("hold_until", 1)))
        return [Booking.from_doc(d) for d in docs]
