"""The booking lifecycle on a real mongod: codes, compare-and-swap, cancel, reschedule, limits."""
from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from booking.bookings import BookingRequest, BookingService
from booking.errors import (
    InvalidTransitionError,
    OutsideWorkingHoursError,
    PlanLimitReachedError,
    SlotConflictError,
    TooSoonError,
    UnknownEntityError,
)
from booking.orders import events_collection
from booking.models import CANCELLED, COMPLETED, CONFIRMED, EXPIRED, NO_SHOW, PENDING_PAYMENT
from tests.booking.factories import catalog, service, staff

BALI = ZoneInfo("Asia/Makassar")
TUESDAY = date(2026, 11, 24)


def at(hhmm: str, day: date = TUESDAY) -> datetime:
    h, m = map(int, hhmm.split(":"))
    return datetime(day.year, day.month, day.day, h, m, tzinfo=BALI).astimezone(timezone.utc)


def request(start: str, customer: str = "6281100000001", **kw) -> BookingRequest:
    return BookingRequest(service_id=kw.pop("service_id", "massage"), start=at(start),
                          customer_id=customer, customer_name="Ayu", **kw)


@pytest.fixture
def svc(db, clock):
    cat = catalog(services=[service(buffer_after_minutes=15), service("scrub", duration_minutes=45)],
                  staff_members=[staff("wayan", ["massage", "scrub"]),
                                 staff("made", ["massage"], weekly_hours={"tue": "09:00-12:00"})])
    return BookingService(db, cat, clock=clock)


def test_create_confirms_at_a_business_without_upfront_payment(svc, db):
    booking = svc.create(request("10:00", staff_id="wayan"))
    assert booking.status == CONFIRMED
    assert booking.code.startswith("BK") and len(booking.code) == 8 and booking.code[2:].isdigit()
    assert booking.end - booking.start == timedelta(minutes=60)
    assert booking.price == 350000 and booking.currency == "IDR"
    stored = db.bookings.find_one({"code": booking.code})
    assert stored["start"] == at("10:00") and stored["status"] == CONFIRMED
    # 60 min + 15 min buffer = 15 claim cells of 5 minutes: 10:00-11:15 local (02:00Z-03:15Z).
    assert stored["cells"][0] == "wayan@2026-11-24T02:00"
    assert stored["cells"][-1] == "wayan@2026-11-24T03:10" and len(stored["cells"]) == 15


def test_create_waits_for_payment_when_the_business_requires_it(db, clock):
    svc = BookingService(db, catalog(payment_required=True), clock=clock)
    booking = svc.create(request("10:00"))
    assert booking.status == PENDING_PAYMENT
    types = [e["type"] for e in events_collection(db).find({"data.code": booking.code})]
    assert types == ["booking_created", "pending_payment"]
    assert svc.transition(booking.code, CONFIRMED).status == CONFIRMED
    assert svc.transition(booking.code, COMPLETED).status == COMPLETED


def test_overlapping_booking_is_refused_with_three_alternatives(svc):
    svc.create(request("10:00", staff_id="wayan"))
    with pytest.raises(SlotConflictError) as info:
        svc.create(request("10:30", customer="6281100000002", staff_id="wayan"))
    # Wayan is busy 10:00-11:15; the next three starts after 10:30 are 11:15, 11:30, 11:45.
    assert [a.astimezone(BALI).strftime("%H:%M") for a in info.value.alternatives] == [
        "11:15", "11:30", "11:45"]


def test_anyone_request_goes_to_a_free_colleague(svc):
    first = svc.create(request("10:00"))
    second = svc.create(request("10:00", customer="6281100000002"))
    assert {first.staff_id, second.staff_id} == {"wayan", "made"}
    with pytest.raises(SlotConflictError):
        svc.create(request("10:00", customer="6281100000003"))


def test_codes_are_unique_and_a_collision_draws_a_new_code(db, clock):
    codes = itertools.chain(["BK000001", "BK000001", "BK000001", "BK000002"])
    svc = BookingService(db, catalog(), clock=clock, code_generator=lambda: next(codes))
    assert svc.create(request("10:00")).code == "BK000001"
    assert svc.create(request("12:00")).code == "BK000002"
    assert db.bookings.count_documents({}) == 2


def test_same_idempotency_key_returns_the_same_booking(svc, db):
    first = svc.create(request("10:00", idempotency_key="order-1:confirm"))
    again = svc.create(request("10:00", idempotency_key="order-1:confirm"))
    assert again.code == first.code
    assert db.bookings.count_documents({}) == 1


@pytest.mark.parametrize("path, refused", [
    ([], PENDING_PAYMENT),                 # CONFIRMED -> PENDING_PAYMENT
    ([], EXPIRED),                         # CONFIRMED -> EXPIRED
    ([CANCELLED], CONFIRMED),              # CANCELLED is final
    ([COMPLETED], CANCELLED),              # COMPLETED is final
    ([NO_SHOW], COMPLETED),                # NO_SHOW is final
])
def test_impossible_status_changes_are_refused_and_not_applied(svc, db, path, refused):
    booking = svc.create(request("10:00"))
    for status in path:
        svc.transition(booking.code, status)
    before = db.bookings.find_one({"code": booking.code})
    with pytest.raises(InvalidTransitionError) as info:
        svc.transition(booking.code, refused)
    assert info.value.target == refused
    assert db.bookings.find_one({"code": booking.code}) == before


