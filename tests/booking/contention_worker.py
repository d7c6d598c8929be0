"""Child-process side of the contention test: race booking attempts, report the outcomes."""
from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from booking.availability import Rules
from booking.bookings import BookingRequest, BookingService
from booking.db import connect
from booking.errors import SlotConflictError
from tests.booking.factories import catalog, service, staff

DURATIONS = {"s30": (30, 0, 10), "s45": (45, 5, 10), "s60": (60, 0, 15),
             "s75": (75, 10, 15), "s90": (90, 0, 15), "s120": (120, 15, 0)}


def race_catalog():
    """One staff member who does six services of different durations and buffers."""
    services = [service(sid, duration_minutes=d, buffer_before_minutes=b, buffer_after_minutes=a)
                for sid, (d, b, a) in DURATIONS.items()]
    return catalog(services=services, staff_members=[staff("wayan", list(DURATIONS))])


def run(url: str, db_name: str, now: datetime, attempts: list[tuple[str, datetime]],
        barrier: Any, results: Any) -> None:
    """Start every attempt in its own thread once all processes reach the barrier."""
    db = connect(url, db_name)
    # 5-minute start grid: the race covers every cell alignment of the durations and buffers
    svc = BookingService(db, race_catalog(), Rules(slot_minutes=5), clock=lambda: now)
    svc.free_slots("s30", now.date())  # warm the connection pool before the start signal
    local_go = threading.Barrier(len(attempts))

    def attempt(index: int, service_id: str, start: datetime) -> None:
        local_go.wait()
        request = BookingRequest(service_id, start, f"customer-{index}", staff_id="wayan")
        try:
            booking = svc.create(request)
            results.put({"ok": True, "service": service_id, "start": start, "code": booking.code})
        except SlotConflictError as exc:
            results.put({"ok": False, "service": service_id, "start": start,
                         "alternatives": exc.alternatives})
        except Exception as exc:  # reported, so the test fails with the reason
            results.put({"ok": None, "error": repr(exc)})

    barrier.wait()
    threads = [threading.Thread(target=attempt, args=(i, sid, start))
               for i, (sid, start) in enumerate(attempts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    db.client.close()
