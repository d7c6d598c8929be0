"""One booking: who, what, when, the money, its history; and what the desk does to it
(arrived, completed, no-show, cancel, move, notes). Each change is written to the audit log."""
from __future__ import annotations

import logging
from typing import Any, Callable
from urllib.parse import quote

from sanic import Sanic
from sanic.request import Request
from sanic.response import HTTPResponse

from booking.errors import (BookingError, InvalidTransitionError, SlotConflictError,
                            UnknownEntityError, ValidationError)
from booking.models import Booking
from booking.reminders import label
from booking.scheduler import ScheduledMessages
from console.views import sheets
from console.web import (actor, blocking, catalog, form, not_found, parse_instant, redirect,
                         render, services, session_of, signed_in)

logger = logging.getLogger(__name__)

# What the page says after a change (fixed texts: nothing from the URL is shown as is).
DONE = {"arrived": "Marked as arrived.", "completed": "Marked as completed.",
        "no_show": "Marked as a no-show: the time is free again.",
        "cancelled": "Cancelled. The customer is told on WhatsApp.",
        "refund": "Cancelled. The customer is told on WhatsApp, and the payment is refunded.",
        "moved": "Moved. The customer is told on WhatsApp.", "notes": "Notes saved.",
        "booked": "Booked, to be paid at the spa. A customer with a WhatsApp number gets the "
                  "confirmation there.",
        "sent_now": "The next scheduled message goes out now.",
        "nothing_to_send": "No scheduled message of this booking can go now (reminders go "
                           "before the visit, the feedback question and the offer after it)."}


def _audit_view(booking: Booking) -> dict[str, Any]:
    return {"status": booking.status, "start": booking.start.isoformat(),
            "staff_id": booking.staff_id, "notes": booking.notes,
            "arrived": booking.arrived_at is not None}


async def _detail(request: Request, code: str, status: int = 200, error: str = "",
                  alternatives: Any = ()) -> HTTPResponse:
    svc = services(request)
    business_id = session_of(request).business_id
    try:
        booking = await blocking(svc.desk.booking, business_id, code)
        history = await blocking(svc.desk.history, business_id, code)
        money = await blocking(svc.desk.money, business_id, code)
    except UnknownEntityError:
        return not_found(request)
    snapshot = await catalog(request)
    scheduled = [{**m, "label": label(m["kind"])} for m in await blocking(
        ScheduledMessages.of(svc.desk.core).current, booking)]
    return render(request, "booking.html", scheduled=scheduled, status=status, booking=booking,
                  service=snapshot.services.get(booking.service_id),
                  member=snapshot.staff.get(booking.staff_id),
                  villa=snapshot.villas.get(booking.villa_id) if booking.villa_id else None,
                  history=history, money=money, error=error, alternatives=alternatives,
                  done=DONE.get(request.args.get("done") or "", ""),
                  now=svc.clock(), started=svc.clock() >= booking.start)


async def _change(request: Request, code: str, action: str,
                  call: Callable[[], Any]) -> HTTPResponse:
    """Run a desk change; audit it; back to the booking with what happened."""
    svc = services(request)
    business_id = session_of(request).business_id
    try:
        before = await blocking(svc.desk.booking, business_id, code)
        result = await blocking(call)
    except UnknownEntityError:
        return not_found(request)
    except SlotConflictError as exc:
        return await _detail(request, code, 409, f"Not moved: {exc}.", exc.alternatives)
    except InvalidTransitionError as exc:
        return await _detail(request, code, 409, f"Not possible now: the booking is "
                                                 f"{(exc.current or 'changed').lower()}.")
    except (ValidationError, BookingError) as exc:
        return await _detail(request, code, 400, f"Not possible: {exc}.")
    after = result[0] if isinstance(result, tuple) else result
    changed = _audit_view(after)
    if action == "cancelled":
        changed["reason"] = form(request, "reason", 300)
    await blocking(svc.audit.record, business_id, actor(request), action, code,
                   _audit_view(before), changed, svc.clock())
    sheets.changed(request.app)  # the business's spreadsheet, if it has one, follows soon
    done = action
    if action == "cancelled" and isinstance(result, tuple) and result[1]:
        done = "refund"
    return redirect(f"/bookings/{quote(code)}?done={done}")


async def _send_now(request: Request, code: str) -> HTTPResponse:
    """Make the booking's next scheduled message due now (a person sees it on the phone at
    once, or resends a reminder); audited."""
    svc = services(request)
    business_id = session_of(request).business_id
    try:
        await blocking(svc.desk.booking, business_id, code)  # this business's booking only
    except UnknownEntityError:
        return not_found(request)
    message = await blocking(ScheduledMessages.of(svc.desk.core).send_now, code)
    if message is None:
        return redirect(f"/bookings/{quote(code)}?done=nothing_to_send")
    await blocking(svc.audit.record, business_id, actor(request), "send_now", code,
                   {"due": message["next_at"].isoformat()},
                   {"kind": message["kind"], "due": svc.clock().isoformat()}, svc.clock())
    return redirect(f"/bookings/{quote(code)}?done=sent_now")


def register(app: Sanic) -> None:
    """The routes of this module."""

    @app.get("/bookings/<code>")
    @signed_in
    async def show(request: Request, code: str) -> HTTPResponse:
        return await _detail(request, code[:32])

    @app.post("/bookings/<code>/<action>")
    @signed_in
    async def change(request: Request, code: str, action: str) -> HTTPResponse:
        svc = services(request)
        desk, business_id, who = svc.desk, session_of(request).business_id, actor(request)
        code = code[:32]
        if action == "arrived":
            return await _change(request, code, "arrived",
                                 lambda: desk.arrived(business_id, code, who))
        if action == "completed":
            return await _change(request, code, "completed",
                                 lambda: desk.completed(business_id, code, who))
        if action == "no-show":
            return await _change(request, code, "no_show",
                                 lambda: desk.no_show(business_id, code, who))
        if action == "cancel":
            reason = form(request, "reason", 300)
            return await _change(request, code, "cancelled",
                                 lambda: desk.cancel(business_id, code, who, reason))
        if action == "notes":
            notes = form(request, "notes", 4000)
            return await _change(request, code, "notes",
                                 lambda: desk.set_notes(business_id, code, notes, who))
        if action == "send-now":
            return await _send_now(request, code)
        if action == "move":
            start = parse_instant(form(request, "start", 40))
            if start is None:
                return await _detail(request, code, 400, "Pick a time on the calendar.")
            staff_id = form(request, "staff", 64) or None
            return await _change(request, code, "moved",
                                 lambda: desk.reschedule(business_id, code, start, staff_id, who))
        return not_found(request)
