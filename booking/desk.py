"""The front desk: what the business does to its day (the console's one door to the core).

Every call is scoped to one business: a booking of another business is ``UnknownEntityError``,
exactly like a code that does not exist. Status changes go through the core's compare-and-swap
lifecycle (``BookingService.transition``, ``reschedule``); the customer hears about the changes
that concern them through ``booking.notices`` (sent by the Rasa server on their channel).
"""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Optional

from pymongo import ReturnDocument

from booking import orders
from booking.availability import Interval, working_windows
from booking.bookings import BookingRequest, BookingService
from booking.db import with_retries
from booking.errors import InvalidTransitionError, UnknownEntityError, ValidationError
from booking.models import (
    ACTIVE_STATUSES,
    CANCELLED,
    COMPLETED,
    CONFIRMED,
    NO_SHOW,
    PENDING_PAYMENT,
    WITHDRAWN,
    Booking,
    Business,
    Staff,
)
from booking.notices import BOOKED_BY_DESK, CANCELLED_BY_BUSINESS, MOVED, BookingNotices

logger = logging.getLogger(__name__)

NOTES_MAX = 2000
CORRECTION_WINDOW = timedelta(days=7)  # a visit completed by itself may become a no-show
ARRIVAL_EARLY = timedelta(hours=3)  # a customer can be marked arrived this long before


@dataclass(frozen=True)
class StaffDay:
    """One staff member's column: when they work (UTC intervals) and their bookings."""

    staff: Staff
    windows: list[Interval]
    bookings: list[Booking]


@dataclass(frozen=True)
class DayPlan:
    """A business's local day: its staff columns, and bookings that no longer hold time."""

    business: Business
    day: date
    begin: datetime  # local midnight, UTC
    columns: list[StaffDay]
    released: list[Booking] = field(default_factory=list)  # cancelled, expired

    @property
    def bookings(self) -> list[Booking]:
        """Every booking of the day that holds (or held) a staff member's time."""
        return sorted((b for c in self.columns for b in c.bookings), key=lambda b: b.start)


