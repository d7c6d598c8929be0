"""The front desk on a real mongod: the day's plan, arrivals, no-shows, cancellations and moves
by the business, scoped to it, and the news each change leaves for the customer."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from booking.bookings import BookingRequest, BookingService
from booking.catalog import parse_catalog
from booking.desk import FrontDesk
from booking.errors import (InvalidTransitionError, SlotConflictError, UnknownEntityError,
                            ValidationError)
from booking.models import CANCELLED, COMPLETED, CONFIRMED, NO_SHOW
from booking.notices import BookingNotices, NoticeQueue
from tests.booking.factories import service, staff

BALI = ZoneInfo("Asia/Makassar")
TUESDAY = date(2026, 11, 24)
WEEK = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def at(hhmm: str, day: date = TUESDAY) -> datetime:
    h, m = map(int, hhmm.split(":"))
    return datetime(day.year, day.month, day.day, h, m, tzinfo=BALI).astimezone(timezone.utc)


def two_businesses():
    def business(bid: str, phone: str, staff_ids: list[str]) -> dict:
        return {"id": bid, "name": bid.title(), "timezone": "Asia/Makassar",
                "whatsapp_phone_number_id": phone,
                "categories": [{"id": f"{bid}-cat", "name": "Cat"}],
                "services": [service(f"{bid}-massage", category=f"{bid}-cat")],
                "staff": [staff(s, [f"{bid}-massage"], breaks=[{"time": "12:00-13:00"}])
                          for s in staff_ids]}
    return parse_catalog({"businesses": [business("spa", "1001", ["wayan", "made"]),
                                         business("salon", "1002", ["ketut"])],
                          "villas": []}, "test")


@pytest.fixture
def core(db, clock):
    return BookingService(db, two_businesses(), clock=clock)


@pytest.fixture
def desk(core):
    return FrontDesk(core)


def book(core, start: str, customer: str = "6281100000001", service_id: str = "spa-massage",
         staff_id: str = "wayan"):
    return core.create(BookingRequest(service_id=service_id, start=at(start), customer_id=customer,
                                      customer_name="Ayu", staff_id=staff_id))


def test_the_day_puts_each_booking_in_its_staff_members_column(core, desk):
    first, second = book(core, "10:00"), book(core, "14:00", staff_id="made")
    gone = book(core, "15:00")
    core.cancel(gone.code)
    book(core, "10:00", service_id="salon-massage", staff_id="ketut")  # another business
    book(core, "10:00", staff_id="made", customer="6281100000002").code  # noqa: B018
    plan = desk.day("spa", TUESDAY)
    columns = {c.staff.id: [b.code for b in c.bookings] for c in plan.columns}
    assert set(columns) == {"wayan", "made"}
    assert columns["wayan"] == [first.code]
    assert second.code in columns["made"] and len(columns["made"]) == 2
    assert [b.code for b in plan.released] == [gone.code]
    wayan = next(c for c in plan.columns if c.staff.id == "wayan")
    assert wayan.windows == [(at("09:00"), at("12:00")), (at("13:00"), at("17:00"))]
    assert plan.begin == at("00:00")


def test_another_business_booking_is_unknown_to_the_desk(core, desk):
    theirs = book(core, "10:00", service_id="salon-massage", staff_id="ketut")
    for call in (lambda: desk.booking("spa", theirs.code),
                 lambda: desk.cancel("spa", theirs.code, "owner@spa"),
                 lambda: desk.set_notes("spa", theirs.code, "mine now", "owner@spa"),
                 lambda: desk.reschedule("spa", theirs.code, at("11:00"), None, "owner@spa"),
                 lambda: desk.history("spa", theirs.code)):
        with pytest.raises(UnknownEntityError):
            call()
    assert core.get(theirs.code).status == CONFIRMED and core.get(theirs.code).notes == ""


def test_arrival_is_recorded_once_and_not_hours_ahead(core, desk, clock):
    booking = book(core, "10:00")
    with pytest.raises(ValidationError):
        desk.arrived("spa", booking.code, "front@spa")  # 08:00 on Monday: a day ahead
    clock.now = at("09:30")
    first = desk.arrived("spa", booking.code, "front@spa")
    clock.now = at("09:40")
    again = desk.arrived("spa", booking.code, "front@spa")
    assert first.arrived_at == again.arrived_at == at("09:30")
    kinds = [(e["type"], e["data"].get("by")) for e in desk.history("spa", booking.code)]
    assert kinds.count(("arrived", "front@spa")) == 1


def test_no_show_only_once_started_and_it_frees_the_time(core, desk, clock):
    booking = book(core, "10:00")
    clock.now = at("09:59")
    with pytest.raises(ValidationError):
        desk.no_show("spa", booking.code, "front@spa")
    clock.now = at("10:20")
    assert desk.no_show("spa", booking.code, "front@spa").status == NO_SHOW
    with pytest.raises(InvalidTransitionError):
        desk.completed("spa", booking.code, "front@spa")
    plan = desk.day("spa", TUESDAY)
    assert [b.status for b in plan.bookings] == [NO_SHOW]  # still on the calendar, greyed
    assert ("no_show", "front@spa") in [(e["type"], e["data"].get("by"))
                                        for e in desk.history("spa", booking.code)]


def test_completed_after_the_start(core, desk, clock):
    booking = book(core, "10:00")
    clock.now = at("11:05")
    assert desk.completed("spa", booking.code, "front@spa").status == COMPLETED


def test_cancel_by_the_business_leaves_one_notice_for_a_whatsapp_customer(core, desk, db):
    booking = book(core, "10:00")
    cancelled, refund = desk.cancel("spa", booking.code, "owner@spa", reason="therapist ill")
    assert cancelled.status == CANCELLED and refund == 0
    [notice] = list(db.booking_notices.find())
    assert notice["kind"] == "cancelled" and notice["code"] == booking.code
    assert notice["conversation"] == {"sender_id": "6281100000001", "channel": "whatsapp",
                                      "business_id": "spa", "phone_number_id": "1001"}
    assert notice["details"]["start"].replace(tzinfo=timezone.utc) == at("10:00")
    with pytest.raises(InvalidTransitionError):
        desk.cancel("spa", booking.code, "owner@spa")  # twice: refused, no second notice
    assert db.booking_notices.count_documents({}) == 1


def test_a_customer_of_another_channel_gets_no_notice(core, desk, db):
    booking = book(core, "10:00", customer="rest:me")
    desk.cancel("spa", booking.code, "owner@spa")
    assert db.booking_notices.count_documents({}) == 0


def test_move_to_a_free_time_tells_the_customer_and_a_taken_one_changes_nothing(core, desk, db):
    booking = book(core, "10:00")
    book(core, "14:00", customer="6281100000002")
    with pytest.raises(SlotConflictError) as taken:
        desk.reschedule("spa", booking.code, at("14:00"), "wayan", "owner@spa")
    assert taken.value.alternatives
    assert core.get(booking.code).start == at("10:00")
    assert db.booking_notices.count_documents({}) == 0
    moved = desk.reschedule("spa", booking.code, at("15:00"), "made", "owner@spa")
    assert (moved.start, moved.staff_id) == (at("15:00"), "made")
    [notice] = list(db.booking_notices.find())
    assert notice["kind"] == "moved"
    assert notice["details"]["old_start"].replace(tzinfo=timezone.utc) == at("10:00")
    with pytest.raises(UnknownEntityError):
        desk.reschedule("spa", booking.code, at("16:00"), "ketut", "owner@spa")  # not theirs


def test_notes_are_kept_and_bounded(core, desk):
    booking = book(core, "10:00")
    assert desk.set_notes("spa", booking.code, "  allergic to lavender ", "front@spa").notes == \
        "allergic to lavender"
    with pytest.raises(ValidationError):
        desk.set_notes("spa", booking.code, "x" * 2001, "front@spa")
    assert core.get(booking.code).notes == "allergic to lavender"


def test_a_notice_is_written_once_claimed_once_and_a_stale_claim_is_taken_again(db, clock):
    queue = NoticeQueue(db.some_notices, clock)
    assert queue.put("n1", {"kind": "x"}) is True
    assert queue.put("n1", {"kind": "y"}) is False
    assert queue.get("n1")["kind"] == "x"
    claimed = queue.claim()
    assert claimed["_id"] == "n1" and claimed["state"] == "SENDING"
    assert queue.claim() is None  # claimed by someone else, not stale yet
    clock.now += timedelta(minutes=6)
    assert queue.claim()["_id"] == "n1"  # the first sender crashed
    queue.finish("n1")
    assert queue.claim() is None and queue.get("n1")["state"] == "SENT"


def test_booking_news_kinds_are_fixed(core, db, clock):
    booking = book(core, "10:00")
    with pytest.raises(ValueError):
        BookingNotices(db, clock).tell(booking, core.catalog.business("spa"), "whatever")


def test_the_desk_books_a_walk_in_starting_now_which_a_customer_could_not(core, desk, clock):
    from booking.errors import TooSoonError

    clock.now = at("09:50")
    with pytest.raises(TooSoonError):
        core.create(BookingRequest(service_id="spa-massage", start=at("10:00"),
                                   customer_id="6281100000009", customer_name="Ayu"))
    assert at("10:00") in [s.start for s in desk.free_times("spa", "spa-massage", TUESDAY)]
    walk_in = desk.book("spa", "spa-massage", at("10:00"), "wayan", "Ayu", "", "", "desk")
    assert walk_in.status == CONFIRMED and walk_in.customer_id.startswith("desk:")
    with pytest.raises(SlotConflictError):  # the same claims: nobody is double-booked
        desk.book("spa", "spa-massage", at("10:00"), "wayan", "Budi", "", "", "desk")
    with pytest.raises(UnknownEntityError):
        desk.book("spa", "salon-massage", at("11:00"), None, "Ayu", "", "", "desk")


def test_a_desk_booking_at_a_business_that_takes_payment_is_paid_at_the_spa(db, clock):
    cat = two_businesses()
    paying = {**cat.raw}
    paying["businesses"][0]["payment_required"] = True
    service = BookingService(db, parse_catalog(paying, "test"), clock=clock)
    booking = FrontDesk(service).book("spa", "spa-massage", at("10:00"), None, "Ayu",
                                      "+62 811 0000 0001", "", "desk")
    assert booking.status == CONFIRMED and booking.customer_id == "6281100000001"
    assert db.booking_notices.find_one({"code": booking.code})["kind"] == "booked"


def test_a_notice_not_told_is_tried_again_later_then_given_up(db, clock):
    queue = NoticeQueue(db.some_notices, clock)
    queue.put("n1", {"kind": "x"})
    for attempt in range(1, 6):
        assert queue.claim()["_id"] == "n1"
        queue.again("n1", "action server down")
        assert queue.claim() is None  # waits before the next try
        clock.now += timedelta(seconds=30 * 2 ** (attempt - 1))
    assert queue.claim()["_id"] == "n1"
    queue.again("n1", "action server down")
    assert queue.get("n1")["state"] == "FAILED" and queue.claim() is None
    assert queue.mark_told("n1") is True and queue.mark_told("n1") is False


def test_booking_news_is_kept_90_days(db):
    ttl = [i.get("expireAfterSeconds") for i in db.booking_notices.index_information().values()
           if i.get("key") == [("created_at", 1)]]
    assert ttl == [90 * 86400]
