"""Order tracking: an append-only log of what happened to each order, with timestamps."""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any, Optional

from pymongo.client_session import ClientSession
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
EVENT_TYPES = frozenset({
    ORDER_RECEIVED, SLOT_SELECTED, BOOKING_CREATED, PENDING_PAYMENT, PAYMENT_SUCCEEDED,
    PAYMENT_FAILED, PAYMENT_EXPIRED, RECOVERY_STARTED, CANCELLED, RESCHEDULED, CONFLICT,
    SESSION_EXPIRED,
})


def event_doc(order_id: Optional[str], business_id: str, kind: str, at: datetime,
              **data: Any) -> dict[str, Any]:
    """An order event document (``order_id`` None for steps outside an order)."""
    if kind not in EVENT_TYPES:
        raise ValueError(f"unknown order event type {kind!r}")
    return {"order_id": order_id, "business_id": business_id, "type": kind, "at": at,
            "data": data}


class OrderLog:
    """Appends order events and reads them back."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, order_id: Optional[str], business_id: str, kind: str,
               at: Optional[datetime] = None, session: Optional[ClientSession] = None,
               **data: Any) -> None:
        """Append one event; ``at`` defaults to now (UTC)."""
        doc = event_doc(order_id, business_id, kind, at or datetime.now(timezone.utc), **data)
        self.db.order_events.insert_one(doc, session=session)

    def events(self, order_id: str) -> list[dict[str, Any]]:
        """Every event of an order, oldest first."""
        return list(self.db.order_events.find({"order_id": order_id}, {"_id": 0}).sort("at", 1))
