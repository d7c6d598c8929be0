"""Funnel figures from the order log, with the booking core writing its own events."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from booking import orders
from booking.analytics import funnel
from booking.bookings import BookingRequest, BookingService
from booking.errors import SlotConflictError
from tests.booking.factories import catalog

T0 = datetime(2026, 11, 23, 0, 0, tzinfo=timezone.utc)
SLOT = datetime(2026, 11, 24, 2, 0, tzinfo=timezone.utc)


def test_funnel_rates_follow_the_orders(db, clock):
    log = orders.OrderLog(db)
    svc = BookingService(db, catalog(), clock=clock)
    # o1: selects, books 40 s later.  o2: selects the same slot, conflict, then session expires.
    # o3: never selects.  o4: selects, books 20 s later.
    for oid in ("o1", "o2", "o3", "o4"):
        log.record(oid, "spa", orders.ORDER_RECEIVED, T0)
    log.record("o1", "spa", orders.SLOT_SELECTED, T0 + timedelta(seconds=10))
    log.record("o2", "spa", orders.SLOT_SELECTED, T0 + timedelta(seconds=12))
    log.record("o4", "spa", orders.SLOT_SELECTED, T0 + timedelta(seconds=30))
    clock.now = T0 + timedelta(seconds=50)
    svc.create(BookingRequest("massage", SLOT, "c1", order_id="o1", staff_id="wayan"))
    with pytest.raises(SlotConflictError):
        svc.create(BookingRequest("massage", SLOT, "c2", order_id="o2", staff_id="wayan"))
    log.record("o2", "spa", orders.SESSION_EXPIRED, T0 + timedelta(minutes=20))
    svc.create(BookingRequest("massage", SLOT + timedelta(hours=3), "c4", order_id="o4"))
    # An order of another period and one of another business are ignored.
    log.record("old", "spa", orders.ORDER_RECEIVED, T0 - timedelta(days=40))
    log.record("x", "other", orders.ORDER_RECEIVED, T0)

    f = funnel(db, "spa", T0 - timedelta(days=1), T0 + timedelta(days=1))
    assert f.orders == 4
    assert f.slot_selection_rate == 3 / 4
    assert f.confirmation_rate == 2 / 3
    assert f.session_expiration_rate == 1 / 3
    assert f.conflict_rate == 1 / 3
    assert f.avg_selection_to_confirmation_s == (40 + 20) / 2


def test_unknown_event_types_are_refused(db):
    with pytest.raises(ValueError, match="unknown order event type"):
        orders.OrderLog(db).record("o", "spa", "order_teleported")
