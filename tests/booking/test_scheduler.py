"""Scheduled messages on a real mongod with a hand-moved clock: reminders at the right local
times (quiet hours kept), planned once whatever restarts and servers do, moved with the
booking, dropped when it ends, claimed by one sender, taken again after a crashed one's lease."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from booking.bookings import BookingRequest, BookingService
from booking.errors import SeedDataError
from booking.models import ReminderPolicy
from booking.notices import PENDING, SENDING, SENT
from booking.reminders import out_of_quiet, parse_policy, plan
from booking.scheduler import DROPPED, ScheduledMessages
from tests.booking.factories import catalog, staff

BALI = ZoneInfo("Asia/Makassar")
WEDNESDAY = date(2026, 11, 25)  # the clock fixture is Monday 2026-11-23 08:00 in Bali
ALL_DAY = {d: "07:00-23:00" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def bali(day: date, hhmm: str) -> datetime:
    h, m = map(int, hhmm.split(":"))
    return datetime(day.year, day.month, day.day, h, m, tzinfo=BALI)


def local(instant: datetime) -> str:
    return instant.astimezone(BALI).strftime("%a %H:%M")


@pytest.fixture
def core(db, clock):
    return BookingService(db, catalog(staff_members=[staff(weekly_hours=ALL_DAY)]), clock=clock)


def scheduler(core) -> ScheduledMessages:
    """One server's scheduler (each call: another process's objects on the same database)."""
    return ScheduledMessages(core.db, lambda: core.catalog, core.clock)


def before_visit(messages: list[dict]) -> list[dict]:
    """The reminders among a booking's scheduled messages."""
    return [m for m in messages if m["kind"].startswith("reminder_")]


def book(core, day: date, hhmm: str, customer: str = "6281100000001"):
    return core.create(BookingRequest(service_id="massage", start=bali(day, hhmm),
                                      customer_id=customer, customer_name="Ayu"))


# --- when, in local time (pure) ---------------------------------------------------------------

def test_reminders_come_24_and_2_hours_before_in_the_businesss_time():
    start, now = bali(WEDNESDAY, "15:00"), bali(WEDNESDAY - timedelta(days=2), "08:00")
    planned = plan(start, now, now, ReminderPolicy(), BALI)
    assert [(p.kind, local(p.due)) for p in planned] == [
        ("reminder_24h", "Tue 15:00"), ("reminder_2h", "Wed 13:00")]
    assert planned[0].expires == planned[1].due  # the 24 h one is not sent once the 2 h is due
    assert planned[1].expires == start - timedelta(minutes=30)


def test_a_reminder_due_in_quiet_hours_moves_to_the_nearest_sensible_time_before_the_visit():
    policy = ReminderPolicy()  # quiet 21:00-08:00
    # 2 h before a 09:00 visit is 07:00: the morning at 08:00 is nearest and still an hour before
    assert local(out_of_quiet(bali(WEDNESDAY, "07:00"), bali(WEDNESDAY, "09:00"), policy,
                              BALI)) == "Wed 08:00"
    # 2 h before an 08:15 visit: 08:00 is too close to it, so the evening before, 20:30
    assert local(out_of_quiet(bali(WEDNESDAY, "06:15"), bali(WEDNESDAY, "08:15"), policy,
                              BALI)) == "Tue 20:30"
    # 24 h before a 22:00 visit is 22:00 the day before: 20:30 that evening is nearer than 08:00
    assert local(out_of_quiet(bali(WEDNESDAY, "22:00") - timedelta(days=1),
                              bali(WEDNESDAY, "22:00"), policy, BALI)) == "Tue 20:30"
    # outside quiet hours nothing moves; a visit too soon for any time gets no reminder
    assert local(out_of_quiet(bali(WEDNESDAY, "13:00"), bali(WEDNESDAY, "15:00"), policy,
                              BALI)) == "Wed 13:00"
    assert out_of_quiet(bali(WEDNESDAY, "14:50"), bali(WEDNESDAY, "15:00"), policy, BALI) is None
    # quiet hours within a day (a siesta) work the same way
    siesta = ReminderPolicy(quiet_start=time(13, 0), quiet_end=time(14, 0))
    assert local(out_of_quiet(bali(WEDNESDAY, "13:40"), bali(WEDNESDAY, "16:00"), siesta,
                              BALI)) == "Wed 14:00"


