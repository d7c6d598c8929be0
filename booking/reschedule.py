"""Moving a booking to another time: the new cells are claimed and the old ones given up in
one compare-and-swap update, so a move either happens whole or not at all.

Mixed into ``BookingService`` (like ``booking.holds``); ``self`` is the core.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Optional

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from booking import orders
from booking.availability import occupied_interval
from booking.claims import CellTaken, Stale, claim_ids, duplicate_key_of
from booking.db import with_retries
from booking.errors import InvalidTransitionError, SlotConflictError
from booking.deposits import free_until_after_move
from booking.models import UPCOMING_STATUSES, Booking, Service, Staff
from booking.slots import ALTERNATIVES

_MAX_STALE_RETRIES = 5


class Rescheduling:
    """``reschedule`` of the core (``self`` is a ``BookingService``)."""

    def reschedule(self: Any, code: str, new_start: datetime, staff_id: Optional[str] = None,
                   customer_id: Optional[str] = None,
                   business_id: Optional[str] = None) -> Booking:
        """Move an upcoming booking to ``new_start`` atomically: the new time is claimed before
        the old is released, in one update; on conflict nothing changes.

        Args:
            customer_id, business_id: when given, the booking must be this customer's at this
                business; any other is refused as unknown (nothing about it is revealed).
        Raises:
            UnknownEntityError: no such booking (for this customer and business).
            InvalidTransitionError: the booking is not upcoming (cancelled, expired, ...).
            SlotConflictError: the new time is taken (with alternatives).
        """
        for _ in range(_MAX_STALE_RETRIES):
            booking = self.get_owned(code, customer_id, business_id)
            if booking.status not in UPCOMING_STATUSES:
                raise InvalidTransitionError(code, booking.status, "RESCHEDULED")
            catalog = self.catalog
            service = catalog.service(booking.service_id)
            tz = catalog.business(booking.business_id).tz
            if staff_id is not None:
                candidates = self.availability.staff_for(catalog, service, staff_id)
            else:  # the same person first, then anyone else who does the service
                others = [m for m in catalog.staff_for(service.id) if m.id != booking.staff_id]
                candidates = [catalog.staff_member(booking.staff_id)] + others
            now = self.clock()
            eligible = self.availability.eligible(service, candidates, new_start, tz, now)
            try:
                for member in eligible:
                    try:
                        return with_retries(lambda: self._move(
                            booking, service, member, new_start, now, customer_id is None))
                    except CellTaken:
                        continue
            except Stale:
                continue
            alternatives = [s.start for s in self.next_free(service.id, new_start, ALTERNATIVES,
                                                             staff_id)]
            self.order_log.record(booking.order_id, booking.business_id, orders.CONFLICT, now,
                                  code=code, start=new_start)
            raise SlotConflictError(f"{service.name} at that time is taken", alternatives)
        raise InvalidTransitionError(code, None, "RESCHEDULED")

    def _move(self: Any, booking: Booking, service: Service, member: Staff,
              new_start: datetime, now: datetime, by_business: bool) -> Booking:
        occupied = occupied_interval(service, new_start)
        free_until = free_until_after_move(booking.cancel_window_hours,
                                           booking.cancel_free_until, new_start, now, by_business)
        # One update swaps the cells: the new ones are checked against everyone else's before
        # the old ones are given up, and a refusal changes nothing.
        try:
            doc = self.db.bookings.find_one_and_update(
                {"_id": booking.id, "status": booking.status, "version": booking.version},
                {"$set": {"start": new_start,
                          "end": new_start + timedelta(minutes=service.duration_minutes),
                          "staff_id": member.id, "occupied_start": occupied[0],
                          "occupied_end": occupied[1],
                          "cells": claim_ids(member.id, occupied), "updated_at": now,
                          "free_until": free_until},
                 "$inc": {"version": 1},
                 "$push": {"history": {"status": booking.status, "at": now,
                                       "rescheduled_from": booking.start}}},
                return_document=ReturnDocument.AFTER)
        except DuplicateKeyError as exc:
            if "cells" in duplicate_key_of(exc):
                raise CellTaken() from exc
            raise
        if doc is None:
            raise Stale()
        self.order_log.append([orders.event_doc(
            booking.order_id, booking.business_id, orders.RESCHEDULED, now,
            code=booking.code, old_start=booking.start, new_start=new_start)])
        return Booking.from_doc(doc)
