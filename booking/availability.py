"""Free start times: working hours minus breaks, days off, overrides and busy intervals.

Pure functions, no I/O. Instants are timezone-aware UTC datetimes; schedules are read in the
business time zone. Every occupied interval (service time plus buffers) is widened to whole
claim cells of ``CELL_MINUTES``; the database enforces one booking per staff member and cell,
so what this module calls free is exactly what the database will accept.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Iterable, Optional, Sequence
from zoneinfo import ZoneInfo

from booking.errors import (
    OffGridError, OutsideWorkingHoursError, TooFarError, TooSoonError, ValidationError,
)
from booking.models import WEEKDAYS, Service, Staff

CELL_MINUTES = 5
_CELL = timedelta(minutes=CELL_MINUTES)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

Interval = tuple[datetime, datetime]


@dataclass(frozen=True)
class Rules:
    """Booking rules: minimum notice, horizon and the grid of offered start times."""

    min_notice: timedelta = timedelta(hours=2)
    horizon: timedelta = timedelta(days=60)
    slot_minutes: int = 15


@dataclass(frozen=True)
class Slot:
    """A free start time (UTC) and the staff members free to take it."""

    start: datetime
    staff_ids: tuple[str, ...]


def floor_cell(moment: datetime) -> datetime:
    """The start of the claim cell holding ``moment``."""
    return moment - ((moment - _EPOCH) % _CELL)


def ceil_cell(moment: datetime) -> datetime:
    """The first cell boundary at or after ``moment``."""
    floored = floor_cell(moment)
    return floored if floored == moment else floored + _CELL


def occupied_interval(service: Service, start: datetime) -> Interval:
    """The time a booking holds its staff member: buffers included, widened to whole cells."""
    begin = start - timedelta(minutes=service.buffer_before_minutes)
    end = start + timedelta(minutes=service.duration_minutes + service.buffer_after_minutes)
    return floor_cell(begin), ceil_cell(end)


def cells(interval: Interval) -> list[datetime]:
    """Start instants of the claim cells an occupied interval covers."""
    begin, end = interval
    count = int((end - begin) / _CELL)
    return [begin + i * _CELL for i in range(count)]


def working_windows(staff: Staff, day: date, tz: ZoneInfo) -> list[Interval]:
    """UTC intervals in which ``staff`` works on local ``day``: hours minus breaks and time
    off (blocked by the business)."""
    if day in staff.days_off:
        return []
    ranges = staff.overrides.get(day)
    if ranges is None:
        ranges = staff.weekly_hours.get(WEEKDAYS[day.weekday()], ())
    midnight = datetime(day.year, day.month, day.day, tzinfo=tz)
    windows = [_local_span(midnight, *r.minutes()) for r in ranges]
    for brk in staff.breaks:
        if brk.applies_to(day):
            windows = _subtract(windows, _local_span(midnight, *brk.range.minutes()))
    for blocked in staff.time_off.get(day, ()):
        windows = _subtract(windows, _local_span(midnight, *blocked.minutes()))
    return windows


def opening_hours(staff: Iterable[Staff], day: date, tz: ZoneInfo) -> Optional[Interval]:
    """When a business is open on local ``day`` (from its first staff member in to its last
    out, UTC); None when nobody works that day."""
    windows = [w for member in staff for w in working_windows(member, day, tz)]
    if not windows:
        return None
    return min(w[0] for w in windows), max(w[1] for w in windows)


def _local_span(midnight: datetime, start_min: int, end_min: int) -> Interval:
    # Wall-clock arithmetic in the local zone, then converted to UTC.
    start = (midnight + timedelta(minutes=start_min)).astimezone(timezone.utc)
    end = (midnight + timedelta(minutes=end_min)).astimezone(timezone.utc)
    return start, end


def _subtract(windows: list[Interval], cut: Interval) -> list[Interval]:
    result = []
    for start, end in windows:
        if cut[1] <= start or cut[0] >= end:
            result.append((start, end))
            continue
        if start < cut[0]:
            result.append((start, cut[0]))
        if cut[1] < end:
            result.append((cut[1], end))
    return result


def _overlaps_any(interval: Interval, busy: Sequence[Interval]) -> bool:
    begin, end = interval
    return any(b_start < end and begin < b_end for b_start, b_end in busy)


def _within(service_span: Interval, windows: Iterable[Interval]) -> bool:
    return any(w0 <= service_span[0] and service_span[1] <= w1 for w0, w1 in windows)


def local_days(first: date, last: date) -> list[date]:
    """Every local date from ``first`` to ``last`` inclusive."""
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def free_slots(
    service: Service,
    staff: Sequence[Staff],
    busy: dict[str, Sequence[Interval]],
    first_day: date,
    last_day: date,
    tz: ZoneInfo,
    now: datetime,
    rules: Rules,
) -> list[Slot]:
    """Free start times for ``service`` on local days ``first_day``..``last_day``.

    Args:
        staff: the staff members to consider (already filtered to those doing the service).
        busy: per staff id, the occupied intervals of their active bookings.
        now: the current instant (UTC), for minimum notice and horizon.
    Returns:
        Slots in time order, each with the staff members free at that start.
    """
    # Integer minutes since the epoch in the hot loop; datetimes only for the answer.
    earliest = _minutes(now + rules.min_notice)
    latest = _minutes(now + rules.horizon)
    duration, step = service.duration_minutes, rules.slot_minutes
    before, after = service.buffer_before_minutes, service.buffer_after_minutes
    by_start: dict[int, list[str]] = {}
    for day in local_days(first_day, last_day):
        midnight = _minutes(datetime(day.year, day.month, day.day, tzinfo=tz))
        for member in staff:
            member_busy = [(_minutes(b0), _minutes_ceil(b1)) for b0, b1 in busy.get(member.id, ())]
            for w_start, w_end in working_windows(member, day, tz):
                w0, w1 = _minutes_ceil(w_start), _minutes(w_end)
                start = midnight + -(-(w0 - midnight) // step) * step  # first grid point >= w0
                while start + duration <= w1:
                    if earliest <= start <= latest:
                        occ0 = (start - before) // CELL_MINUTES * CELL_MINUTES
                        occ1 = -(-(start + duration + after) // CELL_MINUTES) * CELL_MINUTES
                        if not any(b0 < occ1 and occ0 < b1 for b0, b1 in member_busy):
                            by_start.setdefault(start, []).append(member.id)
                    start += step
    return [Slot(_EPOCH + timedelta(minutes=m), tuple(ids)) for m, ids in sorted(by_start.items())]


def _minutes(moment: datetime) -> int:
    """Whole minutes since the epoch (floored)."""
    return int((moment - _EPOCH).total_seconds() // 60)


def _minutes_ceil(moment: datetime) -> int:
    """Minutes since the epoch, rounded up."""
    return -int(-(moment - _EPOCH).total_seconds() // 60)


def check_start(
    service: Service,
    member: Staff,
    start: datetime,
    tz: ZoneInfo,
    now: datetime,
    rules: Rules,
) -> None:
    """Raise a typed ``ValidationError`` unless ``member`` could work ``service`` at ``start``.

    Busy intervals are not checked here: the database claim decides that.
    """
    if start.tzinfo is None:
        raise ValidationError("start time must carry a time zone")
    if start.second or start.microsecond:
        raise ValidationError("start time must be a whole minute")
    local = start.astimezone(tz)
    if (local.hour * 60 + local.minute) % rules.slot_minutes:  # typed, not offered
        raise OffGridError(local.strftime("%H:%M"), rules.slot_minutes)
    if service.id not in member.service_ids:
        raise ValidationError(f"{member.name} does not perform {service.name}")
    if start < now:
        raise TooSoonError("that time is in the past")
    if start < now + rules.min_notice:
        hours = rules.min_notice.total_seconds() / 3600
        raise TooSoonError(f"bookings need at least {hours:g} hours' notice")
    if start > now + rules.horizon:
        raise TooFarError(f"bookings can be made at most {rules.horizon.days} days ahead")
    span = (start, start + timedelta(minutes=service.duration_minutes))
    local_day = start.astimezone(tz).date()
    windows = working_windows(member, local_day, tz)
    if not _within(span, windows):
        local = start.astimezone(tz).strftime("%a %d %b %H:%M")
        raise OutsideWorkingHoursError(
            f"{member.name} is not working for the whole of {service.name} at {local}"
        )


def first_free(
    slots: Iterable[Slot], after: Optional[datetime], count: int
) -> list[Slot]:
    """The first ``count`` slots starting strictly after ``after`` (all when ``after`` is None)."""
    result = []
    for slot in slots:
        if after is None or slot.start > after:
            result.append(slot)
            if len(result) == count:
                break
    return result
