"""Bookings: create, change status, cancel and reschedule without ever double-booking.

The guarantee lives in MongoDB: an active booking lists the claim cells of its occupied
interval (``<staff>@<cell>``, 5-minute cells, buffers included) in its ``cells`` field, under a
unique multikey index. Two bookings of one staff member that overlap share a cell, so the
database refuses the second, across processes and servers. Claiming (insert), moving
(reschedule) and releasing cells (cancel, expiry) are each one single-document write, hence
atomic without a transaction; the server settles concurrent writers itself. Order events are
appended after the decision (analytics; see ``orders``). The payment lifecycle of a booking
lives in ``booking.holds``, moving one in ``booking.reschedule``, waiting-list offers in
``booking.offers`` and payment terms and cancelling in ``booking.cancellation`` (mixed into
the service).
"""
from __future__ import annotations

import logging
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable, Optional, Union

from pymongo import ReturnDocument
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from booking import metrics, orders
from booking.availability import Interval, Rules, Slot, occupied_interval
from booking.catalog import Catalog
from booking.db import with_retries
from booking.errors import (
    CustomerLimitError,
    InvalidTransitionError,
    SlotConflictError,
    ValidationError,
)
from booking.claims import CellTaken, SlotTaken, Stale, claim_ids, duplicate_key_of
from booking.cancellation import Cancelling
from booking.lookups import BookingLookups
from booking.holds import PaymentHolds
from booking.offers import WaitlistHolds
from booking.reschedule import Rescheduling
from booking.limits import SLOT_FIELDS, CustomerLimits, CustomerSlots, plan_usage, released_by
from booking.slots import ALTERNATIVES, AvailabilityService
from booking.models import (
    ACTIVE_STATUSES,
    ALLOWED_TRANSITIONS,
    CANCELLED,
    COMPLETED,
    CONFIRMED,
    EXPIRED,
    NO_SHOW,
    OFFERED,
    PENDING_PAYMENT,
    Booking,
    Service,
    Staff,
)

logger = logging.getLogger(__name__)

_MAX_CODE_ATTEMPTS = 20
_MAX_STALE_RETRIES = 5


def utcnow() -> datetime:
    """The current instant, aware UTC."""
    return datetime.now(timezone.utc)


def random_code() -> str:
    """A booking code: ``BK`` and six random digits."""
    return f"BK{secrets.randbelow(1_000_000):06d}"


@dataclass(frozen=True)
class BookingRequest:
    """What a customer asks for. ``staff_id`` None means anyone who does the service."""

    service_id: str
    start: datetime
    customer_id: str
    customer_name: str = ""
    staff_id: Optional[str] = None
    villa_id: Optional[str] = None
    notes: str = ""
    order_id: Optional[str] = None
    idempotency_key: Optional[str] = None
    pay_at_venue: bool = False  # made at the desk: confirmed now, paid at the spa
    offer_until: Optional[datetime] = None  # a waiting-list offer held until then (OFFERED;
    # the customer's limits and the plan count it only once accepted: ``booking.offers``)