def test_a_stale_expected_status_is_refused(db, clock):
    svc = BookingService(db, catalog(payment_required=True), clock=clock)
    booking = svc.create(request("10:00"))
    svc.transition(booking.code, EXPIRED, expected=PENDING_PAYMENT)
    # A late PAID callback believes the booking still waits for payment.
    with pytest.raises(InvalidTransitionError):
        svc.transition(booking.code, CONFIRMED, expected=PENDING_PAYMENT)
    assert svc.get(booking.code).status == EXPIRED
    assert "cells" not in db.bookings.find_one({"code": booking.code})  # expiry freed the time


def test_cancel_frees_the_time(svc, db):
    booking = svc.create(request("10:00", staff_id="wayan"))
    cancelled = svc.cancel(booking.code, customer_id="6281100000001")
    assert cancelled.status == CANCELLED
    assert "cells" not in db.bookings.find_one({"code": booking.code})
    again = svc.create(request("10:00", customer="6281100000002", staff_id="wayan"))
    assert again.status == CONFIRMED
    with pytest.raises(InvalidTransitionError):
        svc.cancel(booking.code)


def test_cancel_by_someone_else_is_refused(svc):
    booking = svc.create(request("10:00"))
    with pytest.raises(UnknownEntityError):
        svc.cancel(booking.code, customer_id="6289999999999")
    assert svc.get(booking.code).status == CONFIRMED


def test_another_business_cannot_cancel_move_or_hold_again_a_booking(svc, db):
    """A booking asked for through another business's number is as unknown as a made-up code
    (the same error, nothing changed); through its own business everything works."""
    booking = svc.create(request("10:00"))
    with pytest.raises(UnknownEntityError) as unknown:
        svc.get_owned("BK000000", "6281100000001", "spa")
    attempts = [lambda: svc.cancel(booking.code, customer_id="6281100000001",
                                   business_id="salon"),
                lambda: svc.reschedule(booking.code, at("11:00"), customer_id="6281100000001",
                                       business_id="salon"),
                lambda: svc.hold_again(booking.code, "6281100000001", business_id="salon"),
                lambda: svc.get_owned(booking.code, business_id="salon")]
    for attempt in attempts:
        with pytest.raises(UnknownEntityError) as refused:
            attempt()
        assert type(refused.value) is type(unknown.value)
        assert refused.value.kind == "booking" and refused.value.key == booking.code
    stored = db.bookings.find_one({"code": booking.code})
    assert stored["status"] == CONFIRMED and stored["start"] == at("10:00")
    assert svc.reschedule(booking.code, at("11:00"), customer_id="6281100000001",
                          business_id="spa").start == at("11:00")
    assert svc.cancel(booking.code, customer_id="6281100000001",
                      business_id="spa").status == CANCELLED


def test_reschedule_moves_the_booking_and_its_claims(svc, db):
    booking = svc.create(request("10:00", staff_id="wayan"))
    moved = svc.reschedule(booking.code, at("10:30"))  # overlaps its own old time
    assert moved.start == at("10:30") and moved.staff_id == "wayan"
    cells = db.bookings.find_one({"code": booking.code})["cells"]
    assert len(cells) == 15
    assert cells[0] == "wayan@2026-11-24T02:30" and cells[-1] == "wayan@2026-11-24T03:40"
    # The old 10:00 is free again.
    assert svc.create(request("09:00", customer="6281100000002", service_id="scrub",
                              staff_id="wayan")).status == CONFIRMED


def test_reschedule_onto_a_taken_time_changes_nothing(svc, db):
    mine = svc.create(request("10:00", staff_id="wayan"))
    svc.create(request("14:00", customer="6281100000002", staff_id="wayan"))
    stored_before = db.bookings.find_one({"code": mine.code})
    with pytest.raises(SlotConflictError) as info:
        svc.reschedule(mine.code, at("14:30"), staff_id="wayan")
    assert len(info.value.alternatives) == 3
    after = svc.get(mine.code)
    assert (after.start, after.version) == (mine.start, mine.version)
    assert db.bookings.find_one({"code": mine.code}) == stored_before


def test_reschedule_without_staff_falls_back_to_a_colleague(svc):
    booking = svc.create(request("09:00", staff_id="made"))
    svc.create(request("10:15", customer="6281100000002", staff_id="made"))
    moved = svc.reschedule(booking.code, at("10:15"))
    assert moved.staff_id == "wayan"


def test_upcoming_lists_only_active_future_bookings_in_order(svc, clock):
    late = svc.create(request("15:00"))
    early = svc.create(request("10:00"))
    gone = svc.create(request("12:00"))
    svc.cancel(gone.code)
    svc.create(request("13:00", customer="someone-else"))
    assert [b.code for b in svc.upcoming("6281100000001")] == [early.code, late.code]
    clock.now = at("23:00")
    assert svc.upcoming("6281100000001") == []


