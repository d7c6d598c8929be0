"""When a booking's scheduled messages go out: pure rules, no I/O (``booking.scheduler``
stores and sends them).

Before the visit:

A confirmed booking gets one reminder per ``ReminderPolicy.hours_before`` (24 h and 2 h by
default), at that many hours before its start, in the business's time zone. A reminder due in
the business's quiet hours (default 21:00–08:00 local) moves to the nearer of the end of the
quiet hours and half an hour before they begin, whichever is still at least ``MARGIN`` before
the visit; a reminder that cannot be sent that early is not sent. Each reminder is sent only
until the next one is due (then that one says it all) and never within ``MARGIN`` of the start.

After the visit (``after_visit``): a booking nobody marked is completed ``AUTO_COMPLETE_AFTER``
its end; ``FEEDBACK_AFTER`` its end the customer is asked how it was; the service's
``rebook_days`` later, at ``NUDGE_AT``, they are offered the same treatment with the same person.
A message after the visit due in quiet hours waits for their end. Feedback and nudges are
``OPTIONAL``: STOP stops them, and at most one of them goes to a customer in ``OPTIONAL_EVERY``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, Callable, Optional
from zoneinfo import ZoneInfo

from booking.models import ReminderPolicy

MARGIN = timedelta(minutes=30)  # nothing is sent closer to the start than this
LAST_CALL = timedelta(minutes=30)  # "the evening before": this long before the quiet hours
NOT_RIGHT_AFTER = timedelta(hours=1)  # no reminder within the hour after the booking was made
MAX_QUIET_MINUTES = 16 * 60  # quiet hours leave at least 8 hours of the day to send in
APART = timedelta(hours=1)  # two reminders closer than this: only the later one
REMINDER = "reminder"  # kinds are "reminder_24h", "reminder_2h"...
COMPLETE, FEEDBACK, NUDGE = "complete", "feedback", "nudge"
OPTIONAL = (FEEDBACK, NUDGE)
OPTIONAL_EVERY = timedelta(days=7)
AUTO_COMPLETE_AFTER = timedelta(hours=2)
FEEDBACK_AFTER = timedelta(hours=3)
FEEDBACK_FOR = timedelta(days=2)  # a question about a visit this long ago is not asked
NUDGE_AT = time(10, 0)
NUDGE_FOR = timedelta(days=7)


@dataclass(frozen=True)
class Planned:
    """One scheduled message: what, when, and until when it is still worth sending."""

    kind: str
    due: datetime
    expires: datetime


def reminder_kind(hours: int) -> str:
    """The kind of the reminder sent ``hours`` before the visit."""
    return f"{REMINDER}_{hours}h"


def is_reminder(kind: str) -> bool:
    """Whether ``kind`` is one of the reminders before a visit."""
    return hours_of(kind) is not None


def hours_of(kind: str) -> Optional[int]:
    """How many hours before the visit a reminder of ``kind`` goes (None: not a reminder)."""
    match = re.fullmatch(rf"{REMINDER}_(\d+)h", kind or "")
    return int(match.group(1)) if match else None


LABELS = {COMPLETE: "Completed if nobody marks it", FEEDBACK: "How was it? (1-5)",
          NUDGE: "Book again?"}


def label(kind: str) -> str:
    """What the console calls a scheduled message ("Reminder, 24 h before")."""
    hours = hours_of(kind)
    return f"Reminder, {hours} h before" if hours is not None else LABELS.get(kind, kind)


def parse_policy(raw: Any, fail: Callable[[str], Exception]) -> ReminderPolicy:
    """The catalog's ``reminders: {hours_before: [24, 2], quiet_hours: "21:00-08:00"}`` (each
    optional); ``fail(reason)`` makes the error to raise."""
    if raw is None:
        return ReminderPolicy()
    if not isinstance(raw, dict):
        raise fail("reminders must be a mapping (hours_before, quiet_hours)")
    unknown = set(raw) - {"hours_before", "quiet_hours"}
    if unknown:
        raise fail(f"reminders has unknown fields: {', '.join(sorted(unknown))}")
    hours = raw.get("hours_before", list(ReminderPolicy.hours_before))
    if not isinstance(hours, list) or len(hours) > 4 or not all(
            isinstance(h, int) and not isinstance(h, bool) and 1 <= h <= 168 for h in hours):
        raise fail("reminders.hours_before must list up to 4 whole hours, each 1 to 168")
    if len(set(hours)) != len(hours):
        raise fail("reminders.hours_before lists an hour twice")
    policy = ReminderPolicy(hours_before=tuple(sorted(hours, reverse=True)))
    quiet = raw.get("quiet_hours")
    if quiet is None:
        return policy
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", str(quiet))
    if not match:
        raise fail(f"reminders.quiet_hours must look like 21:00-08:00, got {quiet!r}")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59 or (h1, m1) == (h2, m2):
        raise fail(f"reminders.quiet_hours is not a span of the day: {quiet!r}")
    if ((h2 * 60 + m2) - (h1 * 60 + m1)) % (24 * 60) > MAX_QUIET_MINUTES:
        raise fail(f"reminders.quiet_hours may last at most 16 hours, got {quiet!r}")
    return ReminderPolicy(policy.hours_before, time(h1, m1), time(h2, m2))


def quiet_span(at: datetime, policy: ReminderPolicy,
               tz: ZoneInfo) -> Optional[tuple[datetime, datetime]]:
    """The quiet hours ``at`` falls in, as (begin, end) instants; ``None`` outside them."""
    local = at.astimezone(tz)
    day, clock = local.date(), local.time().replace(tzinfo=None)
    start, end = policy.quiet_start, policy.quiet_end
    if start < end:  # within one day (e.g. 13:00-14:00)
        if not start <= clock < end:
            return None
        begin_day, end_day = day, day
    elif clock >= start:  # across midnight, in the evening
        begin_day, end_day = day, day + timedelta(days=1)
    elif clock < end:  # across midnight, in the morning
        begin_day, end_day = day - timedelta(days=1), day
    else:
        return None
    return (datetime.combine(begin_day, start, tzinfo=tz),
            datetime.combine(end_day, end, tzinfo=tz))


def out_of_quiet(due: datetime, visit: datetime, policy: ReminderPolicy,
                 tz: ZoneInfo) -> Optional[datetime]:
    """When a message due at ``due`` before a visit at ``visit`` goes: ``due`` itself outside
    the quiet hours, else the nearer sensible time before the visit; ``None`` if none is."""
    latest = visit - MARGIN
    span = quiet_span(due, policy, tz)
    if span is None:
        return due if due <= latest else None
    begin, end = span
    options = [t for t in (end, begin - LAST_CALL) if t <= latest]
    if not options:
        return None
    return min(options, key=lambda t: abs(t - due)).astimezone(due.tzinfo)


def plan(start: datetime, booked_at: datetime, now: datetime, policy: ReminderPolicy,
         tz: ZoneInfo) -> list[Planned]:
    """The reminders of a confirmed booking starting at ``start`` (made at ``booked_at``),
    still to come at ``now``: earliest first, each expiring when the next is due."""
    times: list[tuple[str, datetime]] = []
    for hours in sorted(policy.hours_before, reverse=True):
        due = out_of_quiet(start - timedelta(hours=hours), start, policy, tz)
        if due is None or due < booked_at + NOT_RIGHT_AFTER:
            continue
        while times and due - times[-1][1] < APART:
            times.pop()  # the earlier one would come just before this one
        times.append((reminder_kind(hours), due))
    planned = []
    for i, (kind, due) in enumerate(times):
        expires = times[i + 1][1] if i + 1 < len(times) else start - MARGIN
        if expires > now:
            planned.append(Planned(kind, due, expires))
    return planned


def after_quiet(at: datetime, policy: ReminderPolicy, tz: ZoneInfo) -> datetime:
    """``at``, or the end of the quiet hours it falls in."""
    span = quiet_span(at, policy, tz)
    return span[1].astimezone(at.tzinfo) if span else at


def after_visit(end: datetime, policy: ReminderPolicy, tz: ZoneInfo,
                rebook_days: Optional[int]) -> list[Planned]:
    """What follows a visit ending at ``end``: its completion, the feedback question and, for
    a service with ``rebook_days``, the "book again?" offer."""
    feedback = after_quiet(end + FEEDBACK_AFTER, policy, tz)
    planned = [Planned(COMPLETE, end + AUTO_COMPLETE_AFTER, end + timedelta(days=30)),
               Planned(FEEDBACK, feedback, feedback + FEEDBACK_FOR)]
    if rebook_days:
        day = end.astimezone(tz).date() + timedelta(days=rebook_days)
        nudge = after_quiet(datetime.combine(day, NUDGE_AT, tzinfo=tz), policy, tz)
        planned.append(Planned(NUDGE, nudge.astimezone(end.tzinfo), nudge + NUDGE_FOR))
    return planned


def job_id(code: str, kind: str, start: datetime) -> str:
    """One scheduled message per booking, kind and start time: a retry, a second server or a
    second planning never makes another, and a booking moved to another time gets new ones."""
    return f"{code}:{kind}:{start.astimezone(ZoneInfo('UTC')):%Y%m%dT%H%MZ}"