def test_two_reminders_that_would_come_together_become_one():
    # a 09:30 visit: 2 h before is 07:30 (quiet) -> 08:00; 24 h before is Tuesday 09:30
    planned = plan(bali(WEDNESDAY, "09:30"), bali(WEDNESDAY, "00:00") - timedelta(days=3),
                   bali(WEDNESDAY, "00:00") - timedelta(days=3),
                   ReminderPolicy(hours_before=(3, 2)), BALI)
    assert [(p.kind, local(p.due)) for p in planned] == [("reminder_2h", "Wed 08:00")]


def test_no_reminder_right_after_booking_nor_one_already_past():
    start = bali(WEDNESDAY, "15:00")
    # booked on Tuesday at 14:50: the 24 h reminder would come ten minutes later
    booked = bali(WEDNESDAY, "14:50") - timedelta(days=1)
    assert [p.kind for p in plan(start, booked, booked, ReminderPolicy(), BALI)] == ["reminder_2h"]
    # at 13:40 on the day the 2 h reminder's time has passed, it is still worth sending
    # (its expiry is half an hour before the visit); at 14:31 nothing is
    long_ago = start - timedelta(days=5)
    assert [p.kind for p in plan(start, long_ago, bali(WEDNESDAY, "13:40"), ReminderPolicy(),
                                 BALI)] == ["reminder_2h"]
    assert plan(start, long_ago, bali(WEDNESDAY, "14:31"), ReminderPolicy(), BALI) == []


def test_the_businesss_own_policy_is_read_from_the_catalog_and_checked():
    spa = catalog(reminders={"hours_before": [2, 48], "quiet_hours": "22:00-07:30"})
    policy = spa.businesses["spa"].reminders
    assert policy == ReminderPolicy((48, 2), time(22, 0), time(7, 30))
    assert catalog().businesses["spa"].reminders == ReminderPolicy()
    for bad in ({"hours_before": [0]}, {"hours_before": "24"}, {"hours_before": [2, 2]},
                {"quiet_hours": "9pm-8am"}, {"quiet_hours": "08:00-08:00"}, {"when": 1}, [24]):
        with pytest.raises(SeedDataError):
            catalog(reminders=bad)
    with pytest.raises(ValueError):
        parse_policy({"quiet_hours": "25:00-08:00"}, ValueError)


# --- stored, claimed, sent once ---------------------------------------------------------------

def test_planned_once_at_the_right_times_whatever_restarts_and_servers_do(core, clock):
    booking = book(core, WEDNESDAY, "15:00")
    first, second = scheduler(core), scheduler(core)
    assert first.plan() == 4
    assert second.plan() == 0 and first.plan() == 0  # another server, or after a restart
    messages = first.of_booking(booking.code)
    assert [(m["kind"], local(m["next_at"]), m["state"]) for m in messages] == [
        ("reminder_24h", "Tue 15:00", PENDING), ("reminder_2h", "Wed 13:00", PENDING),
        ("complete", "Wed 18:00", PENDING), ("feedback", "Wed 19:00", PENDING)]
    assert messages[0]["conversation"]["sender_id"] == "6281100000001"


def test_a_message_is_claimed_when_due_by_exactly_one_server_and_told_once(core, clock):
    booking = book(core, WEDNESDAY, "15:00")
    a, b = scheduler(core), scheduler(core)
    a.plan()
    assert a.claim() is None  # Monday: nothing due yet
    clock.now = bali(WEDNESDAY, "15:00") - timedelta(days=1)
    claimed = a.claim()
    assert claimed["kind"] == "reminder_24h" and claimed["state"] == SENDING
    assert b.claim() is None  # the other server finds nothing: the 2 h one is not due
    assert a.still_due(claimed, core.get(booking.code)) is None
    assert a.mark_told(claimed["_id"]) and not b.mark_told(claimed["_id"])
    a.finish(claimed["_id"])
    assert a.get(claimed["_id"])["state"] == SENT
    clock.now = bali(WEDNESDAY, "13:00")
    assert b.claim()["kind"] == "reminder_2h"
    assert a.claim() is None


def test_a_claim_left_by_a_crashed_sender_is_taken_again_after_its_lease_and_sent_once(core,
                                                                                        clock):
    book(core, WEDNESDAY, "15:00")
    crashed, survivor = scheduler(core), scheduler(core)
    crashed.plan()
    clock.now = bali(WEDNESDAY, "15:00") - timedelta(days=1)
    lost = crashed.claim()  # ...and the process dies before telling it
    assert survivor.claim() is None  # the lease still holds
    clock.now += timedelta(minutes=6)
    again = survivor.claim()
    assert again["_id"] == lost["_id"]
    assert survivor.mark_told(again["_id"])
    # had the first sender told it before dying, the second would tell nothing
    assert not crashed.mark_told(lost["_id"])


