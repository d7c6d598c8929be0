"""Order tracking: an append-only log of what happened to each order, with timestamps."""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any, Optional

from pymongo.collection import Collection
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern
from pymongo.database import Database

logger = logging.getLogger(__name__)

ORDER_RECEIVED = "order_received"
SLOT_SELECTED = "slot_selected"
BOOKING_CREATED = "booking_created"
PENDING_PAYMENT = "pending_payment"
PAYMENT_SUCCEEDED = "payment_succeeded"
PAYMENT_FAILED = "payment_failed"
PAYMENT_EXPIRED = "payment_expired"
RECOVERY_STARTED = "recovery_started"
CANCELLED = "cancelled"
RESCHEDULED = "rescheduled"
CONFLICT = "conflict"
SESSION_EXPIRED = "session_expired"
# The front desk (console): what happened at the spa.
ARRIVED = "arrived"
COMPLETED = "completed"
NO_SHOW = "no_show"
NOTE_CHANGED = "note_changed"
# The waiting list: a freed time held for a waiting customer, and what became of it.
WAITLIST_OFFERED = "waitlist_offered"
WAITLIST_PASSED = "waitlist_passed"
EVENT_TYPES = frozenset({
    WAITLIST_OFFERED, WAITLIST_PASSED,
    ORDER_RECEIVED, SLOT_SELECTED, BOOKING_CREATED, PENDING_PAYMENT, PAYMENT_SUCCEEDED,
    PAYMENT_FAILED, PAYMENT_EXPIRED, RECOVERY_STARTED, CANCELLED, RESCHEDULED, CONFLICT,
    SESSION_EXPIRED, ARRIVED, COMPLETED, NO_SHOW, NOTE_CHANGED,
})


def event_doc(order_id: Optional[str], business_id: str, kind: str, at: datetime,
              **data: Any) -> dict[str, Any]:
    """An order event document (``order_id`` None for steps outside an order)."""
    if kind not in EVENT_TYPES:
        raise ValueError(f"unknown order event type {kind!r}")
    return {"order_id": order_id, "business_id": business_id, "type": kind, "at": at,
            "data": data}


def events_collection(db: Database) -> Collection:
    """The event log with w:1 writes and ``local`` reads (so a reader sees what it wrote)."""
    return db.order_events.with_options(write_concern=WriteConcern(w=1),
                                        read_concern=ReadConcern("local"))


class OrderLog:
    """Appends order events and reads them back.

    Events are analytics: they are written with w:1 (acknowledged by the primary, journaled
    within its commit interval) after the booking decision they describe, which is itself
    durable with w:majority. A crash between the two can lose an event, never a booking.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self.events_collection = events_collection(db)

    def append(self, docs: list[dict[str, Any]]) -> None:
        """Append prepared event documents (see ``event_doc``)."""
        if docs:
            self.events_collection.insert_many(docs, ordered=True)

    def record(self, order_id: Optional[str], business_id: str, kind: str,
               at: Optional[datetime] = None, **data: Any) -> None:
        """Append one event; ``at`` defaults to now (UTC)."""
        self.append([event_doc(order_id, business_id, kind, at or datetime.now(timezone.utc),
                               **data)])

    def events(self, order_id: str) -> list[dict[str, Any]]:
        """Every event of an order, oldest first."""
        return list(self.events_collection.find({"order_id": order_id}, {"_id": 0}).sort("at", 1))

    def booking_events(self, code: str, order_id: Optional[str] = None) -> list[dict[str, Any]]:
        """The events of one booking (those naming its code, and its order's own steps
        before it had one), oldest first."""
        query: dict[str, Any] = {"data.code": code}
        if order_id:
            query = {"$or": [query, {"order_id": order_id, "data.code": {"$exists": False}}]}
        return list(self.events_collection.find(query, {"_id": 0}).sort("at", 1))
