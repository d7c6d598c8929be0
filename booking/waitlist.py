"""The waiting list: customers told when a day that had no free time for them frees up.

A customer joins for one service on one day (optionally a staff member and a part of the day)
when the chat found nothing free. Every round of the waiting-list sender (``channels/waitlist``,
on every Rasa server) calls ``match``: it withdraws the offers nobody accepted in time (their
customer has passed), then goes through the waiting customers in the order they joined and,
for the first whose service fits a free time, holds that time as an offer (``booking.offers``:
an OFFERED booking, so the claim cells still guarantee one booking) and writes the offer for
the sender to tell them (``waitlist_offers``). The next freed time goes to the next customer.
Whatever freed the time (a cancellation, an expired payment hold, a booking moved away, the
desk, an offer passed on) is seen the same way, from the availability itself, so no event can
be missed.

An entry's states (``state``): WAITING → OFFERING (claimed by one server) → OFFERED → BOOKED
(accepted) | PASSED (no answer in time) | LEFT (declined); or ENDED (the day came, the service
went, or the customer booked that service that day meanwhile). Claims are compare-and-swaps, a
hold's idempotency key is the entry and its offer number, so two servers or a crash and its
retry never offer one time twice or hold twice for one customer. Offers are made outside the
business's quiet hours only (nobody is woken, and a sleeping customer would just let it pass).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Optional

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from booking.bookings import BookingRequest
from booking.db import with_retries
from booking.errors import BookingError, CustomerLimitError
from booking.models import OFFERED as HELD, Booking
from booking.notices import NoticeQueue
from booking.reminders import quiet_span
from booking.timeparse import PARTS_OF_DAY

logger = logging.getLogger(__name__)

WAITING, OFFERING, OFFERED = "WAITING", "OFFERING", "OFFERED"
BOOKED, PASSED, LEFT, ENDED = "BOOKED", "PASSED", "LEFT", "ENDED"
OPEN = (WAITING, OFFERING, OFFERED)  # still on the list
MAX_WAITING = 5  # open entries per customer and business (a list nobody can fill alone)
HOLD = timedelta(minutes=10)
CLAIM_STALE = timedelta(minutes=1)  # an OFFERING claim this old was left by a crash
KEPT = timedelta(days=30)  # an entry is removed this long after its day (retention)


@dataclass(frozen=True)
class Wish:
    """What a customer waits for."""

    business_id: str
    customer_id: str
    service_id: str
    day: date
    staff_id: Optional[str] = None
    part_of_day: Optional[str] = None
    villa_id: Optional[str] = None
    customer_name: str = ""
    order_id: Optional[str] = None


def entry_id(wish: Wish) -> str:
    """One entry per customer, service and day at a business."""
    return "|".join((wish.business_id, wish.customer_id, wish.service_id, wish.day.isoformat()))


class WaitlistOffers(NoticeQueue):
    """The offers to tell (``waitlist_offers``), one per held booking."""

    def __init__(self, db: Any, clock: Any) -> None:
        super().__init__(db.waitlist_offers, clock)


class Waitlist:
    """Joins, matches and settles the waiting list of every business."""

    def __init__(self, core: Any, hold: timedelta = HOLD) -> None:
        self.core, self.hold = core, hold
        self.entries = core.db.waitlist
        self.offers = WaitlistOffers(core.db, core.clock)

    # ------------------------------------------------------------------ customers
    def join(self, wish: Wish, conversation: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Put the customer on the list (``conversation``: where the offer is told); the entry
        and whether it is new. Joining again while on the list keeps the place; after an
        offer passed or was declined it is a place at the end.

        Raises:
            CustomerLimitError: ``MAX_WAITING`` open entries at this business already.
        """
        now = self.core.clock()
        key = entry_id(wish)
        current = with_retries(lambda: self.entries.find_one({"_id": key}))
        if current is not None and current["state"] in OPEN:
            return current, False
        open_ = with_retries(lambda: self.entries.count_documents(
            {"business_id": wish.business_id, "customer_id": wish.customer_id,
             "state": {"$in": list(OPEN)}}))
        if open_ >= MAX_WAITING:
            raise CustomerLimitError("waitlist", MAX_WAITING)
        tz = self.core.catalog.business(wish.business_id).tz
        day_end = datetime.combine(wish.day + timedelta(days=1), datetime.min.time(), tz)
        doc = {"business_id": wish.business_id, "customer_id": wish.customer_id,
               "service_id": wish.service_id, "day": wish.day.isoformat(),
               "staff_id": wish.staff_id, "part_of_day": wish.part_of_day,
               "villa_id": wish.villa_id, "customer_name": wish.customer_name,
               "order_id": wish.order_id, "conversation": conversation, "state": WAITING,
               "joined_at": now, "expires_at": day_end.astimezone(timezone.utc) + KEPT}
        try:
            entry = with_retries(lambda: self.entries.find_one_and_update(
                {"_id": key, "state": {"$nin": list(OPEN)}}, {"$set": doc, "$unset": {"offer": ""}},
                upsert=True, return_document=ReturnDocument.AFTER))
        except DuplicateKeyError:  # joined (or became open) at the same moment: that stands
            return with_retries(lambda: self.entries.find_one({"_id": key})), False
        return entry, True

    def of_customer(self, business_id: str, customer_id: str) -> list[dict[str, Any]]:
        """The customer's open entries at a business, by day."""
        return with_retries(lambda: list(self.entries.find(
            {"business_id": business_id, "customer_id": customer_id,
             "state": {"$in": list(OPEN)}}).sort("day", 1)))

    def waiting_on(self, business_id: str, day: date) -> list[dict[str, Any]]:
        """Who waits for a day at a business, in order (the console)."""
        return with_retries(lambda: list(self.entries.find(
            {"business_id": business_id, "day": day.isoformat(),
             "state": {"$in": list(OPEN)}}).sort("joined_at", 1)))

    def accept(self, code: str, customer_id: str, business_id: str) -> Booking:
        """The customer takes the time offered (``BookingService.accept_offer``, with its
        errors); their entry is done."""
        booking = self.core.accept_offer(code, customer_id, business_id)
        self._settle(code, BOOKED)
        return booking

    def decline(self, code: str, customer_id: str, business_id: str) -> bool:
        """The customer does not want the time offered: it is freed for the next customer and
        they leave the list for that day. False when it was no longer theirs to decline."""
        if not self.core.withdraw_offer(code, customer_id=customer_id, business_id=business_id):
            return False
        self._settle(code, LEFT)
        return True

    def entry_of_offer(self, code: str) -> Optional[dict[str, Any]]:
        """The entry an offer was made to."""
        return with_retries(lambda: self.entries.find_one({"offer.code": code}))

    # ------------------------------------------------------------------ matching
    def match(self) -> list[Booking]:
        """One round: settle ended offers and stale claims, then offer what is free, in the
        order customers joined. The offers made."""
        now = self.core.clock()
        for booking in self.core.ended_offers(now):
            if self.core.withdraw_offer(booking.code, ended_by=now):
                self._settle(booking.code, PASSED)
        for stale in with_retries(lambda: list(self.entries.find(
                {"state": OFFERING, "claimed_at": {"$lt": now - CLAIM_STALE}}))):
            self._recover(stale, now)
        made: list[Booking] = []
        nothing_free: set[tuple] = set()
        waiting = with_retries(lambda: list(self.entries.find({"state": WAITING}).sort(
            "joined_at", 1)))
        for entry in waiting:
            key = (entry["service_id"], entry.get("staff_id"), entry["day"],
                   entry.get("part_of_day"))
            if key in nothing_free:
                continue
            try:
                offer = self._try(entry, now)
            except BookingError as exc:  # this customer's entry only; the others go on
                logger.warning("waiting-list entry not matched: %s", exc)
                continue
            if offer is None:
                nothing_free.add(key)
            elif isinstance(offer, Booking):
                made.append(offer)
        return made

    def _try(self, entry: dict[str, Any], now: datetime) -> Optional[Any]:
        """Offer the entry the first free time that fits; ``None`` when none is free, ``False``
        when the entry is not to be offered now (ended, quiet hours, claimed elsewhere)."""
        catalog = self.core.catalog
        service = catalog.services.get(entry["service_id"])
        business = catalog.businesses.get(entry["business_id"])
        day = date.fromisoformat(entry["day"])
        if service is None or business is None or day < now.astimezone(business.tz).date():
            self._end(entry, "the day has come" if service else "the service is gone")
            return False
        if quiet_span(now, business.reminders, business.tz) is not None:
            return False
        slots = self.core.free_slots(service.id, day, staff_id=entry.get("staff_id"))
        window = PARTS_OF_DAY.get(entry.get("part_of_day") or "")
        if window:
            slots = [s for s in slots if window[0] <= s.start.astimezone(business.tz).time()
                     < window[1]]
        if not slots:
            return None
        if any(b.service_id == service.id and b.start.astimezone(business.tz).date() == day
               for b in self.core.upcoming(entry["customer_id"], business.id)):
            self._end(entry, "booked meanwhile")
            return False
        claimed = with_retries(lambda: self.entries.find_one_and_update(
            {"_id": entry["_id"], "state": WAITING},
            {"$set": {"state": OFFERING, "claimed_at": now}, "$inc": {"offers": 1}},
            return_document=ReturnDocument.AFTER))
        if claimed is None:
            return False
        return self._hold(claimed, slots[0].start, now) or False

    def _hold(self, entry: dict[str, Any], start: datetime, now: datetime) -> Optional[Booking]:
        """Hold ``start`` for a claimed entry and write the offer to tell; back to WAITING
        when the time was taken meanwhile."""
        key = f"waitlist:{entry['_id']}:{entry['offers']}"
        try:
            booking = self.core.create(BookingRequest(
                service_id=entry["service_id"], start=start, customer_id=entry["customer_id"],
                customer_name=entry.get("customer_name") or "", staff_id=entry.get("staff_id"),
                villa_id=entry.get("villa_id"), order_id=entry.get("order_id"),
                idempotency_key=key, offer_until=now + self.hold))
        except BookingError:  # taken by a live booking meanwhile: the next round looks again
            self._back_to_waiting(entry)
            return None
        return self._offered(entry, booking)

    def _offered(self, entry: dict[str, Any], booking: Booking) -> Booking:
        self.offers.put(f"{booking.code}:offer", {
            "code": booking.code, "entry": entry["_id"], "conversation": entry["conversation"],
            "until": booking.hold_until})
        offer = {"code": booking.code, "start": booking.start, "until": booking.hold_until}
        with_retries(lambda: self.entries.update_one(
            {"_id": entry["_id"], "state": OFFERING},
            {"$set": {"state": OFFERED, "offer": offer}, "$push": {"history": offer}}))
        return booking

    def _recover(self, entry: dict[str, Any], now: datetime) -> None:
        """A claim left by a crash: finish its offer if the hold was made, else wait again."""
        booking = self.core.by_idempotency_key(f"waitlist:{entry['_id']}:{entry['offers']}")
        if booking is not None and booking.hold_until and booking.hold_until > now:
            self._offered(entry, booking)
        else:
            self._back_to_waiting(entry)

    def _back_to_waiting(self, entry: dict[str, Any]) -> None:
        with_retries(lambda: self.entries.update_one(
            {"_id": entry["_id"], "state": OFFERING}, {"$set": {"state": WAITING}}))

    def _settle(self, code: str, state: str) -> None:
        with_retries(lambda: self.entries.update_one(
            {"offer.code": code, "state": OFFERED},
            {"$set": {"state": state, "settled_at": self.core.clock()}}))

    def _end(self, entry: dict[str, Any], reason: str) -> None:
        with_retries(lambda: self.entries.update_one(
            {"_id": entry["_id"], "state": entry["state"]},
            {"$set": {"state": ENDED, "reason": reason}}))


def still_offered(booking: Optional[Booking], now: datetime) -> bool:
    """Whether an offer can still be told (held, its hold not over)."""
    return (booking is not None and booking.status == HELD and booking.hold_until is not None
            and booking.hold_until > now)

