"""Reading bookings: by code, a customer's own, what is coming up. Mixed into
``BookingService``; nothing here changes a booking."""
from __future__ import annotations

from typing import Any, Optional

from booking.db import with_retries
from booking.errors import UnknownEntityError
from booking.models import UPCOMING_STATUSES, Booking


class BookingLookups:
    """The core's reads (``self`` is a ``BookingService``)."""

    def get(self: Any, code: str) -> Booking:
        """The booking with this code, or ``UnknownEntityError``."""
        doc = with_retries(lambda: self.db.bookings.find_one({"code": code}))
        if doc is None:
            raise UnknownEntityError("booking", code)
        return Booking.from_doc(doc)

    def get_owned(self: Any, code: str, customer_id: Optional[str] = None,
                  business_id: Optional[str] = None) -> Booking:
        """The booking with this code if it is ``customer_id``'s at ``business_id`` (each
        checked when given); any other is ``UnknownEntityError``, exactly like a code that
        does not exist, so asking reveals nothing about other customers' or businesses'
        bookings."""
        booking = self.get(code)
        if (customer_id is not None and booking.customer_id != customer_id
                or business_id is not None and booking.business_id != business_id):
            raise UnknownEntityError("booking", code)
        return booking

    def upcoming(self: Any, customer_id: str, business_id: Optional[str] = None) -> list[Booking]:
        """A customer's bookings that are still to come (pending payment or confirmed)."""
        query: dict[str, Any] = {"customer_id": customer_id,
                                 "status": {"$in": list(UPCOMING_STATUSES)},
                                 "end": {"$gt": self.clock()}}
        if business_id is not None:
            query["business_id"] = business_id
        docs = with_retries(lambda: list(self.db.bookings.find(query).sort("start", 1)))
        return [Booking.from_doc(d) for d in docs]

    def latest(self: Any, customer_id: str, business_id: str, status: str) -> Optional[Booking]:
        """A customer's most recently changed booking in ``status`` that is still ahead."""
        doc = with_retries(lambda: self.db.bookings.find_one(
            {"customer_id": customer_id, "business_id": business_id, "status": status,
             "start": {"$gt": self.clock()}}, sort=[("updated_at", -1)]))
        return Booking.from_doc(doc) if doc else None

    def usage(self: Any, business_id: str, month: str) -> int:
        """Bookings created by a business in a month (``YYYY-MM``, business time); cancelled
        ones included, as they used the plan."""
        return with_retries(lambda: self.db.bookings.count_documents(
            {"business_id": business_id, "usage_month": month}))
