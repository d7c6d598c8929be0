"""Free start times: hours, breaks, buffers, notice, horizon, overrides and local-day edges."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from booking.availability import (
    CELL_MINUTES,
    Rules,
    cells,
    check_start,
    free_slots,
    occupied_interval,
)
from booking.errors import OutsideWorkingHoursError, TooFarError, TooSoonError, ValidationError
from tests.booking.factories import catalog, service, staff

BALI = ZoneInfo("Asia/Makassar")
MONDAY = date(2026, 11, 23)
# Long before the days under test, so notice and horizon do not interfere unless a test says so.
EARLY = datetime(2026, 11, 1, tzinfo=timezone.utc)


def local(day: date, hhmm: str) -> datetime:
    """A Bali wall-clock time as an aware UTC instant."""
    h, m = map(int, hhmm.split(":"))
    return datetime(day.year, day.month, day.day, h, m, tzinfo=BALI).astimezone(timezone.utc)


def starts(cat, day=MONDAY, last=None, busy=None, now=EARLY, rules=Rules(), service_id="massage"):
    svc = cat.service(service_id)
    slots = free_slots(svc, cat.staff_for(svc.id), busy or {}, day, last or day, BALI, now, rules)
    return [s.start.astimezone(BALI).strftime("%H:%M") for s in slots]


def test_working_hours_on_the_grid():
    cat = catalog(staff_members=[staff(weekly_hours={"mon": "09:00-12:00"})])
    assert starts(cat) == ["09:00", "09:15", "09:30", "09:45", "10:00", "10:15", "10:30",
                           "10:45", "11:00"]


def test_a_service_never_spans_a_break():
    cat = catalog(staff_members=[staff(weekly_hours={"mon": "09:00-13:00"},
                                       breaks=[{"time": "11:00-11:30"}])])
    assert starts(cat) == ["09:00", "09:15", "09:30", "09:45", "10:00", "11:30", "11:45", "12:00"]


def test_breaks_limited_to_some_weekdays_only_apply_on_those_days():
    cat = catalog(staff_members=[staff(weekly_hours={"mon": "09:00-11:00", "tue": "09:00-11:00"},
                                       breaks=[{"time": "09:30-10:00", "days": ["tue"]}])])
    assert starts(cat, MONDAY) == ["09:00", "09:15", "09:30", "09:45", "10:00"]
    assert starts(cat, MONDAY + timedelta(days=1)) == ["10:00"]


def test_buffers_of_both_bookings_keep_them_apart():
    # Existing booking 10:00-11:00 with 15 min after: occupied 10:00-11:15.
    cat = catalog(services=[service(buffer_before_minutes=10, buffer_after_minutes=15)],
                  staff_members=[staff(weekly_hours={"mon": "09:00-13:00"})])
    svc = cat.service("massage")
    busy = {"wayan": [occupied_interval(svc, local(MONDAY, "10:00"))]}
    # occupied 09:50-11:15; a new start s needs [s-10, s+75) clear of it.
    assert starts(cat, busy=busy) == ["11:30", "11:45", "12:00"]


def test_minimum_notice_counts_from_now():
    cat = catalog(staff_members=[staff(weekly_hours={"mon": "09:00-13:00"})])
    now = local(MONDAY, "09:20")
    assert starts(cat, now=now) == ["11:30", "11:45", "12:00"]


def test_horizon_cuts_off_far_days():
    cat = catalog()
    now = local(MONDAY, "09:00")
    rules = Rules(horizon=timedelta(days=2))
    assert starts(cat, MONDAY + timedelta(days=2), now=now, rules=rules)[-1] == "09:00"
    assert starts(cat, MONDAY + timedelta(days=3), now=now, rules=rules) == []


def test_days_off_and_unlisted_weekdays_have_no_slots():
    cat = catalog(staff_members=[staff(weekly_hours={"mon": "09:00-17:00"},
                                       days_off=["2026-11-30"])])
    assert starts(cat, MONDAY + timedelta(days=1)) == []  # Tuesday: not a working day
    assert starts(cat, date(2026, 11, 30)) == []          # Monday, but a day off
    assert starts(cat, MONDAY) != []


def test_date_override_replaces_weekly_hours_and_can_close_a_day():
    cat = catalog(staff_members=[staff(weekly_hours={"mon": "09:00-17:00"},
                                       overrides={"2026-11-23": ["14:00-15:30"],
                                                  "2026-11-30": []})])
    assert starts(cat) == ["14:00", "14:15", "14:30"]
    assert starts(cat, date(2026, 11, 30)) == []


def test_durations_that_do_not_divide_the_grid():
    cat = catalog(services=[service(duration_minutes=50)],
                  staff_members=[staff(weekly_hours={"mon": "09:00-11:00"})])
    assert starts(cat) == ["09:00", "09:15", "09:30", "09:45", "10:00"]
    svc = cat.service("massage")
    # A 50-minute booking at 09:00 ends at 09:50: the next grid start is 10:00.
    busy = {"wayan": [occupied_interval(svc, local(MONDAY, "09:00"))]}
    assert starts(cat, busy=busy) == ["10:00"]
    # One at 09:07 (off the grid) ends 09:57, still leaving 10:00.
    busy = {"wayan": [occupied_interval(svc, local(MONDAY, "09:07"))]}
    assert starts(cat, busy=busy) == ["10:00"]
    # One at 09:12 ends 10:02, widened to 10:05: nothing fits any more.
    busy = {"wayan": [occupied_interval(svc, local(MONDAY, "09:12"))]}
    assert starts(cat, busy=busy) == []


def test_local_day_starting_before_utc_midnight():
    # Bali is UTC+8: 07:00 on Tuesday local is 23:00 on Monday UTC.
    cat = catalog(staff_members=[staff(weekly_hours={"tue": "07:00-08:00"})])
    svc = cat.service("massage")
    slots = free_slots(svc, cat.staff_for(svc.id), {}, MONDAY + timedelta(days=1),
                       MONDAY + timedelta(days=1), BALI, EARLY, Rules())
    assert [s.start for s in slots] == [datetime(2026, 11, 23, 23, 0, tzinfo=timezone.utc)]
    assert starts(cat, MONDAY) == []


def test_month_boundary_and_a_window_running_to_midnight():
    cat = catalog(services=[service(duration_minutes=30)],
                  staff_members=[staff(weekly_hours={"mon": "23:00-24:00", "tue": "00:00-01:00"})])
    # Monday 30 Nov -> Tuesday 1 Dec (local); a range across the month boundary.
    got = starts(cat, date(2026, 11, 30), date(2026, 12, 1))
    assert got == ["23:00", "23:15", "23:30", "00:00", "00:15", "00:30"]


def test_several_staff_are_merged_per_start_time():
    cat = catalog(staff_members=[staff("wayan", weekly_hours={"mon": "09:00-10:00"}),
                                 staff("made", weekly_hours={"mon": "09:00-10:15"})])
    svc = cat.service("massage")
    slots = free_slots(svc, cat.staff_for(svc.id), {}, MONDAY, MONDAY, BALI, EARLY, Rules())
    assert [(s.start.astimezone(BALI).strftime("%H:%M"), s.staff_ids) for s in slots] == [
        ("09:00", ("wayan", "made")), ("09:15", ("made",))]


def test_check_start_gives_typed_reasons():
    cat = catalog(staff_members=[staff(weekly_hours={"mon": "09:00-17:00"},
                                       breaks=[{"time": "12:00-13:00"}])])
    svc, member = cat.service("massage"), cat.staff_member("wayan")
    now = local(MONDAY, "08:00")
    with pytest.raises(TooSoonError, match="past"):
        check_start(svc, member, local(MONDAY, "07:00"), BALI, now, Rules())
    with pytest.raises(TooSoonError, match="2 hours"):
        check_start(svc, member, local(MONDAY, "09:00"), BALI, now, Rules())
    with pytest.raises(TooFarError, match="60 days"):
        check_start(svc, member, local(MONDAY + timedelta(days=70), "10:00"), BALI, now, Rules())
    with pytest.raises(OutsideWorkingHoursError, match="not working"):
        check_start(svc, member, local(MONDAY, "11:30"), BALI, now, Rules())  # runs into break
    with pytest.raises(OutsideWorkingHoursError):
        check_start(svc, member, local(MONDAY, "16:30"), BALI, now, Rules())  # past closing
    with pytest.raises(ValidationError, match="whole minute"):
        check_start(svc, member, local(MONDAY, "14:00") + timedelta(seconds=5), BALI, now, Rules())
    check_start(svc, member, local(MONDAY, "13:00"), BALI, now, Rules())  # fine


@given(st.integers(0, 10_000), st.integers(1, 400), st.integers(0, 10_000), st.integers(1, 400),
       st.integers(0, 45), st.integers(0, 45))
def test_overlapping_bookings_always_share_a_claim_cell(a, a_len, b, b_len, before, after):
    """The database refuses shared cells, so any real overlap must produce one."""
    svc_a = service(duration_minutes=a_len, buffer_before_minutes=before)
    svc_b = service(duration_minutes=b_len, buffer_after_minutes=after)
    cat = catalog(services=[svc_a | {"id": "a"}, svc_b | {"id": "b"}],
                  staff_members=[staff(services=["a", "b"])])
    start_a = EARLY + timedelta(minutes=a)
    start_b = EARLY + timedelta(minutes=b)
    occ_a = occupied_interval(cat.service("a"), start_a)
    occ_b = occupied_interval(cat.service("b"), start_b)
    real_a = (start_a - timedelta(minutes=before), start_a + timedelta(minutes=a_len))
    real_b = (start_b, start_b + timedelta(minutes=b_len + after))
    overlap = real_a[0] < real_b[1] and real_b[0] < real_a[1]
    if overlap:
        assert set(cells(occ_a)) & set(cells(occ_b))
    # Widening is at most one cell on each side.
    assert real_a[0] - occ_a[0] < timedelta(minutes=CELL_MINUTES)
    assert occ_a[1] - real_a[1] < timedelta(minutes=CELL_MINUTES)
