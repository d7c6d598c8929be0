"""Per-customer limits at a business, enforced by the database like the plan limit.

An active booking takes numbered slots under unique indexes: ``upcoming_slot``
(``<business>:<customer>:<n>``, n ≤ ``max_upcoming``) while it is upcoming, and ``hold_slot``
(n ≤ ``max_unpaid_holds``) while it waits for payment. The slots are written in the same
single-document insert or compare-and-swap as the booking itself, so N parallel requests of one
customer cannot take more than the limit; a booking gives its slots up in the update that moves
it out of the status they count (``released_by``). An upcoming slot whose booking has ended is
taken back on the next request.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from pymongo.database import Database

from booking.db import with_retries
from booking.errors import CustomerLimitError, PlanLimitReachedError
from booking.models import PENDING_PAYMENT, UPCOMING_STATUSES

HOLD_SLOT, UPCOMING_SLOT = "hold_slot", "upcoming_slot"
SLOT_FIELDS = (HOLD_SLOT, UPCOMING_SLOT)


@dataclass(frozen=True)
class CustomerLimits:
    """``BOOKING_MAX_UNPAID_HOLDS`` (3), ``BOOKING_MAX_UPCOMING`` (10) and
    ``BOOKING_MAX_PAYMENT_ATTEMPTS`` (3); 0 switches a limit off."""

    max_unpaid_holds: int = 3
    max_upcoming: int = 10
    max_payment_attempts: int = 3


def released_by(target_status: str) -> dict[str, str]:
    """The slot fields a booking gives up when it moves to ``target_status`` (an ``$unset``)."""
    unset = {}
    if target_status != PENDING_PAYMENT:
        unset[HOLD_SLOT] = ""
    if target_status not in UPCOMING_STATUSES:
        unset[UPCOMING_SLOT] = ""
    return unset


def plan_usage(db: Database, business: Any, now: datetime) -> dict[str, str]:
    """The plan-usage fields of a booking ``business`` takes at ``now``: its month (business
    time) and, under a monthly limit, the next usage slot (unique: two concurrent bookings
    cannot share one; a taken one means count again).

    Raises:
        PlanLimitReachedError: the month's bookings are used up.
    """
    month = now.astimezone(business.tz).strftime("%Y-%m")
    fields = {"usage_month": month}
    limit = business.monthly_booking_limit
    if limit is not None:
        used = with_retries(lambda: db.bookings.count_documents(
            {"business_id": business.id, "usage_month": month}))
        if used >= limit:
            raise PlanLimitReachedError(business.id, limit, month)
        fields["usage_slot"] = f"{business.id}:{month}:{used + 1}"
    return fields


class CustomerSlots:
    """Finds free slot numbers for a customer's next active booking."""

    def __init__(self, db: Database, limits: CustomerLimits,
                 clock: Callable[[], datetime]) -> None:
        self.db, self.limits, self.clock = db, limits, clock

    def pick(self, business_id: str, customer_id: str, unpaid: bool) -> dict[str, str]:
        """Slot fields for a new upcoming booking (``unpaid``: one waiting for payment).

        One read of the customer's slots at the business (a booking's own round trips are
        what limit its rate).

        Raises:
            CustomerLimitError: the customer has no free slot of a kind.
        """
        wanted = []
        if self.limits.max_upcoming > 0:
            wanted.append((UPCOMING_SLOT, self.limits.max_upcoming, "upcoming"))
        if unpaid and self.limits.max_unpaid_holds > 0:
            wanted.append((HOLD_SLOT, self.limits.max_unpaid_holds, "unpaid_holds"))
        if not wanted:
            return {}
        docs: list[dict[str, Any]] = with_retries(lambda: list(self.db.bookings.find(
            {"customer_id": customer_id, "business_id": business_id,
             "$or": [{field: {"$exists": True}} for field, _, _ in wanted]},
            {**{field: 1 for field, _, _ in wanted}, "end": 1})))
        return {field: self._free(field, docs, business_id, customer_id, limit, kind)
                for field, limit, kind in wanted}

    def first(self, business_id: str, customer_id: str, unpaid: bool) -> dict[str, str]:
        """Slot 1 of each limit, read nothing: right for a customer's first booking (most
        are); if it is taken, the insert fails on its unique index and ``pick`` looks."""
        prefix = f"{business_id}:{customer_id}:1"
        fields = {}
        if self.limits.max_upcoming > 0:
            fields[UPCOMING_SLOT] = prefix
        if unpaid and self.limits.max_unpaid_holds > 0:
            fields[HOLD_SLOT] = prefix
        return fields

    def check_attempts(self, payment_attempt: int) -> None:
        """Raise ``CustomerLimitError`` when a booking may not get another payment attempt."""
        limit = self.limits.max_payment_attempts
        if limit > 0 and payment_attempt >= limit:
            raise CustomerLimitError("payment_attempts", limit)

    def _free(self, field: str, docs: list[dict[str, Any]], business_id: str,
              customer_id: str, limit: int, kind: str) -> str:
        now = self.clock()
        taken = set()
        for doc in docs:
            if field not in doc:
                continue
            if field == UPCOMING_SLOT and doc["end"] <= now:  # over: no longer upcoming
                with_retries(lambda: self.db.bookings.update_one(
                    {"_id": doc["_id"], field: doc[field]}, {"$unset": {field: ""}}))
                continue
            taken.add(doc[field])
        prefix = f"{business_id}:{customer_id}:"
        for n in range(1, limit + 1):
            if prefix + str(n) not in taken:
                return prefix + str(n)
        raise CustomerLimitError(kind, limit)
