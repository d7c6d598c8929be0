"""Google Sheets sync: a business links a spreadsheet tab and every booking change becomes one
row keyed by the booking code, written in the background (``SheetsWorker``), never on a turn's
path. Only ``booking.sheets_client`` speaks to Google.

A link is a ``sheets_links`` document (``_id`` = business id): ``spreadsheet_id``, ``sheet``,
``state`` (``pending``, then ``ok`` or the failing state of ``sheets_client``'s error types),
``last_synced_at``, ``last_failed_at``, ``last_error`` (short, no secret) and ``cursor``.

Which bookings: ``updated_at`` (``created_at`` when missing) at or after the cursor minus
``overlap`` (a write committed late with an earlier timestamp is not missed); the cursor keeps
the codes written inside the overlap, so an unchanged booking is not written twice. It advances
only when every write of the sync succeeded. One sync = read column A once, one
``values:batchUpdate`` for the rows whose code is there (and the header, first time), one
``:append`` for the new ones. No re-read after the append: the syncs of one business are
serialised by a lease on its link (across threads and processes), and a code belongs to one
business, so nobody appends it meanwhile. Writing the same row again is harmless.
"""
from __future__ import annotations

import logging
import os
import re
import threading
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Mapping, Optional, Union
from zoneinfo import ZoneInfo

from pymongo import ASCENDING
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from booking.bookings import utcnow
from booking.catalog import Catalog, CatalogRepository
from booking.db import with_retries
from booking.errors import UnknownEntityError, ValidationError
from booking.models import NOT_BOOKINGS, Booking
from booking.sheets_client import (SheetsClient, SheetsError, SheetsNotConfigured,
                                   SheetsRateLimited, SheetsUnavailable, a1_sheet)

logger = logging.getLogger(__name__)
SPREADSHEET_ID = re.compile(r"[A-Za-z0-9_-]{20,100}")
_ID_IN_URL = re.compile(r"/spreadsheets/d/([A-Za-z0-9_-]+)")
HEADER = ["Code", "Status", "Date", "Start", "End", "Service", "Staff", "Customer", "Phone",
          "Villa", "Price (IDR)", "Arrived", "Notes", "Updated (UTC)"]
LAST_COLUMN = "N"  # the 14th column
MAX_ROWS_PER_REQUEST = 500  # about 100 kB: far below the ~2 MB a request should stay under
PENDING, OK = "pending", "ok"
LEASE = timedelta(minutes=5)
PAUSE_AFTER = {"failing": timedelta(minutes=1)}  # sync_all skips a failing link this long
PAUSE_OTHERWISE = timedelta(minutes=5)  # not shared, not found...: until someone acts
MESSAGES = {
    "not_shared": "The spreadsheet is not shared with {email}: share it with that address as "
                  "an editor.",
    "not_found": "No such spreadsheet, or it has no tab named \u201c{sheet}\u201d: check the id "
                 "and the tab name.",
    "auth_failed": "Google refused the service account's key: the administrator must check it."}


def sync_seconds(env: Optional[Mapping[str, str]] = None) -> float:
    """``SHEETS_SYNC_SECONDS``: how often the worker syncs (default 30, at least 1)."""
    env = os.environ if env is None else env
    return max(1.0, float(env.get("SHEETS_SYNC_SECONDS") or 30))


def spreadsheet_id_from(text: str) -> str:
    """The spreadsheet id in ``text`` (an id, or the spreadsheet's address); ValidationError."""
    text = text.strip()
    match = _ID_IN_URL.search(text)
    candidate = match.group(1) if match else text
    if not SPREADSHEET_ID.fullmatch(candidate):
        raise ValidationError("that is not a spreadsheet id (20 to 100 letters, digits, - or _, "
                              "the part after /d/ in the spreadsheet's address)")
    return candidate


def sheet_name(text: str) -> str:
    """A tab name (``Bookings`` when empty); ValidationError for what Sheets refuses."""
    name = text.strip() or "Bookings"
    if len(name) > 100 or not name.isprintable() or any(ch in name for ch in "[]*?:/\\"):
        raise ValidationError("a tab name is up to 100 characters, without [ ] * ? : / \\")
    return name