def test_plan_limit_refuses_clearly_and_counts_per_month(db, clock):
    svc = BookingService(db, catalog(monthly_booking_limit=2), clock=clock)
    svc.create(request("10:00"))
    svc.create(request("12:00"))
    with pytest.raises(PlanLimitReachedError, match="plan limit of 2 bookings for 2026-11"):
        svc.create(request("14:00"))
    assert db.bookings.count_documents({}) == 2
    assert svc.usage("spa", "2026-11") == 2
    clock.now = datetime(2026, 12, 1, tzinfo=timezone.utc)  # a new month, a new allowance
    assert svc.create(BookingRequest("massage", at("10:00", date(2026, 12, 2)), "c")).code


@pytest.mark.parametrize("make_request, error, text", [
    (lambda: request("10:00", service_id="yoga"), UnknownEntityError, "unknown service: 'yoga'"),
    (lambda: request("10:00", staff_id="nobody"), UnknownEntityError, "unknown staff member"),
    (lambda: request("10:00", villa_id="nowhere"), UnknownEntityError, "unknown villa"),
    (lambda: BookingRequest("massage", at("07:00", date(2026, 11, 22)), "c"), TooSoonError, "past"),
    (lambda: request("20:00"), OutsideWorkingHoursError, "not working"),
])
def test_bad_requests_get_typed_readable_errors(svc, db, make_request, error, text):
    with pytest.raises(error, match=text):
        svc.create(make_request())
    assert db.bookings.count_documents({}) == 0


def test_next_free_skips_to_following_days(svc):
    slots = svc.next_free("scrub", at("16:00"), count=3)
    # Wayan works until 17:00: 16:00 is excluded (strictly after), 16:15 fits, then Wednesday.
    assert [s.start.astimezone(BALI).strftime("%a %H:%M") for s in slots] == [
        "Tue 16:15", "Wed 09:00", "Wed 09:15"]


def test_plan_limit_holds_when_creators_race_at_the_boundary(db, clock):
    import threading

    svc = BookingService(db, catalog(monthly_booking_limit=3,
                                     staff_members=[staff(f"s{i}") for i in range(10)]),
                         clock=clock)
    go, outcomes = threading.Barrier(10), []

    def attempt(i: int) -> None:
        go.wait()
        try:
            svc.create(BookingRequest("massage", at("10:00"), f"c{i}", staff_id=f"s{i}"))
            outcomes.append("booked")
        except PlanLimitReachedError:
            outcomes.append("refused")

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["booked"] * 3 + ["refused"] * 7
    assert db.bookings.count_documents({}) == 3 == svc.usage("spa", "2026-11")


def test_one_instant_is_one_claim_whatever_zone_it_is_given_in(db, clock):
    """A start given in Bali time and the same instant in UTC are the same staff time."""
    from zoneinfo import ZoneInfo

    from booking.errors import SlotConflictError as Conflict
    from tests.booking.factories import catalog as one_spa

    core = BookingService(db, one_spa(), clock=clock)
    local = datetime(2026, 11, 25, 10, 0, tzinfo=ZoneInfo("Asia/Makassar"))
    core.create(BookingRequest(service_id="massage", start=local, customer_id="6281100000001",
                               staff_id="wayan"))
    with pytest.raises(Conflict):
        core.create(BookingRequest(service_id="massage", start=local.astimezone(timezone.utc),
                                   customer_id="6281100000002", staff_id="wayan"))


def test_bookings_claimed_in_local_time_get_utc_claims_once_so_they_collide_again(db, clock):
    """Bookings stored before claim ids were always UTC are rewritten at start-up (once), so
    a new booking of the same instant is refused again."""
    from zoneinfo import ZoneInfo

    from booking.db import claim_cells_in_utc, ensure_indexes
    from booking.errors import SlotConflictError as Conflict
    from tests.booking.factories import catalog as one_spa

    core = BookingService(db, one_spa(), clock=clock)
    local = datetime(2026, 11, 25, 10, 0, tzinfo=ZoneInfo("Asia/Makassar"))
    old = core.create(BookingRequest(service_id="massage", start=local,
                                     customer_id="6281100000001", staff_id="wayan"))
    stale = [c.replace("02:", "10:", 1) for c in db.bookings.find_one({"code": old.code})["cells"]]
    db.bookings.update_one({"code": old.code}, {"$set": {"cells": stale}})  # as stored before
    db.migrations.delete_many({})
    ensure_indexes(db)
    assert db.bookings.find_one({"code": old.code})["cells"][0] == "wayan@2026-11-25T02:00"
    with pytest.raises(Conflict):
        core.create(BookingRequest(service_id="massage", start=local.astimezone(timezone.utc),
                                   customer_id="6281100000002", staff_id="wayan"))
    assert claim_cells_in_utc(db) == 0  # once
