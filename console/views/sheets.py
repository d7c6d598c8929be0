"""The "Google Sheets" settings page (owners only): whether a service account is configured and
its email (the address a spreadsheet is shared with), the linked spreadsheet with its state,
last sync and last error; connect, disconnect and "Sync now", each written to the audit log.

The sync runs in a background thread (``booking.sheets.SheetsWorker``) that ``attach`` adds to
the app: started after the server starts, stopped before it stops, woken by ``changed(app)``.
A page only reads MongoDB and wakes the worker; it never waits for Google.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Optional

from pymongo.database import Database
from sanic import Sanic
from sanic.request import Request
from sanic.response import HTTPResponse

from booking.catalog import Catalog
from booking.errors import ValidationError
from booking.sheets import SheetsSync, SheetsWorker, sync_seconds
from booking.sheets_client import client_factory_from_env
from console.web import actor, blocking, form, owners_only, redirect, render, services, session_of

logger = logging.getLogger(__name__)
PAGE = "/settings/sheets"
DONE = {"connected": "Connected. The bookings are being copied to the spreadsheet.",
        "disconnected": "Disconnected. The spreadsheet itself is kept as it is.",
        "sync": "Syncing now: this page shows the result in a moment."}
STATES = {"pending": "waiting for the first sync", "ok": "in sync", "failing": "failing",
          "not_shared": "not shared with the service account",
          "not_found": "spreadsheet or tab not found", "auth_failed": "key refused by Google",
          "rejected": "refused by Google", "not_configured": "not configured"}
PILLS = {"ok": "status-confirmed", "pending": "status-pending_payment",
         "not_configured": "status-cancelled"}  # the others: status-no_show (red)


@dataclass
class SheetsRuntime:
    """What the pages use: the sync (links and their state) and its background worker."""

    sync: SheetsSync
    worker: SheetsWorker


def attach(app: Sanic, db: Database, clock: Callable[[], datetime],
           catalog: Optional[Callable[[], Catalog]] = None) -> SheetsRuntime:
    """Build the sync and its worker from the environment, keep them on ``app.ctx.sheets``,
    and run the worker while the server runs (``catalog``: a cached snapshot; default: read
    from MongoDB at each sync)."""
    sync = SheetsSync(db, client_factory_from_env(), clock, catalog)
    runtime = SheetsRuntime(sync, SheetsWorker(sync, sync_seconds()))
    app.ctx.sheets = runtime

    async def start_worker(app: Sanic, loop: Any) -> None:
        await blocking(sync.ensure_indexes)
        runtime.worker.start()

    async def stop_worker(app: Sanic, loop: Any) -> None:
        await blocking(runtime.worker.stop, 10.0)  # joins the thread: never on the loop

    app.register_listener(start_worker, "after_server_start")
    app.register_listener(stop_worker, "before_server_stop")
    return runtime


def changed(app: Sanic) -> None:
    """A booking changed: sync soon (wakes the worker; returns at once)."""
    runtime: Optional[SheetsRuntime] = getattr(app.ctx, "sheets", None)
    if runtime is not None:
        runtime.worker.kick()


def _audit_view(link: Optional[dict[str, Any]]) -> Optional[dict[str, Any]]:
    if not link:
        return None
    return {"spreadsheet_id": link["spreadsheet_id"], "sheet": link["sheet"]}


async def _page(request: Request, status: int = 200, error: str = "",
                typed: str = "") -> HTTPResponse:
    runtime: SheetsRuntime = request.app.ctx.sheets
    business_id = session_of(request).business_id
    account = await blocking(runtime.sync.account)
    link = await blocking(runtime.sync.status, business_id)
    return render(request, "sheets.html", status=status, title="Google Sheets", account=account,
                  link=link, states=STATES, pills=PILLS, error=error, typed=typed,
                  done=DONE.get(request.args.get("done") or "", ""),
                  interval=int(runtime.worker.interval))


async def _record(request: Request, action: str, target: str, before: Any, after: Any) -> None:
    svc = services(request)
    await blocking(svc.audit.record, session_of(request).business_id, actor(request), action,
                   target, before, after, svc.clock())


def register(app: Sanic) -> None:
    """The routes of this module, and the sync's worker on the app."""
    svc = app.ctx.services
    attach(app, svc.desk.core.db, svc.clock, lambda: svc.desk.core.catalog)

    @app.get(PAGE)
    @owners_only
    async def show(request: Request) -> HTTPResponse:
        return await _page(request)

    @app.post(PAGE)
    @owners_only
    async def connect(request: Request) -> HTTPResponse:
        runtime: SheetsRuntime = request.app.ctx.sheets
        business_id = session_of(request).business_id
        typed = form(request, "spreadsheet_id", 300)
        before = await blocking(runtime.sync.status, business_id)
        try:
            after = await blocking(runtime.sync.connect, business_id, typed,
                                   form(request, "sheet", 120))
        except ValidationError as exc:
            return await _page(request, 400, f"Not connected: {exc}.", typed)
        await _record(request, "sheets.connect", after["spreadsheet_id"], _audit_view(before),
                      _audit_view(after))
        runtime.worker.kick()
        return redirect(f"{PAGE}?done=connected")

    @app.post(f"{PAGE}/disconnect")
    @owners_only
    async def disconnect(request: Request) -> HTTPResponse:
        runtime: SheetsRuntime = request.app.ctx.sheets
        before = await blocking(runtime.sync.disconnect, session_of(request).business_id)
        if before is not None:
            await _record(request, "sheets.disconnect", before["spreadsheet_id"],
                          _audit_view(before), None)
        return redirect(f"{PAGE}?done=disconnected")

    @app.post(f"{PAGE}/sync")
    @owners_only
    async def sync_now(request: Request) -> HTTPResponse:
        runtime: SheetsRuntime = request.app.ctx.sheets
        business_id = session_of(request).business_id
        link = await blocking(runtime.sync.status, business_id)
        if link is None:
            return await _page(request, 409, "Connect a spreadsheet first.")
        await blocking(runtime.sync.request_sync, business_id)
        await _record(request, "sheets.sync_now", link["spreadsheet_id"],
                      {"state": link["state"]}, None)
        runtime.worker.kick()
        return redirect(f"{PAGE}?done=sync")
