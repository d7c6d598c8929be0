"""The catalog, edited by the owners: services, staff (services, hours, breaks, days off,
overrides), closures; and blocked time from the calendar (owners and front desk). Every change
goes through ``booking.catalog_store.CatalogEditor`` (the seed's validation) and the audit log."""
from __future__ import annotations

from datetime import date, time
from typing import Any, Callable, Optional

from sanic import Sanic
from sanic.request import Request
from sanic.response import HTTPResponse

from booking.catalog_store import CatalogEditor, StaleEditError
from booking.errors import SeedDataError, UnknownEntityError
from booking.models import WEEKDAYS
from console.catalog_forms import (FormError, service_entry, staff_entry, staff_fields,
                                   whole_number)
from console.web import (actor, blocking, form, not_found, owners_only, parse_day, redirect,
                         render, services, session_of, signed_in)

SAVED = {"service": "Service saved: the bot offers it now.", "staff": "Staff member saved.",
         "closures": "Closures saved.", "blocked": "Time blocked: the bot no longer offers it.",
         "unblocked": "Blocked time given back: the bot offers it again.",
         "villa": "Villa share saved: it applies to payments from now on."}


def _editor(request: Request) -> CatalogEditor:
    svc = services(request)
    return CatalogEditor(svc.desk.core.db, svc.clock)


def _field(request: Request) -> Callable[[str], str]:
    return lambda name: form(request, name, 2000)


async def _save(request: Request, action: str, target: str, before: Any,
                call: Callable[[], Any], again: Callable[[str], Any], done: str) -> HTTPResponse:
    """Run an edit; audit it; on a refusal show the form again with the reason."""
    svc = services(request)
    try:
        await blocking(call)
        await blocking(svc.desk.core.catalog_changed)
    except (FormError, SeedDataError, StaleEditError) as exc:
        reason = exc.reason if isinstance(exc, SeedDataError) else str(exc)
        return await again(reason)
    except UnknownEntityError:
        return not_found(request)
    after = await blocking(_entry, _editor(request), session_of(request).business_id, target)
    await blocking(svc.audit.record, session_of(request).business_id, actor(request), action,
                   target, before, after, svc.clock())
    return redirect(done)


def _rev(request: Request) -> Optional[int]:
    """The revision the form was opened with (None when absent or not a number)."""
    value = form(request, "rev", 12)
    return int(value) if value.isdigit() else None


def _entry(editor: CatalogEditor, business_id: str, target: str) -> Optional[dict[str, Any]]:
    """The stored entry ``kind:id`` (or the business's closures) for the audit log."""
    raw = editor.business(business_id)
    kind, _, entry_id = target.partition(":")
    if kind == "closures":
        return {"closures": raw.get("closures", [])}
    if kind == "villa":
        villa = next((v for v in editor.villas(business_id) if v["_id"] == entry_id), None)
        return {"share": villa.get("share")} if villa else None
    items = raw.get("services" if kind == "service" else "staff") or []
    return next((dict(i) for i in items if i.get("id") == entry_id), None)


