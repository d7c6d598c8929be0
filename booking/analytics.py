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
from typing import Any, Optional

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


@dataclass(frozen=True)
class PaymentFigures:
    """Money of one business in a period, and what needs a person: payouts that failed for
    good and refunds owed (whenever they arose) that Xendit has not taken on: not yet accepted
    (NEEDED, ``retryable`` when refused for now) or refused or failed for good (FAILED, with
    its ``failure_code``). A refund REQUESTED at Xendit or SUCCEEDED is not owed."""

    business_id: str
    paid_count: int
    paid_amount: int
    payouts_by_state: dict[str, int]
    failed_payouts: list[dict[str, Any]]
    refunds_needed: list[dict[str, Any]]


def payment_figures(db: Database, business_id: str, start: datetime, end: datetime) -> PaymentFigures:
    """Payments received in ``[start, end)``, payout states, and the open problems."""
    paid = list(db.payments.find({"business_id": business_id, "state": "PAID",
                                  "paid_at": {"$gte": start, "$lt": end}}, {"amount": 1}))
    states: dict[str, int] = {}
    for row in db.payouts.aggregate([{"$match": {"business_id": business_id}},
                                     {"$group": {"_id": "$state", "n": {"$sum": 1}}}]):
        states[row["_id"]] = row["n"]
    failed = list(db.payouts.find({"business_id": business_id, "state": "FAILED"},
                                  {"_id": 0, "code": 1, "party": 1, "amount": 1,
                                   "failure_code": 1, "retryable": 1}).sort("code", 1))
    refunds = list(db.refunds.find({"business_id": business_id,
                                    "state": {"$in": ["NEEDED", "FAILED"]}},
                                   {"_id": 0, "code": 1, "amount": 1, "reason": 1, "paid_out": 1,
                                    "paid_out_total": 1, "state": 1, "retryable": 1,
                                    "failure_code": 1}).sort("code", 1))
    return PaymentFigures(business_id, len(paid), sum(p["amount"] for p in paid), states,
                          failed, refunds)
