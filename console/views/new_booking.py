"""A booking made at the desk, for a walk-in or a phone customer: pick the treatment and the
day, see the free times (from now on), give the name and, if they have one, the WhatsApp
number (they get a confirmation there)."""
from __future__ import annotations

from urllib.parse import quote

from sanic import Sanic
from sanic.request import Request
from sanic.response import HTTPResponse

from booking.errors import BookingError, SlotConflictError, UnknownEntityError, ValidationError
from console.views import sheets
from console.web import (actor, blocking, catalog, form, not_found, parse_day, parse_instant,
                         redirect, render, services, session_of, signed_in)


async def _page(request: Request, status: int = 200, error: str = "") -> HTTPResponse:
    svc = services(request)
    business_id = session_of(request).business_id
    snapshot = await catalog(request)
    offered = snapshot.services_of(business_id)
    values = {k: (request.args.get(k) or form(request, k, 300)) for k in
              ("service", "day", "staff", "start", "name", "phone", "notes")}
    day = parse_day(values["day"]) or svc.clock().astimezone(request.ctx.business.tz).date()
    service_id = values["service"] if values["service"] in {s.id for s in offered} else (
        offered[0].id if offered else "")
    staff_id = values["staff"] or None
    try:
        free = await blocking(svc.desk.free_times, business_id, service_id, day, staff_id) \
            if service_id else []
    except UnknownEntityError:
        return not_found(request)
    return render(request, "new_booking.html", status=status, offered=offered, day=day,
                  service_id=service_id, staff=[m for m in snapshot.staff_for(service_id)],
                  staff_id=staff_id or "", free=free, values=values, error=error,
                  names={m.id: m.name for m in snapshot.staff.values()})


def register(app: Sanic) -> None:
    """The routes of this module."""

    @app.get("/bookings/new")
    @signed_in
    async def show(request: Request) -> HTTPResponse:
        return await _page(request)

    @app.post("/bookings/new")
    @signed_in
    async def make(request: Request) -> HTTPResponse:
        svc = services(request)
        business_id = session_of(request).business_id
        start = parse_instant(form(request, "start", 40))
        if start is None:
            return await _page(request, 400, "Pick one of the free times.")
        try:
            booking = await blocking(
                svc.desk.book, business_id, form(request, "service", 64), start,
                form(request, "staff", 64) or None, form(request, "name", 100),
                form(request, "phone", 40), form(request, "notes"), actor(request))
        except UnknownEntityError:
            return not_found(request)
        except SlotConflictError:
            return await _page(request, 409, "That time has just been taken: pick another.")
        except (ValidationError, BookingError) as exc:
            return await _page(request, 400, f"Not booked: {exc}.")
        await blocking(svc.audit.record, business_id, actor(request), "booked", booking.code,
                       None, {"status": booking.status, "start": booking.start.isoformat(),
                              "staff_id": booking.staff_id, "service_id": booking.service_id},
                       svc.clock())
        sheets.changed(request.app)
        return redirect(f"/bookings/{quote(booking.code)}?done=booked")
