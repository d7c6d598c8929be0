"""Abuse limits of the core (issue 11, section 3): unpaid holds and upcoming bookings per
customer and business, payment attempts per booking, and starts only on the slot grid."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from booking.availability import Rules
from booking.bookings import BookingRequest, BookingService
from booking.errors import CustomerLimitError, OffGridError
from booking.limits import CustomerLimits
from booking.models import CONFIRMED, EXPIRED, PENDING_PAYMENT
from booking.runtime import limits_from
from booking.settings import Settings
from tests.booking.factories import catalog

BALI = ZoneInfo("Asia/Makassar")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """Local time on 2026-11-(24 + day) in Bali, as UTC."""
    return datetime(2026, 11, 24 + day, hour, minute, tzinfo=BALI).astimezone(timezone.utc)


def nth_start(n: int) -> datetime:
    """The n-th distinct hour-long time (eight a day, from Tuesday 09:00)."""
    return at(n // 8, 9 + n % 8)


def core(db, clock, payment_required: bool, **limits: int) -> BookingService:
    return BookingService(db, catalog(payment_required=payment_required), clock=clock,
                          limits=CustomerLimits(**limits))


def book(svc: BookingService, start: datetime, customer: str = "c1"):
    return svc.create(BookingRequest("massage", start, customer))


def race(svc: BookingService, count: int, customer: str = "c1") -> tuple[list, list]:
    """``count`` threads of one customer book distinct times at once: (bookings, errors)."""
    go = threading.Barrier(count)
    booked, refused, lock = [], [], threading.Lock()

    def attempt(n: int) -> None:
        go.wait()
        try:
            booking = book(svc, nth_start(n), customer)
            with lock:
                booked.append(booking)
        except CustomerLimitError as exc:
            with lock:
                refused.append(exc)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return booked, refused


# ------------------------------------------------------------------ unpaid holds
def test_a_customer_holds_at_most_three_unpaid_times_per_business(db, clock):
    svc = core(db, clock, payment_required=True)
    held = [book(svc, nth_start(n)) for n in range(3)]
    assert {b.status for b in held} == {PENDING_PAYMENT}
    with pytest.raises(CustomerLimitError) as info:
        book(svc, nth_start(3))
    assert (info.value.kind, info.value.limit) == ("unpaid_holds", 3)
    assert book(svc, nth_start(3), customer="c2").status == PENDING_PAYMENT  # someone else
    svc.cancel(held[0].code)
    assert book(svc, nth_start(4)).status == PENDING_PAYMENT  # a hold given up frees one
    svc.settle_payment(held[1].code, f"{held[1].code}-1")
    assert book(svc, nth_start(5)).status == PENDING_PAYMENT  # so does a paid one


def test_parallel_holds_of_one_customer_never_exceed_the_limit(db, clock):
    svc = core(db, clock, payment_required=True)
    booked, refused = race(svc, 12)
    assert len(booked) == 3 and len(refused) == 9
    assert {e.kind for e in refused} == {"unpaid_holds"}
    assert db.bookings.count_documents({"customer_id": "c1", "status": PENDING_PAYMENT}) == 3


# ------------------------------------------------------------------ upcoming bookings
def test_at_most_ten_upcoming_bookings_and_past_ones_stop_counting(db, clock):
    svc = core(db, clock, payment_required=False)
    first = [book(svc, nth_start(n)) for n in range(10)]
    assert {b.status for b in first} == {CONFIRMED}
    with pytest.raises(CustomerLimitError) as info:
        book(svc, nth_start(10))
    assert (info.value.kind, info.value.limit) == ("upcoming", 10)
    clock.now = first[0].end + timedelta(minutes=1)  # the first one is over
    assert book(svc, nth_start(10)).status == CONFIRMED
    with pytest.raises(CustomerLimitError):
        book(svc, nth_start(11))


def test_parallel_bookings_of_one_customer_stop_at_the_upcoming_limit(db, clock):
    svc = core(db, clock, payment_required=False, max_upcoming=4)
    booked, refused = race(svc, 10)
    assert len(booked) == 4 and {e.kind for e in refused} == {"upcoming"}
    assert db.bookings.count_documents({"customer_id": "c1", "status": CONFIRMED}) == 4


def test_a_limit_of_zero_is_no_limit(db, clock):
    svc = core(db, clock, payment_required=True, max_unpaid_holds=0, max_upcoming=0)
    assert len([book(svc, nth_start(n)) for n in range(12)]) == 12


def test_limits_are_configured_from_the_environment(monkeypatch):
    defaults = limits_from(Settings.from_env())
    assert defaults == CustomerLimits(max_unpaid_holds=3, max_upcoming=10,
                                      max_payment_attempts=3)
    monkeypatch.setenv("BOOKING_MAX_UNPAID_HOLDS", "1")
    monkeypatch.setenv("BOOKING_MAX_UPCOMING", "5")
    monkeypatch.setenv("BOOKING_MAX_PAYMENT_ATTEMPTS", "2")
    assert limits_from(Settings.from_env()) == CustomerLimits(1, 5, 2)


# ------------------------------------------------------------------ pay again
def test_pay_again_cannot_hold_a_time_forever(db, clock):
    svc = core(db, clock, payment_required=True)
    booking = book(svc, nth_start(0))
    assert booking.hold_until == clock.now + timedelta(minutes=30)
    for attempt in (2, 3):
        svc.release_hold(booking.code, attempt - 1)
        clock.now += timedelta(minutes=40)
        again = svc.hold_again(booking.code, "c1")
        assert again.payment_attempt == attempt
        assert again.hold_until == clock.now + timedelta(minutes=30)
    svc.release_hold(booking.code, 3)
    with pytest.raises(CustomerLimitError) as info:
        svc.hold_again(booking.code, "c1")
    assert (info.value.kind, info.value.limit) == ("payment_attempts", 3)
    assert svc.get(booking.code).status == EXPIRED


def test_pay_again_counts_as_an_unpaid_hold(db, clock):
    svc = core(db, clock, payment_required=True)
    lapsed = book(svc, nth_start(0))
    svc.release_hold(lapsed.code, 1)
    for n in (1, 2, 3):
        book(svc, nth_start(n))
    with pytest.raises(CustomerLimitError) as info:
        svc.hold_again(lapsed.code, "c1")
    assert info.value.kind == "unpaid_holds"
    assert svc.get(lapsed.code).status == EXPIRED and svc.get(lapsed.code).payment_attempt == 1


# ------------------------------------------------------------------ slot grid
def test_a_typed_start_off_the_slot_grid_is_refused(db, clock):
    svc = core(db, clock, payment_required=False)
    with pytest.raises(OffGridError) as info:
        book(svc, at(0, 10, 7))
    assert info.value.slot_minutes == 15 and info.value.local_time == "10:07"
    assert db.bookings.count_documents({}) == 0
    booking = book(svc, at(0, 10, 15))
    with pytest.raises(OffGridError):
        svc.reschedule(booking.code, at(0, 11, 7))
    assert svc.get(booking.code).start == at(0, 10, 15)
    assert svc.reschedule(booking.code, at(0, 11, 45)).start == at(0, 11, 45)


def test_the_grid_follows_the_configured_slot_minutes(db, clock):
    svc = BookingService(db, catalog(), Rules(slot_minutes=30), clock=clock)
    with pytest.raises(OffGridError):
        book(svc, at(0, 10, 15))
    assert book(svc, at(0, 10, 30)).status == CONFIRMED