def test_a_message_that_did_not_go_is_tried_again_later(core, clock):
    book(core, WEDNESDAY, "15:00")
    queue = scheduler(core)
    queue.plan()
    clock.now = bali(WEDNESDAY, "15:00") - timedelta(days=1)
    message = queue.claim()
    queue.again(message["_id"], "the action server was down")
    assert queue.claim() is None  # waits 30 s
    clock.now += timedelta(seconds=31)
    assert queue.claim()["_id"] == message["_id"]


def test_a_rescheduled_booking_gets_new_reminders_and_its_old_ones_are_dropped(core, clock):
    booking = book(core, WEDNESDAY, "15:00")
    queue = scheduler(core)
    queue.plan()
    moved = core.reschedule(booking.code, bali(WEDNESDAY + timedelta(days=1), "10:00"))
    assert queue.plan() == 4
    messages = before_visit(queue.of_booking(booking.code))
    assert [(m["kind"], local(m["next_at"]), m["state"]) for m in messages] == [
        ("reminder_24h", "Tue 15:00", DROPPED), ("reminder_24h", "Wed 10:00", PENDING),
        ("reminder_2h", "Wed 13:00", DROPPED), ("reminder_2h", "Thu 08:00", PENDING)]
    # a message claimed before the move is dropped when it runs
    old = messages[0]
    assert queue.still_due(old, core.get(moved.code)) == "the booking moved"


def test_a_cancelled_bookings_reminder_is_dropped_when_it_comes_due(core, clock):
    booking = book(core, WEDNESDAY, "15:00")
    queue = scheduler(core)
    queue.plan()
    core.cancel(booking.code)
    clock.now = bali(WEDNESDAY, "15:00") - timedelta(days=1)
    message = queue.claim()
    reason = queue.still_due(message, core.get(booking.code))
    assert reason == "the booking is cancelled"
    queue.drop(message["_id"], reason)
    assert queue.get(message["_id"])["state"] == DROPPED
    assert queue.plan() == 0  # a cancelled booking gets nothing new


def test_a_reminder_the_business_stopped_sending_is_dropped_and_its_new_one_planned(db, clock):
    """The catalog's reminders changed from 24 h and 2 h to 48 h after the planning: the
    planned 2 h one is dropped when due, the 48 h one is planned by the next round."""
    before = BookingService(db, catalog(staff_members=[staff(weekly_hours=ALL_DAY)]),
                            clock=clock)
    booking = book(before, WEDNESDAY + timedelta(days=2), "15:00")
    scheduler(before).plan()
    after = BookingService(db, catalog(staff_members=[staff(weekly_hours=ALL_DAY)],
                                       reminders={"hours_before": [48]}), clock=clock)
    queue = scheduler(after)
    assert queue.plan() == 1
    kinds = {m["kind"]: m for m in before_visit(queue.of_booking(booking.code))}
    assert set(kinds) == {"reminder_48h", "reminder_24h", "reminder_2h"}
    assert queue.still_due(kinds["reminder_2h"], after.get(booking.code)) == (
        "the business no longer sends this reminder")
    assert queue.still_due(kinds["reminder_48h"], after.get(booking.code)) is None


def test_a_late_reminder_is_not_sent_once_the_next_is_due(core, clock):
    booking = book(core, WEDNESDAY, "15:00")
    queue = scheduler(core)
    queue.plan()
    clock.now = bali(WEDNESDAY, "13:05")  # every server was down for a day
    first = queue.claim()
    assert first["kind"] == "reminder_24h"
    assert queue.still_due(first, core.get(booking.code)) == "too late to send"
    second = queue.claim()
    assert second["kind"] == "reminder_2h"
    assert queue.still_due(second, core.get(booking.code)) is None


def test_send_now_brings_the_next_waiting_message_forward(core, clock):
    booking = book(core, WEDNESDAY, "15:00")
    queue = scheduler(core)
    queue.plan()
    assert queue.send_now(booking.code)["kind"] == "reminder_24h"
    claimed = queue.claim()
    assert claimed["kind"] == "reminder_24h" and queue.still_due(claimed, booking) is None
    assert queue.send_now("BK000000") is None
    queue.finish(claimed["_id"])
    assert queue.send_now(booking.code)["kind"] == "reminder_2h"
    queue.finish(queue.claim()["_id"])
    # the visit is still to come: neither its completion nor its feedback question can go
    assert queue.send_now(booking.code) is None
    core.transition(booking.code, "COMPLETED")
    assert queue.send_now(booking.code)["kind"] == "feedback"