def register(app: Sanic) -> None:
    """The routes of this module."""

    @app.get("/catalog")
    @owners_only
    async def overview(request: Request) -> HTTPResponse:
        raw = await blocking(_editor(request).business, session_of(request).business_id)
        villas = await blocking(_editor(request).villas, session_of(request).business_id)
        return render(request, "catalog.html", raw=raw, weekdays=WEEKDAYS, villas=villas,
                      saved=SAVED.get(request.args.get("saved") or "", ""))

    @app.route("/catalog/services/<service_id>", methods=["GET", "POST"])
    @owners_only
    async def service_page(request: Request, service_id: str) -> HTTPResponse:
        business_id = session_of(request).business_id
        raw = await blocking(_editor(request).business, business_id)
        new = service_id == "new"
        current = next((s for s in raw.get("services") or [] if s["id"] == service_id), None)
        if not new and current is None:
            return not_found(request)

        async def again(error: str, status: int = 400) -> HTTPResponse:
            fields = {k: form(request, k) for k in request.form} if request.form else current
            return render(request, "service_form.html", status=status, raw=raw, new=new,
                          entry=fields or {}, error=error, rev=raw.get("rev"))
        if request.method == "GET":
            return await again("", 200)
        try:
            entry = service_entry(_field(request), new, service_id)
        except FormError as exc:
            return await again(str(exc))
        rev = _rev(request)
        return await _save(request, "service_saved", f"service:{entry['id']}", current,
                           lambda: _editor(request).save_service(business_id, entry, rev, new),
                           again,
                           "/catalog?saved=service")

    @app.route("/catalog/staff/<staff_id>", methods=["GET", "POST"])
    @owners_only
    async def staff_page(request: Request, staff_id: str) -> HTTPResponse:
        business_id = session_of(request).business_id
        raw = await blocking(_editor(request).business, business_id)
        current = next((s for s in raw.get("staff") or [] if s["id"] == staff_id), None)
        if current is None:
            return not_found(request)

        async def again(error: str, status: int = 400) -> HTTPResponse:
            fields = ({k: form(request, k) for k in request.form} if request.form
                      else staff_fields(current))
            chosen = request.form.getlist("services") if request.form else current["services"]
            return render(request, "staff_form.html", status=status, raw=raw, member=current,
                          fields=fields, chosen=chosen or [], weekdays=WEEKDAYS, error=error,
                          rev=raw.get("rev"))
        if request.method == "GET":
            return await again("", 200)
        chosen = [s[:64] for s in request.form.getlist("services") or []]
        try:
            entry = staff_entry(_field(request), chosen, staff_id, current)
        except FormError as exc:
            return await again(str(exc))
        rev = _rev(request)
        return await _save(request, "staff_saved", f"staff:{staff_id}", current,
                           lambda: _editor(request).save_staff(business_id, entry, rev), again,
                           "/catalog?saved=staff")

    @app.post("/catalog/closures")
    @owners_only
    async def closures(request: Request) -> HTTPResponse:
        business_id = session_of(request).business_id
        try:
            days = [date.fromisoformat(d.strip()) for d in form(request, "closures").replace(
                "\n", ",").split(",") if d.strip()]
        except ValueError:
            return render(request, "error.html", status=400, title="Not saved",
                          message="Closures are dates like 2026-12-25, separated by commas.")
        before = await blocking(_entry, _editor(request), business_id, "closures")

        async def again(error: str) -> HTTPResponse:
            return render(request, "error.html", status=400, title="Not saved", message=error)
        return await _save(request, "closures_saved", "closures", before,
                           lambda: _editor(request).set_closures(business_id, days), again,
                           "/catalog?saved=closures")

    @app.post("/catalog/villas/<villa_id>")
    @owners_only
    async def villa_share(request: Request, villa_id: str) -> HTTPResponse:
        business_id = session_of(request).business_id
        kind, amount = form(request, "kind", 10), form(request, "amount", 20).strip()

        async def again(error: str) -> HTTPResponse:
            return render(request, "error.html", status=400, title="Not saved", message=error)
        try:
            value = whole_number(amount, "The share", money=kind != "percent")
        except FormError as exc:
            return await again(f"{exc}.")
        villas = await blocking(_editor(request).villas, business_id)
        before = next((dict(v) for v in villas if v["_id"] == villa_id[:64]), None)
        if before is None:
            return not_found(request)
        before = {"share": before.get("share")}
        percent, flat = (value, None) if kind == "percent" else (None, value)
        return await _save(request, "villa_share", f"villa:{villa_id}", before,
                           lambda: _editor(request).set_villa_share(business_id, villa_id,
                                                                    percent, flat),
                           again, "/catalog?saved=villa")

    @app.post("/day/<day>/block")
    @signed_in
    async def block(request: Request, day: str) -> HTTPResponse:
        return await _block(request, day, unblock=False)

    @app.post("/day/<day>/unblock")
    @signed_in
    async def unblock(request: Request, day: str) -> HTTPResponse:
        return await _block(request, day, unblock=True)


async def _block(request: Request, day: str, unblock: bool) -> HTTPResponse:
    chosen = parse_day(day)
    if chosen is None:
        return not_found(request)
    business_id = session_of(request).business_id
    staff_id = form(request, "staff", 64)
    span = f"{form(request, 'from', 5)}-{form(request, 'to', 5)}"
    editor = _editor(request)
    before = await blocking(_entry, editor, business_id, f"staff:{staff_id}")
    if before is None:
        return not_found(request)

    async def again(error: str) -> HTTPResponse:
        return render(request, "error.html", status=400, title="Not blocked",
                      message=f"{error}. Go back to the day and try another time.")
    if not unblock:
        try:
            first, last = (time.fromisoformat(form(request, k, 5)) for k in ("from", "to"))
        except ValueError:
            return await again("Give the times as HH:MM")
        stranded = await blocking(services(request).desk.holding, business_id, staff_id,
                                  chosen, first, last)
        if stranded:
            tz = request.ctx.business.tz
            return await again("Not blocked: " + ", ".join(
                f"{b.code} at {b.start.astimezone(tz):%H:%M}" for b in stranded)
                + " would be left in that time. Move or cancel them first")
    call = ((lambda: editor.unblock(business_id, staff_id, chosen)) if unblock else
            (lambda: editor.block(business_id, staff_id, chosen, span)))
    return await _save(request, "unblocked" if unblock else "blocked", f"staff:{staff_id}",
                       before, call, again,
                       f"/day/{chosen.isoformat()}?saved={'unblocked' if unblock else 'blocked'}")