def changed_at(doc: Mapping[str, Any]) -> datetime:
    """When a booking document last changed."""
    return doc.get("updated_at") or doc["created_at"]


def booking_row(doc: Mapping[str, Any], catalog: Catalog) -> list[Any]:
    """The row of one booking, in ``HEADER`` order, times in the business's zone."""
    booking = Booking.from_doc(dict(doc))
    try:
        tz = catalog.business(booking.business_id).tz
    except UnknownEntityError:
        tz = ZoneInfo("UTC")
    service, member = catalog.services.get(booking.service_id), catalog.staff.get(booking.staff_id)
    villa = catalog.villas.get(booking.villa_id) if booking.villa_id else None
    start = booking.start.astimezone(tz)
    arrived = booking.arrived_at.astimezone(tz).strftime("%H:%M") if booking.arrived_at else ""
    return [booking.code, booking.status, start.date().isoformat(), start.strftime("%H:%M"),
            booking.end.astimezone(tz).strftime("%H:%M"),
            service.name if service else booking.service_id,
            member.name if member else booking.staff_id, booking.customer_name,
            booking.whatsapp_number,
            villa.name if villa else "", int(booking.price), arrived, booking.notes,
            changed_at(doc).astimezone(timezone.utc).isoformat()]


def _chunks(items: list[Any]) -> list[list[Any]]:
    return [items[i:i + MAX_ROWS_PER_REQUEST] for i in range(0, len(items), MAX_ROWS_PER_REQUEST)]