class BookingService(BookingLookups, PaymentHolds, Rescheduling, WaitlistHolds, Cancelling):
    """The booking core: availability, bookings and their lifecycle."""

    def __init__(
        self,
        db: Database,
        catalog: Union[Catalog, Callable[[], Catalog]],
        rules: Rules = Rules(),
        clock: Callable[[], datetime] = utcnow,
        code_generator: Callable[[], str] = random_code,
        limits: CustomerLimits = CustomerLimits(),
        hold: timedelta = timedelta(minutes=30),
    ) -> None:
        """Args:
            limits: per-customer limits (``booking.limits``).
            hold: how long an unpaid booking holds its time before an invoice says otherwise.
        """
        self.db = db
        self._catalog = catalog
        self.rules = rules
        self.clock = clock
        self.new_code = code_generator
        self.availability = AvailabilityService(db, catalog, rules, clock)
        self.order_log = orders.OrderLog(db)
        self.limits, self.hold = limits, hold
        self.customer_slots = CustomerSlots(db, limits, clock)

    @property
    def catalog(self) -> Catalog:
        """The current catalog snapshot."""
        return self.availability.catalog

    def with_rules(self, rules: Rules) -> "BookingService":
        """The same core (database, catalog, clock, limits) under other booking rules; the
        database's claims still keep anyone from being double-booked."""
        return BookingService(self.db, self._catalog, rules, clock=self.clock,
                              code_generator=self.new_code, limits=self.limits, hold=self.hold)

    def catalog_changed(self) -> None:
        """This process changed the stored catalog: the next snapshot reads it again."""
        invalidate = getattr(self._catalog, "invalidate", None)
        if invalidate is not None:
            invalidate()

    # ----------------------------------------------------------------- availability
    def free_slots(self, service_id: str, first_day: date, last_day: Optional[date] = None,
                   staff_id: Optional[str] = None) -> list[Slot]:
        """Free start times (see ``AvailabilityService.free_slots``)."""
        return self.availability.free_slots(service_id, first_day, last_day, staff_id)

    def next_free(self, service_id: str, after: datetime, count: int = ALTERNATIVES,
                  staff_id: Optional[str] = None) -> list[Slot]:
        """The next free start times (see ``AvailabilityService.next_free``)."""
        return self.availability.next_free(service_id, after, count, staff_id)

    def nearest(self, service_id: str, wanted: datetime, count: int = ALTERNATIVES,
                staff_id: Optional[str] = None) -> list[Slot]:
        """Free times closest to ``wanted`` (see ``AvailabilityService.nearest``)."""
        return self.availability.nearest(service_id, wanted, count, staff_id)

    # ----------------------------------------------------------------- create
    def create(self, request: BookingRequest) -> Booking:
        """Book a service; raises a ``ValidationError`` (``OffGridError`` for a start off the
        grid, ``CustomerLimitError`` past a customer limit), ``SlotConflictError`` (with
        alternatives) or ``PlanLimitReachedError``. Repeating a request with the same
        ``idempotency_key`` returns the booking it made."""
        started, outcome = time.perf_counter(), None
        try:
            return self._create(request)
        except Exception as exc:  # (counted by kind: a BookingError's, or "error")
            outcome = exc
            raise
        finally:
            metrics.BOOKINGS.labels(metrics.outcome_of(outcome)).inc()
            metrics.BOOKING_CREATE.observe(time.perf_counter() - started)

    def _create(self, request: BookingRequest) -> Booking:
        catalog = self.catalog
        service = catalog.service(request.service_id)
        business = catalog.business(service.business_id)
        if request.villa_id is not None:
            villa = catalog.villa(request.villa_id)
            if business.id not in villa.business_ids:
                raise ValidationError(f"{villa.name} is not a partner of {business.name}")
        now = self.clock()
        eligible = self.availability.eligible(service, self.availability.staff_for(catalog, service, request.staff_id),
                                  request.start, business.tz, now)
        key = request.idempotency_key or uuid.uuid4().hex
        occupied = occupied_interval(service, request.start)
        if len(eligible) > 1:  # pick among colleagues who look free; the insert decides
            busy = self.availability.busy([m.id for m in eligible], *occupied)
            eligible = [m for m in eligible if not busy[m.id]]
        attempts = 0

        def insert(member: Staff) -> Booking:
            nonlocal attempts
            attempts += 1
            return self._insert(request, key, business.id, service, member, occupied, now,
                                retried=attempts > 1)

        for member in eligible:
            try:
                return with_retries(lambda: insert(member))
            except CellTaken:
                continue
        return self._conflict(request, business.id, service)

    def _conflict(self, request: BookingRequest, business_id: str, service: Service) -> Booking:
        metrics.SLOT_CONFLICTS.inc()
        alternatives = [s.start for s in self.next_free(
            service.id, request.start, ALTERNATIVES, request.staff_id)]
        self.order_log.record(request.order_id, business_id, orders.CONFLICT, self.clock(),
                              service_id=service.id, start=request.start,
                              customer_id=request.customer_id)
        raise SlotConflictError(f"{service.name} at that time has just been taken", alternatives)

    def by_idempotency_key(self, key: str) -> Optional[Booking]:
        """The booking a request with this idempotency key made, if any."""
        doc = with_retries(lambda: self.db.bookings.find_one({"idempotency_key": key}))
        return Booking.from_doc(doc) if doc else None

    def _insert(self, request: BookingRequest, key: str, business_id: str, service: Service,
                member: Staff, occupied: Interval, now: datetime, retried: bool) -> Booking:
        """One insert is the whole decision: cells, code, idempotency key and (for a business
        with a plan limit) the usage slot are each under a unique index.

        Args:
            retried: an earlier attempt of this request may have been stored (its answer lost).
        """
        business = self.catalog.business(business_id)
        deal = self.terms(service, request.customer_id)
        status = PENDING_PAYMENT if deal.due_now and not request.pay_at_venue else CONFIRMED
        offered = request.offer_until is not None
        if offered:
            status = OFFERED
        for attempt in range(_MAX_CODE_ATTEMPTS):
            doc = {
                "_id": uuid.uuid4().hex,
                "code": self.new_code(),
                "idempotency_key": key,
                "business_id": business_id,
                "service_id": service.id,
                "staff_id": member.id,
                "villa_id": request.villa_id,
                "customer_id": request.customer_id,
                "customer_name": request.customer_name,
                "notes": request.notes,
                "order_id": request.order_id,
                "start": request.start,
                "end": request.start + timedelta(minutes=service.duration_minutes),
                "occupied_start": occupied[0],
                "occupied_end": occupied[1],
                "cells": claim_ids(member.id, occupied),
                "status": status,
                "price": service.price,
                "currency": business.currency,
                "amount_due": deal.due_now if status == PENDING_PAYMENT else 0,
                "cancel_window_hours": deal.cancel_window_hours,
                "free_until": deal.free_until(request.start),
                "payment_attempt": 1,
                "version": 1,
                "created_at": now,
                "updated_at": now,
                "history": [{"status": status, "at": now}],
            }
            if status == PENDING_PAYMENT:
                doc["hold_until"] = now + self.hold
            if offered:
                doc.update(hold_until=request.offer_until, waitlist=True)
            try:  # first guess slot 1 without a read; a taken one is looked up next time
                choose = self.customer_slots.first if attempt == 0 else self.customer_slots.pick
                if not offered:
                    doc.update(choose(business_id, request.customer_id,
                                      unpaid=status == PENDING_PAYMENT))
                    doc.update(plan_usage(self.db, business, now))
            except CustomerLimitError:
                existing = self.by_idempotency_key(key) if (
                    retried or request.idempotency_key) else None
                if existing is not None:  # the limit is full with this very request
                    return existing
                raise
            try:
                self.db.bookings.insert_one(doc)
            except DuplicateKeyError as exc:
                index = duplicate_key_of(exc)
                if retried or request.idempotency_key or "idempotency_key" in index:
                    existing = self.by_idempotency_key(key)  # ours already?
                    if existing is not None:
                        return existing
                if "cells" in index:
                    raise CellTaken() from exc
                if "code" in index or "usage_slot" in index or set(SLOT_FIELDS) & set(index):
                    continue  # draw another code / count again / take another limit slot
                raise
            created = orders.WAITLIST_OFFERED if offered else orders.BOOKING_CREATED
            events = [orders.event_doc(request.order_id, business_id, created,
                                       now, code=doc["code"], customer_id=request.customer_id)]
            if status == PENDING_PAYMENT:
                events.append(orders.event_doc(request.order_id, business_id,
                                               orders.PENDING_PAYMENT, now, code=doc["code"]))
            self.order_log.append(events)
            return Booking.from_doc(doc)
        raise RuntimeError("could not find a free booking code or usage slot")

    # ----------------------------------------------------------------- lifecycle
    def transition(self, code: str, target: str, expected: Optional[str] = None,
                   fields: Optional[dict[str, Any]] = None, **event_data: Any) -> Booking:
        """Move a booking to ``target`` by compare-and-swap on its current status.

        Args:
            expected: the status the caller believes the booking has; when given and different,
                the change is refused.
            fields: more fields to set in the same update (``auto_completed``).
        Raises:
            InvalidTransitionError: the lifecycle forbids the change (or ``expected`` is stale).
        """
        for _ in range(_MAX_STALE_RETRIES):
            current = self.get(code)
            if expected is not None and current.status != expected:
                raise InvalidTransitionError(code, current.status, target)
            if target not in ALLOWED_TRANSITIONS[current.status] or current.status == OFFERED or (
                    current.status == COMPLETED and not current.auto_completed):
                raise InvalidTransitionError(code, current.status, target)
            try:
                return with_retries(lambda: self._apply_status(current, target, event_data,
                                                               fields))
            except Stale:
                continue
            except CellTaken:
                raise SlotConflictError("the time is no longer free")
        raise InvalidTransitionError(code, None, target)

    def _apply_status(self, current: Booking, target: str, event_data: dict,
                      extra: Optional[dict[str, Any]] = None,
                      event: Optional[str] = None) -> Booking:
        """One compare-and-swap on status and version. A booking becoming active again (an
        EXPIRED one, paid late or paid again) takes its cells back in the same update, which
        the unique index refuses with ``CellTaken`` if someone else holds them. ``event``: the
        order event to log instead of the target status's own."""
        now = self.clock()
        update: dict[str, Any] = {
            "$set": {"status": target, "updated_at": now, **(extra or {})},
            "$inc": {"version": 1}, "$push": {"history": {"status": target, "at": now}}}
        update["$unset"] = released_by(target)  # limit slots it no longer counts in
        if target not in ACTIVE_STATUSES:
            update["$unset"]["cells"] = ""  # releases the time in the same atomic update
        elif current.status not in ACTIVE_STATUSES:
            update["$set"]["cells"] = claim_ids(
                current.staff_id, (current.occupied_start, current.occupied_end))
        if not update["$unset"]:
            del update["$unset"]
        try:
            doc = self.db.bookings.find_one_and_update(
                {"_id": current.id, "status": current.status, "version": current.version},
                update, return_document=ReturnDocument.AFTER)
        except DuplicateKeyError as exc:
            index = duplicate_key_of(exc)
            if "cells" in index:
                raise CellTaken() from exc
            if set(SLOT_FIELDS + ("usage_slot",)) & set(index):
                raise SlotTaken() from exc
            raise
        if doc is None:
            raise Stale()
        kind = event or _EVENT_FOR_STATUS.get(target)
        if kind:
            self.order_log.append([orders.event_doc(
                current.order_id, current.business_id, kind, now, code=current.code,
                **event_data)])
        return Booking.from_doc(doc)


_EVENT_FOR_STATUS = {
    CANCELLED: orders.CANCELLED,
    COMPLETED: orders.COMPLETED,
    NO_SHOW: orders.NO_SHOW,
    CONFIRMED: orders.PAYMENT_SUCCEEDED,
    EXPIRED: orders.PAYMENT_EXPIRED,
    PENDING_PAYMENT: orders.RECOVERY_STARTED,
}
