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

from booking import models
from booking.availability import Slot
from booking.bookings import BookingRequest
from booking.db import with_retries
from booking.errors import (BookingError, CustomerLimitError, OffGridError,
                            PlanLimitReachedError, SlotConflictError, TooSoonError,
                            UnknownEntityError, ValidationError)
from booking.limits import plan_usage
from booking.models import Booking
from booking.notices import NoticeQueue
from booking.reminders import quiet_span
from booking.timeparse import in_part_of_day

logger = logging.getLogger(__name__)

WAITING, OFFERING, OFFERED = "WAITING", "OFFERING", "OFFERED"
BOOKED, PASSED, LEFT, ENDED = "BOOKED", "PASSED", "LEFT", "ENDED"
OPEN = (WAITING, OFFERING, OFFERED)  # still on the list
MAX_WAITING = 5  # open entries per customer and business (a list nobody can fill alone)
HOLD = timedelta(minutes=10)
CLAIM_STALE = timedelta(minutes=5)  # an OFFERING claim this old was left by a crash
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


def wish_of(entry: dict[str, Any]) -> Wish:
    """What an entry waits for."""
    return Wish(entry["business_id"], entry["customer_id"], entry["service_id"],
                date.fromisoformat(entry["day"]), entry.get("staff_id"),
                entry.get("part_of_day"), entry.get("villa_id"))


class OfferNotices(NoticeQueue):
    """The offers to tell (``waitlist_offers``), one per held booking."""

    def __init__(self, db: Any, clock: Any) -> None:
        super().__init__(db.waitlist_offers, clock)