class SheetsSync:
    """Links, their state, and the sync of a business's bookings to its spreadsheet."""

    def __init__(self, db: Database, client_factory: Callable[[], SheetsClient],
                 clock: Callable[[], datetime] = utcnow,
                 catalog: Union[Catalog, Callable[[], Catalog], None] = None,
                 overlap: timedelta = timedelta(seconds=5)) -> None:
        """Args:
            client_factory: the Google client (raises SheetsNotConfigured without a key).
            catalog: names and time zones (default: read from MongoDB at each sync).
        """
        self.db, self.links = db, db.sheets_links
        self.client_factory, self.clock, self.overlap = client_factory, clock, overlap
        self._catalog = catalog

    def ensure_indexes(self) -> None:
        """The index behind "what changed since the cursor"."""
        self.db.bookings.create_index([("business_id", ASCENDING), ("updated_at", ASCENDING)])
        # A spreadsheet belongs to one business: another one linking it would have its
        # bookings written into someone else's sheet by the shared service account.
        self.links.create_index("spreadsheet_id", unique=True)

    def account(self) -> dict[str, Any]:
        """Whether a service account is configured, its email (to share sheets with), or why not."""
        try:
            return {"configured": True, "client_email": self.client_factory().client_email,
                    "problem": ""}
        except SheetsNotConfigured as exc:
            return {"configured": False, "client_email": "", "problem": str(exc)}

    def connect(self, business_id: str, spreadsheet_id: str, sheet: str = "Bookings"
                ) -> dict[str, Any]:
        """Link (or re-link) a business to a spreadsheet tab; the next sync writes every booking."""
        fields = {"spreadsheet_id": spreadsheet_id_from(spreadsheet_id), "sheet": sheet_name(sheet),
                  "state": PENDING, "connected_at": self.clock(), "last_error": "",
                  "verified": False, "next_try_at": None}
        try:
            with_retries(lambda: self.links.update_one(
                {"_id": business_id}, {"$set": fields, "$inc": {"generation": 1}, "$unset": {
                    "cursor": "", "last_synced_at": "", "last_failed_at": ""}}, upsert=True))
        except DuplicateKeyError:  # one service account writes every business's sheets
            raise ValidationError("that spreadsheet is connected to another business; make a "
                                  "spreadsheet of your own") from None
        return self.status(business_id) or {}

    def disconnect(self, business_id: str) -> Optional[dict[str, Any]]:
        """Unlink; the link that was (None if there was none). The sheet itself is left as is."""
        return with_retries(lambda: self.links.find_one_and_delete({"_id": business_id}))

    def request_sync(self, business_id: str) -> None:
        """Sync at the next round even after a failure (the owner pressed "Sync now")."""
        with_retries(lambda: self.links.update_one({"_id": business_id},
                                                   {"$set": {"next_try_at": None}}))

    def status(self, business_id: str) -> Optional[dict[str, Any]]:
        """The link's state for the console; None when the business has no link."""
        link = with_retries(lambda: self.links.find_one({"_id": business_id}))
        if link is None:
            return None
        configured = self.account()["configured"]
        return {"spreadsheet_id": link["spreadsheet_id"], "sheet": link["sheet"],
                "state": link.get("state", PENDING) if configured else "not_configured",
                "last_synced_at": link.get("last_synced_at"),
                "last_failed_at": link.get("last_failed_at"),
                "last_error": link.get("last_error", ""), "connected_at": link.get("connected_at"),
                "url": f"https://docs.google.com/spreadsheets/d/{link['spreadsheet_id']}/edit"}

    def sync_business(self, business_id: str) -> int:
        """Write the business's changed bookings to its sheet; the rows written (0 when there
        is no link, no configuration, or another sync of it is running). Google's errors are
        recorded on the link, never raised."""
        try:
            client = self.client_factory()
        except SheetsNotConfigured:
            return 0
        token, now = uuid.uuid4().hex, self.clock()
        link = with_retries(lambda: self.links.find_one_and_update(
            {"_id": business_id, "$or": [{"lease_until": None}, {"lease_until": {"$lt": now}}]},
            {"$set": {"lease_until": now + LEASE, "lease_token": token}}))
        if link is None:
            return 0
        fields: dict[str, Any] = {}
        try:
            docs = self._changed(business_id, link.get("cursor"))
            if docs or not link.get("verified"):
                self._write(client, link, docs)
            fields = {"state": OK, "last_synced_at": self.clock(), "last_error": "",
                      "verified": True, "next_try_at": None,
                      "cursor": self._advanced(link.get("cursor"), docs)}
            if docs:
                logger.info("sheets: %d rows of %s written", len(docs), business_id)
            return len(docs)
        except SheetsError as exc:
            failed_at = self.clock()
            fields = {"state": exc.state, "last_failed_at": failed_at,
                      "last_error": self._message(exc, client, link)[:300],
                      "next_try_at": failed_at + PAUSE_AFTER.get(exc.state, PAUSE_OTHERWISE)}
            logger.warning("sheets: sync of %s failed (%s): %s", business_id, exc.state, exc)
            return 0
        finally:
            self._release(business_id, token, link.get("generation"), fields)

    def sync_all(self) -> dict[str, int]:
        """One round over every link due (what the worker runs): business id → rows written."""
        try:
            self.client_factory()
        except SheetsNotConfigured:
            return {}
        now = self.clock()
        due = with_retries(lambda: [d["_id"] for d in self.links.find(
            {"$or": [{"next_try_at": None}, {"next_try_at": {"$lte": now}}]}, {"_id": 1})])
        written: dict[str, int] = {}
        for business_id in due:
            try:
                written[business_id] = self.sync_business(business_id)
            except Exception:  # the database: the other businesses still get their turn
                logger.exception("sheets: sync of %s failed", business_id)
        return written

    # ------------------------------------------------------------------ internals
    def _catalog_now(self) -> Catalog:
        if self._catalog is None:
            return CatalogRepository(self.db).load()
        return self._catalog if isinstance(self._catalog, Catalog) else self._catalog()

    def _changed(self, business_id: str, cursor: Optional[dict[str, Any]]) -> list[dict]:
        query: dict[str, Any] = {"business_id": business_id,
                                 "status": {"$nin": list(NOT_BOOKINGS)}}  # (offers)
        done: dict[str, datetime] = {}
        if cursor:
            since = cursor["at"] - self.overlap
            done = {d["code"]: d["at"] for d in cursor.get("done", [])}
            query["$or"] = [{"updated_at": {"$gte": since}},
                            {"updated_at": None, "created_at": {"$gte": since}}]
        docs = with_retries(lambda: list(self.db.bookings.find(query, {"cells": 0})))
        return [d for d in docs if done.get(d["code"]) != changed_at(d)]

    def _advanced(self, cursor: Optional[dict[str, Any]], docs: list[dict]) -> Optional[dict]:
        """The cursor after ``docs`` were written: the latest change, and what is inside the
        overlap before it."""
        seen = {d["code"]: d["at"] for d in (cursor or {}).get("done", [])}
        seen.update((d["code"], changed_at(d)) for d in docs)
        if not seen:
            return cursor
        at = max(list(seen.values()) + ([cursor["at"]] if cursor else []))
        return {"at": at, "done": [{"code": c, "at": t} for c, t in sorted(seen.items())
                                   if t >= at - self.overlap]}

    def _write(self, client: SheetsClient, link: dict[str, Any], docs: list[dict]) -> None:
        """Upsert by code: update the rows whose code is in column A, append the others."""
        spreadsheet, sheet = link["spreadsheet_id"], link["sheet"]
        column = client.key_column(spreadsheet, sheet)
        rows_of: dict[str, list[int]] = {}
        for number, code in enumerate(column, start=1):
            rows_of.setdefault(code.strip(), []).append(number)
        tab, catalog = a1_sheet(sheet), self._catalog_now()
        updates: list[tuple[str, list[list[Any]]]] = []
        if not any(code.strip() for code in column):
            updates.append((f"{tab}!A1:{LAST_COLUMN}1", [HEADER]))
        new: list[list[Any]] = []
        for doc in sorted(docs, key=lambda d: (d["start"], d["code"])):
            row = booking_row(doc, catalog)
            for number in rows_of.get(doc["code"], ()):
                updates.append((f"{tab}!A{number}:{LAST_COLUMN}{number}", [row]))
            if doc["code"] not in rows_of:
                new.append(row)
        for part in _chunks(updates):
            client.write_ranges(spreadsheet, part)
        for rows in _chunks(new):
            client.append_rows(spreadsheet, sheet, rows)

    @staticmethod
    def _message(exc: SheetsError, client: SheetsClient, link: dict[str, Any]) -> str:
        """What the owner reads on the console (no secret, no stack)."""
        if isinstance(exc, SheetsUnavailable):
            what = "Google's rate limit was reached" if isinstance(exc, SheetsRateLimited) else (
                f"Google Sheets is unavailable ({exc})")
            return f"{what}: the sync tries again shortly."
        return MESSAGES.get(exc.state, "Google refused the update ({error}).").format(
            email=client.client_email, sheet=link["sheet"], error=exc)

    def _release(self, business_id: str, token: str, generation: Any,
                 fields: dict[str, Any]) -> None:
        """Store the outcome (unless the link was re-connected meanwhile) and end the lease."""
        lease = {"lease_until": "", "lease_token": ""}
        if fields:
            done = with_retries(lambda: self.links.update_one(
                {"_id": business_id, "lease_token": token, "generation": generation},
                {"$set": fields, "$unset": lease}))
            if done.matched_count:
                return
        with_retries(lambda: self.links.update_one({"_id": business_id, "lease_token": token},
                                                   {"$unset": lease}))