class FrontDesk:
    """The business's own changes to bookings, and what the calendar shows."""

    def __init__(self, core: BookingService, payments: Any = None) -> None:
        self.core = core
        self.payments = payments  # booking.payments.PaymentService (refunds on cancel)
        self.notices = BookingNotices(core.db, core.clock)
        # The desk books and moves without the customers' minimum notice (a walk-in starts
        # now); the same database claims keep it from double-booking anyone.
        self.desk_core = core.with_rules(replace(core.rules, min_notice=timedelta(0)))

    # ------------------------------------------------------------------ reading
    def day(self, business_id: str, day: date) -> DayPlan:
        """The plan of ``day`` (local to the business)."""
        catalog = self.core.catalog
        business = catalog.business(business_id)
        begin = datetime.combine(day, time(0), business.tz).astimezone(timezone.utc)
        end = datetime.combine(day + timedelta(days=1), time(0), business.tz).astimezone(
            timezone.utc)
        docs = with_retries(lambda: list(self.core.db.bookings.find(
            {"business_id": business_id, "start": {"$gte": begin, "$lt": end}}).sort("start", 1)))
        bookings = [Booking.from_doc(d) for d in docs]
        staff = sorted((s for s in catalog.staff.values() if s.business_id == business_id),
                       key=lambda s: s.name)
        holding = [b for b in bookings if b.status in ACTIVE_STATUSES + (NO_SHOW,)]
        columns = [StaffDay(member, working_windows(member, day, business.tz),
                            [b for b in holding if b.staff_id == member.id]) for member in staff]
        released = [b for b in bookings if b not in holding and b.status != WITHDRAWN]
        return DayPlan(business, day, begin, columns, released)

    def holding(self, business_id: str, staff_id: str, day: date, first: time,
                last: time) -> list[Booking]:
        """A staff member's bookings that hold time between two local times of ``day`` (what
        blocking those hours would leave stranded)."""
        tz = self.core.catalog.business(business_id).tz
        begin = datetime.combine(day, first, tz).astimezone(timezone.utc)
        end = datetime.combine(day, last, tz).astimezone(timezone.utc)
        return [b for b in self.day(business_id, day).bookings
                if b.staff_id == staff_id and b.status in ACTIVE_STATUSES
                and b.start < end and begin < b.end]

    def waiting(self, business_id: str, day: date) -> list[dict]:
        """Who is on the waiting list for ``day``, in order (``booking.waitlist``)."""
        from booking.waitlist import Waitlist

        return Waitlist(self.core).waiting_on(business_id, day)

    def booking(self, business_id: str, code: str) -> Booking:
        """The business's booking with this code (``UnknownEntityError`` for any other)."""
        return self.core.get_owned(code, business_id=business_id)

    def history(self, business_id: str, code: str) -> list[dict[str, Any]]:
        """What happened to the booking and its order, oldest first."""
        booking = self.booking(business_id, code)
        return self.core.order_log.booking_events(booking.code, booking.order_id)

    def money(self, business_id: str, code: str) -> dict[str, list[dict[str, Any]]]:
        """The booking's payment attempts, payouts (vendor, villa) and refunds, as stored."""
        booking = self.booking(business_id, code)
        db = self.core.db
        fields = {"_id": 1, "state": 1, "amount": 1, "attempt": 1, "party": 1, "paid_at": 1,
                  "created_at": 1, "updated_at": 1, "reason": 1, "error": 1, "expires_at": 1}
        return {kind: with_retries(lambda: list(db[kind].find(
                    {"code": booking.code, "business_id": business_id}, fields).sort(
                    "created_at", 1)))
                for kind in ("payments", "payouts", "refunds")}

    # ------------------------------------------------------------------ changes
    def arrived(self, business_id: str, code: str, actor: str) -> Booking:
        """The customer is here (once; from three hours before the start)."""
        booking = self.booking(business_id, code)
        if booking.status not in (CONFIRMED, PENDING_PAYMENT):
            raise InvalidTransitionError(code, booking.status, "ARRIVED")
        now = self.core.clock()
        if now < booking.start - ARRIVAL_EARLY:
            raise ValidationError("a customer can be marked arrived from three hours before "
                                  "the booking")
        doc = with_retries(lambda: self.core.db.bookings.find_one_and_update(
            {"_id": booking.id, "status": {"$in": [CONFIRMED, PENDING_PAYMENT]},
             "arrived_at": {"$exists": False}},
            {"$set": {"arrived_at": now, "updated_at": now}}, return_document=ReturnDocument.AFTER))
        if doc is None:
            return self.booking(business_id, code)  # already marked (or changed meanwhile)
        self.core.order_log.record(booking.order_id, business_id, orders.ARRIVED, now,
                                   code=code, by=actor)
        return Booking.from_doc(doc)

    def completed(self, business_id: str, code: str, actor: str) -> Booking:
        """The treatment took place (from its start on)."""
        return self._after_start(business_id, code, COMPLETED, actor)

    def no_show(self, business_id: str, code: str, actor: str) -> Booking:
        """The customer did not come (from the booking's start on); frees the time."""
        return self._after_start(business_id, code, NO_SHOW, actor)

    def _after_start(self, business_id: str, code: str, target: str, actor: str) -> Booking:
        booking = self.booking(business_id, code)
        if self.core.clock() < booking.start:
            raise ValidationError("this can be recorded once the booking has started")
        if target == NO_SHOW and booking.status == COMPLETED and booking.auto_completed:
            if self.core.clock() > booking.end + CORRECTION_WINDOW:
                raise ValidationError("a visit completed by itself can be corrected to a "
                                      "no-show for a week after it")
            return self.core.transition(code, target, expected=COMPLETED, by=actor)
        return self.core.transition(code, target, expected=CONFIRMED, by=actor)

    def cancel(self, business_id: str, code: str, actor: str,
               reason: str = "") -> tuple[Booking, int]:
        """Cancel an upcoming booking: what the customer paid is refunded in full, whatever
        the cancellation window (the business cancelled, not them); the booking and the amount
        to refund (0 if none). The customer is told."""
        booking = self.booking(business_id, code)
        if self.core.clock() >= booking.start:
            raise ValidationError("the booking has started: mark it completed or a no-show")
        cancelled = self.core.transition(code, CANCELLED, by=actor, reason=reason[:300])
        refund = self.payments.after_cancel(cancelled) if self.payments is not None else 0
        self.notices.tell(cancelled, self.core.catalog.business(business_id),
                          CANCELLED_BY_BUSINESS, refund=refund, reason=reason[:300],
                          start=booking.start)
        return cancelled, refund

    def reschedule(self, business_id: str, code: str, new_start: datetime,
                   staff_id: Optional[str], actor: str) -> Booking:
        """Move an upcoming booking to a free time (``SlotConflictError`` with alternatives
        when it is taken); the customer is told. (``actor`` is for the console's audit log;
        the core records the move itself.)"""
        before = self.booking(business_id, code)
        if staff_id is not None:  # another business's staff member: unknown here
            self._own_staff(business_id, staff_id)
        moved = self.desk_core.reschedule(code, new_start, staff_id=staff_id,
                                          business_id=business_id)
        logger.info("booking %s moved by the desk", code)
        self.notices.tell(moved, self.core.catalog.business(business_id), MOVED,
                          old_start=before.start)
        return moved

    def set_notes(self, business_id: str, code: str, notes: str, actor: str) -> Booking:
        """The desk's notes on a booking (not told to the customer)."""
        notes = notes.strip()
        if len(notes) > NOTES_MAX:
            raise ValidationError(f"notes are limited to {NOTES_MAX} characters")
        booking = self.booking(business_id, code)
        now = self.core.clock()
        doc = with_retries(lambda: self.core.db.bookings.find_one_and_update(
            {"_id": booking.id}, {"$set": {"notes": notes, "updated_at": now}},
            return_document=ReturnDocument.AFTER))
        self.core.order_log.record(booking.order_id, business_id, orders.NOTE_CHANGED, now,
                                   code=code, by=actor)
        return Booking.from_doc(doc)

    def free_times(self, business_id: str, service_id: str, day: date,
                   staff_id: Optional[str] = None) -> list[Any]:
        """Free start times the desk may book or move to (from now on, no minimum notice)."""
        self._own_service(business_id, service_id)
        if staff_id is not None:
            self._own_staff(business_id, staff_id)
        return self.desk_core.free_slots(service_id, day, staff_id=staff_id)

    def book(self, business_id: str, service_id: str, start: datetime,
             staff_id: Optional[str], name: str, phone: str, notes: str, actor: str) -> Booking:
        """A booking for a walk-in or phone customer, confirmed and paid at the spa. With a
        WhatsApp number the customer is that number (their "My bookings" lists it) and gets
        a confirmation; without one, a customer of their own."""
        self._own_service(business_id, service_id)
        if staff_id is not None:
            self._own_staff(business_id, staff_id)
        name = " ".join(name.split())[:100]
        if not name:
            raise ValidationError("a booking needs the customer's name")
        number = whatsapp_number(phone) if phone.strip() else None
        booking = self.desk_core.create(BookingRequest(
            service_id=service_id, start=start, staff_id=staff_id, customer_name=name,
            customer_id=number or f"desk:{uuid.uuid4().hex[:12]}", notes=notes.strip()[:NOTES_MAX],
            pay_at_venue=True))
        logger.info("booking %s made at the desk", booking.code)
        if number:
            self.notices.tell(booking, self.core.catalog.business(business_id), BOOKED_BY_DESK,
                              by=actor)
        return booking

    def _own_service(self, business_id: str, service_id: str) -> None:
        service = self.core.catalog.services.get(service_id)
        if service is None or service.business_id != business_id:
            raise UnknownEntityError("service", service_id)

    def _own_staff(self, business_id: str, staff_id: str) -> None:
        member = self.core.catalog.staff.get(staff_id)
        if member is None or member.business_id != business_id:
            raise UnknownEntityError("staff member", staff_id)


def whatsapp_number(text: str) -> str:
    """A phone number as WhatsApp writes it (country code, digits only): ``0812-3456-789`` and
    ``+62 812 3456 789`` are ``628123456789`` (a leading 0 is Indonesian); ``ValidationError``
    for anything that is not 8 to 15 digits."""
    digits = "".join(ch for ch in text if ch.isdigit())
    if digits.startswith("00"):  # the international prefix
        digits = digits[2:]
    elif digits.startswith("0"):  # a national number: Indonesian (+62)
        digits = "62" + digits[1:]
    if not 8 <= len(digits) <= 15 or set(text) - set("+0123456789 -().") :
        raise ValidationError("give the WhatsApp number with its country code, e.g. "
                              "+62 812 3456 789")
    return digits