class Waitlist:
    """Joins, matches and settles the waiting list of every business."""

    def __init__(self, core: Any, hold: timedelta = HOLD) -> None:
        self.core, self.hold = core, hold
        self.entries = core.db.waitlist
        self.offers = OfferNotices(core.db, core.clock)

    # ------------------------------------------------------------------ customers
    def join(self, wish: Wish, conversation: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Put the customer on the list (``conversation``: where the offer is told); the entry
        and whether it is new. Joining again while on the list keeps the place; after an
        offer passed or was declined it is a place at the end.

        Raises:
            CustomerLimitError: ``MAX_WAITING`` open entries at this business already.
            ValidationError: a service, staff member or villa the business cannot book.
        """
        self._check(wish)
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

    def _check(self, wish: Wish) -> None:
        """What a wish names must be bookable together at its business."""
        catalog = self.core.catalog
        service = catalog.services.get(wish.service_id)
        if service is None or service.business_id != wish.business_id:
            raise ValidationError("no such treatment at this business")
        member = catalog.staff.get(wish.staff_id) if wish.staff_id else None
        if wish.staff_id and (member is None or service.id not in member.service_ids):
            raise ValidationError("no such staff member for this treatment")
        villa = catalog.villas.get(wish.villa_id) if wish.villa_id else None
        if wish.villa_id and (villa is None or wish.business_id not in villa.business_ids):
            raise ValidationError("no such villa for this business")

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
        try:
            booking = self.core.accept_offer(code, customer_id, business_id)
        finally:
            self._sync(code)  # accepted, or ended before the tap: the entry follows the offer
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

    def free_for(self, wish: Wish) -> list[Slot]:
        """The free times that would answer a wish (its staff member and part of the day)."""
        tz = self.core.catalog.business(wish.business_id).tz
        return in_part_of_day(self.core.free_slots(wish.service_id, wish.day,
                                                   staff_id=wish.staff_id), wish.part_of_day, tz)

    # ------------------------------------------------------------------ matching
    def match(self) -> list[Booking]:
        """One round: settle ended offers and stale claims, then offer what is free, in the
        order customers joined. The offers made."""
        now = self.core.clock()
        for booking in self.core.ended_offers(now):
            self.core.withdraw_offer(booking.code, ended_by=now)
        for held in with_retries(lambda: list(self.entries.find({"state": OFFERED}))):
            self._sync(held["offer"]["code"], held)
        for stale in with_retries(lambda: list(self.entries.find(
                {"state": OFFERING, "claimed_at": {"$lt": now - CLAIM_STALE}}))):
            self._recover(stale)
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
                offer = self._try(entry)
            except BookingError as exc:  # this customer's entry only; the others go on
                logger.warning("waiting-list entry not matched: %s", exc)
                continue
            if offer is None:
                nothing_free.add(key)
            elif isinstance(offer, Booking):
                made.append(offer)
        return made

    def _try(self, entry: dict[str, Any]) -> Optional[Any]:
        """Offer the entry the first free time that fits; ``None`` when none is free, ``False``
        when the entry is not to be offered now (ended, quiet hours, claimed elsewhere, the
        customer holding another offer or at a limit)."""
        catalog, now = self.core.catalog, self.core.clock()
        service = catalog.services.get(entry["service_id"])
        business = catalog.businesses.get(entry["business_id"])
        day = date.fromisoformat(entry["day"])
        if service is None or business is None:
            self._end(entry, "the service is gone")
            return False
        if day < now.astimezone(business.tz).date():
            self._end(entry, "the day has come")
            return False
        if quiet_span(now, business.reminders, business.tz) is not None:
            return False
        slots = self.free_for(wish_of(entry))
        if not slots:
            return None
        customer = entry["customer_id"]
        if any(b.service_id == service.id and b.start.astimezone(business.tz).date() == day
               for b in self.core.upcoming(customer, business.id)):
            self._end(entry, "booked meanwhile")
            return False
        if not self._may_hold(entry, service, business, now):
            return False
        claimed = with_retries(lambda: self.entries.find_one_and_update(
            {"_id": entry["_id"], "state": WAITING},
            {"$set": {"state": OFFERING, "claimed_at": self.core.clock()}, "$inc": {"offers": 1}},
            return_document=ReturnDocument.AFTER))
        if claimed is None:
            return False
        return self._hold(claimed, slots[0].start) or False

    def _may_hold(self, entry: dict[str, Any], service: Any, business: Any,
                  now: datetime) -> bool:
        """One held offer per customer at a time, and only one they could accept: within
        their limits and the business's plan (nothing is taken yet: accepting takes them)."""
        if with_retries(lambda: self.entries.count_documents(
                {"business_id": business.id, "customer_id": entry["customer_id"],
                 "state": {"$in": [OFFERING, OFFERED]}}, limit=1)):
            return False
        try:
            self.core.customer_slots.pick(business.id, entry["customer_id"], unpaid=bool(
                self.core.terms(service, entry["customer_id"]).due_now))
            plan_usage(self.core.db, business, now)
        except (CustomerLimitError, PlanLimitReachedError):
            return False
        return True

    def _hold(self, entry: dict[str, Any], start: datetime) -> Optional[Booking]:
        """Hold ``start`` for a claimed entry and write the offer to tell; back to WAITING
        when the time was taken meanwhile, ended when the wish cannot be booked at all; left
        claimed (for ``_recover``) when the database did not answer."""
        key = f"waitlist:{entry['_id']}:{entry['offers']}"
        try:
            booking = self.core.create(BookingRequest(
                service_id=entry["service_id"], start=start, customer_id=entry["customer_id"],
                customer_name=entry.get("customer_name") or "", staff_id=entry.get("staff_id"),
                villa_id=entry.get("villa_id"), order_id=entry.get("order_id"),
                idempotency_key=key, offer_until=self.core.clock() + self.hold))
        except (SlotConflictError, TooSoonError, OffGridError):  # taken meanwhile
            self._back_to_waiting(entry)
            return None
        except ValidationError as exc:  # a staff member or villa it cannot be booked with
            self._end(entry, f"cannot be booked: {exc}")
            return None
        return self._offered(entry, booking)

    def _offered(self, entry: dict[str, Any], booking: Booking) -> Optional[Booking]:
        """The entry (still claimed for this very offer) now holds it, and the offer is
        written to tell; a claim recovered meanwhile by another server gives its hold up."""
        offer = {"code": booking.code, "start": booking.start, "until": booking.hold_until}
        moved = with_retries(lambda: self.entries.update_one(
            {"_id": entry["_id"], "state": OFFERING, "offers": entry["offers"]},
            {"$set": {"state": OFFERED, "offer": offer}, "$push": {"history": offer}}))
        if moved.modified_count == 0:
            self.core.withdraw_offer(booking.code)
            return None
        self._tell(entry, booking)
        return booking

    def _tell(self, entry: dict[str, Any], booking: Booking) -> None:
        """Write the offer for the sender (once: a second write of it changes nothing)."""
        self.offers.put(f"{booking.code}:offer", {
            "code": booking.code, "entry": entry["_id"], "conversation": entry["conversation"],
            "until": booking.hold_until})

    def _sync(self, code: str, entry: Optional[dict[str, Any]] = None) -> None:
        """The entry of offer ``code`` follows what became of the offer: still held (its
        offer written to tell, in case a crash came between), accepted (BOOKED) or withdrawn
        (PASSED; a decline settles LEFT itself)."""
        try:
            booking = self.core.get(code)
        except UnknownEntityError:
            return
        if booking.status == models.OFFERED:
            if entry is not None and still_offered(booking, self.core.clock()):
                self._tell(entry, booking)
        elif booking.status == models.WITHDRAWN:
            self._settle(code, PASSED)
        elif booking.from_waitlist:
            self._settle(code, BOOKED)

    def _recover(self, entry: dict[str, Any]) -> None:
        """A claim left by a crash: finish its offer if the hold was made, else wait again."""
        booking = self.core.by_idempotency_key(f"waitlist:{entry['_id']}:{entry['offers']}")
        if still_offered(booking, self.core.clock()):
            self._offered(entry, booking)
        else:
            self._back_to_waiting(entry)

    def _back_to_waiting(self, entry: dict[str, Any]) -> None:
        with_retries(lambda: self.entries.update_one(
            {"_id": entry["_id"], "state": OFFERING, "offers": entry["offers"]},
            {"$set": {"state": WAITING}}))

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
    return (booking is not None and booking.status == models.OFFERED
            and booking.hold_until is not None and booking.hold_until > now)