class SheetsWorker:
    """A daemon thread running ``sync_all`` every ``interval`` seconds, or at once on
    ``kick()``; it never runs on an event loop."""

    def __init__(self, sync: SheetsSync, interval: float = 30.0) -> None:
        self.sync, self.interval = sync, interval
        self._wake, self._stop = threading.Event(), threading.Event()
        self._round_done = threading.Condition()
        self._thread: Optional[threading.Thread] = None
        self.rounds = 0  # rounds finished

    def start(self) -> None:
        """Start the thread (its first round runs at once); a second start does nothing."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="sheets-sync", daemon=True)
        self._thread.start()

    def kick(self) -> None:
        """Run a round now rather than at the end of the wait (after a booking changed)."""
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the round in progress (waits at most ``timeout`` seconds)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wait_for_round(self, after: int, timeout: float = 10.0) -> bool:
        """Block until more than ``after`` rounds have finished (False after ``timeout``)."""
        with self._round_done:
            return self._round_done.wait_for(lambda: self.rounds > after, timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()  # a kick from now on asks for another round
            try:
                self.sync.sync_all()
            except Exception:
                logger.exception("sheets: sync round failed")
            with self._round_done:
                self.rounds += 1
                self._round_done.notify_all()
            if not self._stop.is_set():  # stop() may have come before this round's clear()
                self._wake.wait(self.interval)
