"""The day: one column per staff member, bookings placed by time and coloured by status, the
hours they do not work shaded; in "move" mode, the free start times to move a booking to."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Optional
from urllib.parse import quote
from zoneinfo import ZoneInfo

from sanic import Sanic
from sanic.request import Request
from sanic.response import HTTPResponse

from booking.desk import DayPlan
from booking.errors import UnknownEntityError
from booking.settings import Settings
from console.views.catalog import SAVED  # the block/unblock outcomes
from console.web import (blocking, catalog, not_found, parse_day, redirect, render, services,
                         session_of, signed_in)

DEFAULT_HOURS = (8, 20)  # shown when nobody works that day


@dataclass(frozen=True)
class Block:
    """Something drawn in a column, as percentages of the day's visible height."""

    top: float
    height: float
    item: Any = None
    label: str = ""


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def visible_hours(plan: DayPlan, tz: ZoneInfo) -> tuple[int, int]:
    """The first and last local hour the calendar shows: everyone's working hours and every
    booking, whole hours."""
    moments = [_utc(m) for c in plan.columns for w in c.windows for m in w]
    moments += [_utc(m) for b in plan.bookings for m in (b.start, b.end)]
    if not moments:
        return DEFAULT_HOURS
    local = [m.astimezone(tz) for m in moments]
    first = min(m.hour for m in local)
    last = max(m.hour + (1 if (m.minute or m.second) else 0) if m.date() == plan.day else 24
               for m in local)
    return first, max(last, first + 1)


def layout(plan: DayPlan, tz: ZoneInfo, free: Optional[list] = None,
           hours: Optional[tuple[int, int]] = None) -> dict[str, Any]:
    """What the day template draws: the hour lines and, per staff member, working windows,
    bookings and (when moving a booking) free start times; ``hours`` fixes the visible hours
    (a week shares them)."""
    first, last = hours or visible_hours(plan, tz)
    top = datetime.combine(plan.day, datetime.min.time(), tz) + timedelta(hours=first)
    span = (last - first) * 60.0

    def block(start: datetime, end: datetime, item: Any = None, label: str = "") -> Block:
        begin = (_utc(start) - top).total_seconds() / 60
        length = (_utc(end) - _utc(start)).total_seconds() / 60
        return Block(round(max(begin, 0) / span * 100, 3), round(length / span * 100, 3), item,
                     label)

    columns = []
    for column in plan.columns:
        starts = [s for s in (free or []) if column.staff.id in s.staff_ids]
        columns.append({
            "staff": column.staff,
            "windows": [block(a, b) for a, b in column.windows],
            "bookings": [block(b.start, b.end, b) for b in column.bookings],
            "free": [block(s.start, s.start + timedelta(minutes=15), s.start,
                           s.start.astimezone(tz).strftime("%H:%M")) for s in starts],
        })
    hours = [(h, round((h - first) * 60 / span * 100, 3)) for h in range(first, last)]
    return {"hours": hours, "columns": columns}


def register(app: Sanic) -> None:
    """The routes of this module."""

    @app.get("/")
    @signed_in
    async def home(request: Request) -> HTTPResponse:
        business = request.ctx.business
        return redirect(f"/day/{services(request).clock().astimezone(business.tz).date()}")

    @app.get("/day/<day>")
    @signed_in
    async def day_page(request: Request, day: str) -> HTTPResponse:
        shown = parse_day(day)
        if shown is None:
            return not_found(request)
        svc = services(request)
        business_id = session_of(request).business_id
        plan = await blocking(svc.desk.day, business_id, shown)
        tz = plan.business.tz
        moving, free = None, None
        code = request.args.get("move")
        if code:
            try:
                moving = await blocking(svc.desk.booking, business_id, code[:32])
            except UnknownEntityError:
                return not_found(request)
            free = await blocking(svc.desk.free_times, business_id, moving.service_id, shown)
        waiting = await blocking(svc.desk.waiting, business_id, shown)
        snapshot = await catalog(request)
        return render(request, "day.html", plan=plan, grid=layout(plan, tz, free), day=shown,
                      waiting=waiting, hold_minutes=Settings.from_env().waitlist_hold_minutes,
                      previous=shown - timedelta(days=1), following=shown + timedelta(days=1),
                      moving=moving, services=snapshot.services, staff=snapshot.staff,
                      counts=_counts(plan), saved=SAVED.get(request.args.get("saved") or "", ""))

    @app.get("/week/<day>")
    @signed_in
    async def week_page(request: Request, day: str) -> HTTPResponse:
        shown = parse_day(day)
        if shown is None:
            return not_found(request)
        monday = shown - timedelta(days=shown.weekday())
        svc = services(request)
        business_id = session_of(request).business_id
        plans = [await blocking(svc.desk.day, business_id, monday + timedelta(days=i))
                 for i in range(7)]
        snapshot = await catalog(request)
        member = request.args.get("staff")
        if member:  # one staff member's week, placed by time, a column per day
            if member not in {c.staff.id for c in plans[0].columns}:
                return not_found(request)
            tz = plans[0].business.tz
            spans = [visible_hours(plan, tz) for plan in plans]
            common = (min(a for a, _ in spans), max(b for _, b in spans))
            days = []
            for plan in plans:
                grid = layout(plan, tz, hours=common)
                days.append({"day": plan.day, **next(
                    c for c in grid["columns"] if c["staff"].id == member)})
            return render(request, "week_staff.html", monday=monday, days=days,
                          hours=grid["hours"], member=snapshot.staff[member],
                          staff=[c.staff for c in plans[0].columns], services=snapshot.services,
                          previous=monday - timedelta(days=7),
                          following=monday + timedelta(days=7))
        by_staff = [{c.staff.id: c for c in plan.columns} for plan in plans]
        rows = [{"staff": column.staff,
                 "days": [{"plan": plan, "working": day[column.staff.id].windows,
                           "bookings": day[column.staff.id].bookings}
                          if column.staff.id in day else {"plan": plan, "working": [],
                                                          "bookings": []}
                          for plan, day in zip(plans, by_staff)]}
                for column in plans[0].columns]
        return render(request, "week.html", monday=monday, plans=plans, rows=rows,
                      previous=monday - timedelta(days=7), following=monday + timedelta(days=7),
                      services=snapshot.services)

    @app.get("/day")
    @signed_in
    async def pick_day(request: Request) -> HTTPResponse:
        chosen = parse_day(request.args.get("date"))
        if chosen is None:
            return redirect("/")
        move = request.args.get("move")
        return redirect(f"/day/{chosen}" + (f"?move={quote(move[:32])}" if move else ""))


def _counts(plan: DayPlan) -> dict[str, int]:
    counts: dict[str, int] = {}
    for booking in plan.bookings + plan.released:
        counts[booking.status] = counts.get(booking.status, 0) + 1
    return counts
