"""Availability against the stored bookings: free start times and the next alternatives."""
from __future__ import annotations

import threading
from datetime import date, datetime, timedelta
from typing import Any, Callable, Hashable, Optional, Sequence, TypeVar, Union
from zoneinfo import ZoneInfo

from pymongo.database import Database

from booking.availability import Interval, Rules, Slot, check_start, first_free, free_slots
from booking.catalog import Catalog
from booking.db import with_retries
from booking.errors import ValidationError
from booking.models import ACTIVE_STATUSES, Service, Staff

ALTERNATIVES = 3
T = TypeVar("T")
_SEARCH_DAYS_FOR_ALTERNATIVES = 14


class SingleFlight:
    """Concurrent calls with the same key wait for one execution and share its outcome.

    Nothing is kept afterwards: a call that starts once the shared one has finished runs anew.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[Hashable, "_Call"] = {}

    def do(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The outcome of ``compute()``, shared with concurrent callers of the same key."""
        with self._lock:
            call = self._calls.get(key)
            leader = call is None
            if leader:
                call = self._calls[key] = _Call()
        if leader:
            try:
                call.result = compute()
            except BaseException as exc:  # shared with the waiters, then re-raised below
                call.error = exc
            finally:
                with self._lock:
                    del self._calls[key]
                call.done.set()
        else:
            with self._lock:
                call.waiters += 1
            call.done.wait()
        if call.error is not None:
            raise call.error
        return call.result

    def waiting(self, key: Hashable) -> int:
        """How many callers are waiting for the running computation of ``key``."""
        with self._lock:
            call = self._calls.get(key)
            return call.waiters if call else 0


class _Call:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.waiters = 0
        self.result: Any = None
        self.error: Optional[BaseException] = None


class AvailabilityService:
    """Reads busy intervals from MongoDB and computes free start times in business time."""

    def __init__(self, db: Database, catalog: Union[Catalog, Callable[[], Catalog]],
                 rules: Rules, clock: Callable[[], datetime]) -> None:
        self.db = db
        self._catalog = catalog
        self.rules = rules
        self.clock = clock
        self._in_flight = SingleFlight()

    @property
    def catalog(self) -> Catalog:
        """The current catalog snapshot."""
        return self._catalog() if callable(self._catalog) else self._catalog

    def free_slots(
        self,
        service_id: str,
        first_day: date,
        last_day: Optional[date] = None,
        staff_id: Optional[str] = None,
    ) -> list[Slot]:
        """Free start times for a service on local days ``first_day``..``last_day``."""
        catalog = self.catalog
        service = catalog.service(service_id)
        tz = catalog.business(service.business_id).tz
        last_day = last_day or first_day
        if last_day < first_day:
            raise ValidationError("the last day of the range is before the first")
        staff = self.staff_for(catalog, service, staff_id)
        begin = datetime(first_day.year, first_day.month, first_day.day, tzinfo=tz)
        end = datetime(last_day.year, last_day.month, last_day.day, tzinfo=tz) + timedelta(days=1)
        busy = self.busy([m.id for m in staff], begin - timedelta(days=1), end + timedelta(days=1))
        return free_slots(service, staff, busy, first_day, last_day, tz, self.clock(), self.rules)

    def next_free(
        self,
        service_id: str,
        after: datetime,
        count: int = ALTERNATIVES,
        staff_id: Optional[str] = None,
    ) -> list[Slot]:
        """The next ``count`` free start times strictly after ``after``, day by day.

        Identical searches running at the same moment in this process share one computation
        (a herd of customers who just lost the same slot asks exactly this).
        """
        return self._in_flight.do((service_id, after, count, staff_id),
                                  lambda: self._next_free(service_id, after, count, staff_id))

    def _next_free(self, service_id: str, after: datetime, count: int,
                   staff_id: Optional[str]) -> list[Slot]:
        catalog = self.catalog
        service = catalog.service(service_id)
        tz = catalog.business(service.business_id).tz
        now = self.clock()
        day = max(after, now).astimezone(tz).date()
        last = (now + self.rules.horizon).astimezone(tz).date()
        found: list[Slot] = []
        span = 1  # the same day first (usually enough), then ever wider chunks
        while day <= last and len(found) < count:
            chunk_end = min(day + timedelta(days=span - 1), last)
            span = min(span * 2, _SEARCH_DAYS_FOR_ALTERNATIVES)
            slots = self.free_slots(service_id, day, chunk_end, staff_id)
            found.extend(first_free(slots, after, count - len(found)))
            day = chunk_end + timedelta(days=1)
        return found

    def nearest(self, service_id: str, wanted: datetime, count: int = ALTERNATIVES,
                staff_id: Optional[str] = None) -> list[Slot]:
        """The free start times closest to ``wanted`` (before or after) on its local day,
        topped up with the next free ones after it; in time order."""
        catalog = self.catalog
        tz = catalog.business(catalog.service(service_id).business_id).tz
        same_day = self.free_slots(service_id, wanted.astimezone(tz).date(), staff_id=staff_id)
        closest = sorted(same_day, key=lambda s: (abs(s.start - wanted), s.start))[:count]
        if len(closest) < count:
            later = self.next_free(service_id, max([wanted] + [s.start for s in closest]),
                                   count, staff_id)
            closest += [s for s in later if s not in closest][:count - len(closest)]
        return sorted(closest, key=lambda s: s.start)

    def staff_for(self, catalog: Catalog, service: Service, staff_id: Optional[str]) -> list[Staff]:
        """The given staff member (if they do the service), else everyone who does it."""
        if staff_id is None:
            return catalog.staff_for(service.id)
        member = catalog.staff_member(staff_id)
        if service.id not in member.service_ids:
            raise ValidationError(f"{member.name} does not perform {service.name}")
        return [member]

    def eligible(self, service: Service, candidates: Sequence[Staff], start: datetime,
                  tz: ZoneInfo, now: datetime) -> list[Staff]:
        """Candidates who could work ``service`` at ``start``; else the first reason why not."""
        eligible, first_error = [], None
        for member in candidates:
            try:
                check_start(service, member, start, tz, now, self.rules)
                eligible.append(member)
            except ValidationError as exc:
                first_error = first_error or exc
        if not eligible:
            raise first_error or ValidationError(f"nobody performs {service.name}")
        return eligible

    def busy(self, staff_ids: Sequence[str], begin: datetime, end: datetime) -> dict[str, list[Interval]]:
        """Occupied intervals of active bookings overlapping ``[begin, end)``, per staff id."""
        def query() -> dict[str, list[Interval]]:
            busy: dict[str, list[Interval]] = {sid: [] for sid in staff_ids}
            cursor = self.db.bookings.find(
                {
                    "staff_id": {"$in": list(staff_ids)},
                    "status": {"$in": list(ACTIVE_STATUSES)},
                    "occupied_start": {"$lt": end},
                    "occupied_end": {"$gt": begin},
                },
                {"_id": 0, "staff_id": 1, "occupied_start": 1, "occupied_end": 1},
            )
            for doc in cursor:
                busy[doc["staff_id"]].append((doc["occupied_start"], doc["occupied_end"]))
            return busy

        return with_retries(query)
