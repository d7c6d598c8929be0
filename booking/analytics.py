"""Funnel figures per business and period, computed from the order event log.

Definitions (every rate is a fraction of orders, an order being one booking attempt):
- slot-selection success: orders received in the period that selected a slot;
- confirmation success: orders that selected a slot and got a booking;
- session expiration: orders that selected a slot and then timed out before confirming;
- slot conflict: orders that selected a slot and hit a conflict at least once;
- selection → confirmation: mean seconds from the last slot selection before the booking to
  the booking.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Optional

from pymongo.database import Database

from booking import orders


@dataclass(frozen=True)
class Funnel:
    """The figures of one business over one period."""

    business_id: str
    orders: int
    slot_selection_rate: Optional[float]
    confirmation_rate: Optional[float]
    session_expiration_rate: Optional[float]
    conflict_rate: Optional[float]
    avg_selection_to_confirmation_s: Optional[float]


def _rate(part: int, whole: int) -> Optional[float]:
    return part / whole if whole else None


def funnel(db: Database, business_id: str, start: datetime, end: datetime) -> Funnel:
    """Funnel figures for orders received in ``[start, end)``."""
    log = orders.events_collection(db)
    received = log.distinct("order_id", {
        "business_id": business_id, "type": orders.ORDER_RECEIVED,
        "at": {"$gte": start, "$lt": end}, "order_id": {"$ne": None}})
    by_order: dict[str, list[dict]] = {oid: [] for oid in received}
    for event in log.find({"order_id": {"$in": received}}).sort("at", 1):
        by_order[event["order_id"]].append(event)
    selected = confirmed = expired = conflicted = 0
    waits: list[float] = []
    for events in by_order.values():
        types = {e["type"] for e in events}
        if orders.SLOT_SELECTED not in types:
            continue
        selected += 1
        expired += orders.SESSION_EXPIRED in types
        conflicted += orders.CONFLICT in types
        last_selection = None
        for event in events:
            if event["type"] == orders.SLOT_SELECTED:
                last_selection = event["at"]
            elif event["type"] == orders.BOOKING_CREATED and last_selection is not None:
                confirmed += 1
                waits.append((event["at"] - last_selection).total_seconds())
                break
    return Funnel(
        business_id=business_id,
        orders=len(received),
        slot_selection_rate=_rate(selected, len(received)),
        confirmation_rate=_rate(confirmed, selected),
        session_expiration_rate=_rate(expired, selected),
        conflict_rate=_rate(conflicted, selected),
        avg_selection_to_confirmation_s=sum(waits) / len(waits) if waits else None,
    )