def test_a_customer_who_did_not_come_by_whatsapp_gets_no_scheduled_message(core, clock):
    book(core, WEDNESDAY, "15:00", customer="rest:someone")
    assert scheduler(core).plan() == 0


def test_an_answer_is_recorded_once_on_the_latest_message_told(core, clock):
    booking = book(core, WEDNESDAY, "15:00")
    queue = scheduler(core)
    queue.plan()
    assert not queue.answer(booking.code, "confirmed")  # nothing was told yet
    clock.now = bali(WEDNESDAY, "15:00") - timedelta(days=1)
    told = queue.claim()
    queue.mark_told(told["_id"])
    assert not queue.answer("BK999999", "confirmed")
    assert queue.answer(booking.code, "confirmed")
    assert not queue.answer(booking.code, "confirmed")
    assert queue.get(told["_id"])["answer"] == "confirmed"
    with pytest.raises(ValueError):
        queue.answer(booking.code, "maybe")


def test_a_booking_moved_back_to_its_time_gets_those_reminders_back(core, clock):
    booking = book(core, WEDNESDAY, "15:00")
    queue = scheduler(core)
    queue.plan()
    core.reschedule(booking.code, bali(WEDNESDAY + timedelta(days=1), "10:00"))
    queue.plan()
    core.reschedule(booking.code, bali(WEDNESDAY, "15:00"))
    queue.plan()
    waiting = [(m["kind"], local(m["next_at"])) for m in before_visit(queue.of_booking(
        booking.code)) if m["state"] == PENDING]
    assert waiting == [("reminder_24h", "Tue 15:00"), ("reminder_2h", "Wed 13:00")]


def test_a_planner_that_read_the_booking_before_its_move_drops_nothing_new(core, clock):
    booking = book(core, WEDNESDAY, "15:00")
    before_the_move = core.db.bookings.find_one({"code": booking.code})
    core.reschedule(booking.code, bali(WEDNESDAY + timedelta(days=1), "10:00"))
    fresh, late = scheduler(core), scheduler(core)
    fresh.plan()
    late._plan([before_the_move], clock.now)  # a second server's read from before the move
    fresh.plan()
    moved = core.get(booking.code)
    current = [m for m in fresh.of_booking(booking.code) if m["start"] == moved.start]
    assert {m["state"] for m in current} == {PENDING} and len(current) == 4
    stale = [m for m in fresh.of_booking(booking.code) if m["start"] != moved.start]
    assert all(fresh.still_due(m, moved) == "the booking moved" for m in stale)


def test_no_reminder_within_the_hour_after_a_change(core, clock):
    booking = book(core, WEDNESDAY, "15:00")
    clock.now = bali(WEDNESDAY, "14:40") - timedelta(days=1)  # Tuesday 14:40 it is moved
    moved = core.reschedule(booking.code, bali(WEDNESDAY, "15:30"))
    queue = scheduler(core)
    queue.plan()
    assert [m["kind"] for m in before_visit(queue.of_booking(moved.code))] == ["reminder_2h"]


def test_a_late_message_in_quiet_hours_waits_for_their_end_unless_sent_now(core, clock):
    booking = book(core, WEDNESDAY, "15:00")
    queue = scheduler(core)
    queue.plan()
    spa = core.catalog.businesses["spa"]
    clock.now = bali(WEDNESDAY, "02:00")  # the 24 h one, late: every server was down
    message = queue.claim()
    until = queue.quiet_until(message, spa)
    assert local(until) == "Wed 08:00"
    queue.postpone(message["_id"], until)
    assert queue.claim() is None  # (not again and again until the morning)
    clock.now = bali(WEDNESDAY, "08:00")
    assert queue.claim()["_id"] == message["_id"]
    assert queue.quiet_until({**message, "sent_early_at": clock.now}, spa) is None


def test_quiet_hours_leave_a_part_of_the_day(core):
    with pytest.raises(SeedDataError):
        catalog(reminders={"quiet_hours": "08:15-08:00"})
    assert catalog(reminders={"quiet_hours": "20:00-12:00"}).businesses["spa"].reminders


def test_one_odd_booking_stops_no_one_elses_reminders(core, clock):
    good, odd = book(core, WEDNESDAY, "15:00"), book(core, WEDNESDAY, "10:00")
    core.db.bookings.update_one({"code": odd.code}, {"$unset": {"end": ""}})
    queue = scheduler(core)
    assert queue.plan() == 4
    assert queue.of_booking(good.code) and not queue.of_booking(odd.code)
