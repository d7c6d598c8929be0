"""The catalog in MongoDB: the seed loads it, the console edits it, everyone reads it.

Source of truth: the YAML under ``seed/`` fills an empty database and refreshes the businesses
nobody has edited in the console; once the console changes a business's services or staff
(``edited_at`` set), the database is the truth for it and ``make seed`` leaves it alone. The
day-to-day calendar (blocked hours, closures) lives apart in ``catalog_calendar``, so blocking
an afternoon never takes a business out of the seed's hands.

Every change, the seed's included, is validated as a whole catalog by the seed parser (same
rules, same messages) and committed in one transaction with a compare-and-swap on the single
``catalog_meta`` version: two writers can never both pass validation against a catalog the
other is changing (ids are unique across businesses), and the processes' cached snapshots
reload when the version moves (``booking.runtime.CachedCatalog``, checked once a second).
"""
from __future__ import annotations

import copy
import logging
from datetime import date, datetime, timezone
from typing import Any, Callable, Optional

from booking.catalog import Catalog, parse_catalog
from booking.db import with_retries
from booking.errors import BookingError, SeedDataError, UnknownEntityError

logger = logging.getLogger(__name__)
VERSION_ID = "version"
_ATTEMPTS = 4


class StaleEditError(BookingError):
    """Someone else changed the catalog since the form was opened (or kept changing it)."""


class _Moved(Exception):
    """The catalog version moved between reading and committing: read again."""


class CatalogRepository:
    """Stores the validated raw catalog in MongoDB and reads it back as a ``Catalog``."""

    def __init__(self, db: Any) -> None:
        self.db = db

    # ------------------------------------------------------------------ reading
    def raw(self) -> dict[str, Any]:
        """The stored catalog in the seed format, calendar merged in."""
        businesses = [_unstore(d) for d in self.db.catalog_businesses.find().sort("_id")]
        calendar = {d["_id"]: d for d in self.db.catalog_calendar.find()}
        for business in businesses:
            _merge_calendar(business, calendar.get(business["id"]))
        villas = [_unstore(d) for d in self.db.catalog_villas.find().sort("_id")]
        return {"businesses": businesses, "villas": villas}

    def load(self) -> Catalog:
        """Read the stored catalog."""
        return parse_catalog(self.raw(), "mongodb catalog")

    def version(self) -> int:
        """The catalog's version (it moves with every edit and every seed)."""
        doc = with_retries(lambda: self.db.catalog_meta.find_one({"_id": VERSION_ID}))
        return int(doc["n"]) if doc else 0

    def bump(self) -> None:
        """Tell every process's cached snapshot to reload."""
        with_retries(lambda: self.db.catalog_meta.update_one(
            {"_id": VERSION_ID}, {"$inc": {"n": 1}}, upsert=True))

    # ------------------------------------------------------------------ writing
    def commit(self, version: int, writes: Callable[[Any], None]) -> None:
        """Run ``writes(session)`` in one transaction with the version's compare-and-swap;
        ``_Moved`` when another writer committed since ``version`` was read."""
        with_retries(lambda: self.db.catalog_meta.update_one(
            {"_id": VERSION_ID}, {"$setOnInsert": {"n": 0}}, upsert=True))

        def transaction(session: Any) -> None:
            moved = self.db.catalog_meta.update_one(
                {"_id": VERSION_ID, "n": version}, {"$inc": {"n": 1}}, session=session)
            if moved.matched_count == 0:
                raise _Moved()
            writes(session)

        with self.db.client.start_session() as session:
            with_retries(lambda: session.with_transaction(transaction))

    def save(self, catalog: Catalog) -> dict[str, list[str]]:
        """Seed: insert what the database lacks and refresh what the console never edited;
        an edited business or villa is kept. Refused (``SeedDataError``, nothing written) when
        the result would not be a valid catalog, e.g. a seed id the console gave another
        business. What was written and kept, by id."""
        for _ in range(_ATTEMPTS):
            version = self.version()
            stored = {(kind, d["_id"]): d for kind in ("catalog_businesses", "catalog_villas")
                      for d in self.db[kind].find()}
            outcome: dict[str, list[str]] = {"written": [], "kept": []}
            merged: dict[str, dict[tuple, dict]] = {"businesses": {}, "villas": {}}
            writes: list[tuple[str, dict[str, Any], int]] = []
            for key, kind in (("businesses", "catalog_businesses"), ("villas", "catalog_villas")):
                for (k, item_id), doc in stored.items():
                    if k == kind:
                        merged[key][item_id] = _unstore(doc)
                for item in catalog.raw.get(key, []):
                    current = stored.get((kind, item["id"]))
                    if current is not None and "edited_at" in current:
                        outcome["kept"].append(item["id"])
                        continue
                    merged[key][item["id"]] = item
                    writes.append((kind, _storable(item), (current or {}).get("rev", 0) + 1))
                    outcome["written"].append(item["id"])
            calendar = {d["_id"]: d for d in self.db.catalog_calendar.find()}
            businesses = [copy.deepcopy(b) for _, b in sorted(merged["businesses"].items())]
            for business in businesses:
                _merge_calendar(business, calendar.get(business["id"]))
            parse_catalog({"businesses": businesses,
                           "villas": [v for _, v in sorted(merged["villas"].items())]},
                          "seed and console")

            def write(session: Any) -> None:
                for kind, doc, rev in writes:
                    self.db[kind].replace_one({"_id": doc["id"]}, {**doc, "rev": rev},
                                              upsert=True, session=session)
            try:
                self.commit(version, write)
            except _Moved:
                continue
            logger.info("catalog seeded: %d written, %d kept (edited in the console)",
                        len(outcome["written"]), len(outcome["kept"]))
            return outcome
        raise StaleEditError("the catalog kept changing while it was being seeded: try again")


class CatalogEditor:
    """The console's changes to one business's catalog (services, staff, villa shares) and
    calendar (blocked hours, closures); each validated as a whole catalog before it is
    committed."""

    def __init__(self, db: Any, clock: Callable[[], datetime] = lambda: datetime.now(
            timezone.utc)) -> None:
        self.db = db
        self.clock = clock
        self.repository = CatalogRepository(db)

    def business(self, business_id: str) -> dict[str, Any]:
        """The stored raw business (services and staff included) with its ``rev``."""
        doc = with_retries(lambda: self.db.catalog_businesses.find_one({"_id": business_id}))
        if doc is None:
            raise UnknownEntityError("business", business_id)
        return doc

    def calendar(self, business_id: str) -> dict[str, Any]:
        """The business's blocked hours and closures as stored (empty when none)."""
        doc = with_retries(lambda: self.db.catalog_calendar.find_one({"_id": business_id}))
        return doc or {"_id": business_id, "time_off": {}}

    def _apply(self, edit: Callable[[dict[str, Any]], Callable[[Any], None]]) -> Catalog:
        """Read the stored catalog, let ``edit`` change the raw copy and say what to write,
        validate the whole, commit; again from the start when another writer came first."""
        for _ in range(_ATTEMPTS):
            version = self.repository.version()
            raw = self.repository.raw()
            writes = edit(raw)
            catalog = parse_catalog(raw, "console")
            try:
                self.repository.commit(version, writes)
            except _Moved:
                continue
            return catalog
        raise StaleEditError("the catalog is being changed by someone else: try again")

    def change(self, business_id: str, edit: Callable[[dict[str, Any]], None],
               rev: Optional[int] = None) -> Catalog:
        """Apply ``edit`` to the raw business (services, staff), validate, commit; refused
        (``StaleEditError``) when the business changed since the form showed ``rev``."""
        def step(raw: dict[str, Any]) -> Callable[[Any], None]:
            doc = self.business(business_id)
            if rev is not None and doc.get("rev", 1) != rev:
                raise StaleEditError("someone else changed this meanwhile: reload and try again")
            business = next(b for b in raw["businesses"] if b["id"] == business_id)
            edit(business)
            stored = _unstore(copy.deepcopy(doc))
            stored.update({k: v for k, v in business.items() if k != "closures"})
            for member in stored.get("staff") or []:  # the calendar is stored apart
                member.pop("time_off", None)

            def write(session: Any) -> None:
                self.db.catalog_businesses.replace_one(
                    {"_id": business_id}, {**_storable(stored), "_id": business_id,
                                           "rev": doc.get("rev", 1) + 1,
                                           "edited_at": self.clock()}, session=session)
            return write
        return self._apply(step)

    def _calendar_change(self, business_id: str,
                         edit: Callable[[dict[str, Any]], None]) -> Catalog:
        def step(raw: dict[str, Any]) -> Callable[[Any], None]:
            self.business(business_id)
            calendar = self.calendar(business_id)
            edit(calendar)
            business = next(b for b in raw["businesses"] if b["id"] == business_id)
            _merge_calendar(business, calendar)

            def write(session: Any) -> None:
                self.db.catalog_calendar.replace_one({"_id": business_id}, calendar,
                                                     upsert=True, session=session)
            return write
        return self._apply(step)

    # ------------------------------------------------------------------ entries
    def save_service(self, business_id: str, service: dict[str, Any],
                     rev: Optional[int] = None, new: bool = False) -> Catalog:
        """Add a service (``new``: refused when its id exists), or replace the one with its
        id."""
        def edit(raw: dict[str, Any]) -> None:
            services = raw.get("services") or []
            if new and any(s.get("id") == service.get("id") for s in services):
                raise SeedDataError("console", f"services[{service.get('id')}]",
                                    "a service with this id exists already: choose another "
                                    "name or id, or edit that service")
            current = next((s for s in services if s.get("id") == service.get("id")), {})
            entry = dict(service)
            for kept in ("translations", "rebook_days", "payment"):  # not on the form
                if current.get(kept) and kept not in entry:
                    entry[kept] = current[kept]
            raw["services"] = _replaced(services, entry)
        return self.change(business_id, edit, rev)

    def save_staff(self, business_id: str, member: dict[str, Any],
                   rev: Optional[int] = None) -> Catalog:
        """Add a staff member, or replace the one with the same id."""
        def edit(raw: dict[str, Any]) -> None:
            current = next((s for s in raw.get("staff") or []
                            if s.get("id") == member.get("id")), {})
            entry = dict(member)
            if current.get("time_off"):  # the calendar's, kept as it is
                entry["time_off"] = current["time_off"]
            raw["staff"] = _replaced(raw.get("staff") or [], entry)
        return self.change(business_id, edit, rev)

    def block(self, business_id: str, staff_id: str, day: date, span: str) -> Catalog:
        """Block ``span`` ("13:00-18:00", local) of a staff member's ``day``."""
        self._own_staff(business_id, staff_id)

        def edit(calendar: dict[str, Any]) -> None:
            days = calendar.setdefault("time_off", {}).setdefault(staff_id, {})
            days[day.isoformat()] = [*days.get(day.isoformat(), []), span]
        return self._calendar_change(business_id, edit)

    def unblock(self, business_id: str, staff_id: str, day: date) -> Catalog:
        """Give a staff member back the hours blocked on ``day``."""
        self._own_staff(business_id, staff_id)

        def edit(calendar: dict[str, Any]) -> None:
            (calendar.get("time_off") or {}).get(staff_id, {}).pop(day.isoformat(), None)
        return self._calendar_change(business_id, edit)

    def set_closures(self, business_id: str, days: list[date]) -> Catalog:
        """The dates the whole business is closed."""
        def edit(calendar: dict[str, Any]) -> None:
            calendar["closures"] = sorted({d.isoformat() for d in days})
        return self._calendar_change(business_id, edit)

    def villas(self, business_id: str) -> list[dict[str, Any]]:
        """The stored villas partnering the business."""
        return with_retries(lambda: list(self.db.catalog_villas.find(
            {"businesses": business_id}).sort("_id")))

    def set_villa_share(self, business_id: str, villa_id: str, percent: Optional[int],
                        flat: Optional[int]) -> Catalog:
        """A partner villa's share (exactly one of a percent or a flat IDR amount), only for
        a villa that partners this business alone (a shared villa's terms concern the other
        business too)."""
        def step(raw: dict[str, Any]) -> Callable[[Any], None]:
            villa = next((v for v in raw["villas"] if v["id"] == villa_id), None)
            if villa is None or business_id not in (villa.get("businesses") or []):
                raise UnknownEntityError("villa", villa_id)
            if villa.get("businesses") != [business_id]:
                raise StaleEditError("this villa also partners another business: its share is "
                                     "agreed with both, so it is not changed here")
            villa["share"] = {"percent": percent} if percent is not None else {"flat": flat}
            rev = (self.db.catalog_villas.find_one({"_id": villa_id}) or {}).get("rev", 1)

            def write(session: Any) -> None:
                self.db.catalog_villas.update_one(
                    {"_id": villa_id}, {"$set": {"share": villa["share"],
                                                 "edited_at": self.clock(), "rev": rev + 1}},
                    session=session)
            return write
        return self._apply(step)

    def _own_staff(self, business_id: str, staff_id: str) -> None:
        if not any(s.get("id") == staff_id for s in self.business(business_id).get("staff") or []):
            raise UnknownEntityError("staff member", staff_id)


def _merge_calendar(business: dict[str, Any], calendar: Optional[dict[str, Any]]) -> None:
    """Put the stored calendar (closures, blocked hours) into a raw business."""
    if not calendar:
        return
    if "closures" in calendar:
        business["closures"] = list(calendar["closures"])
    for member in business.get("staff") or []:
        blocked = (calendar.get("time_off") or {}).get(member.get("id"))
        if blocked:
            merged = dict(member.get("time_off") or {})
            for day, spans in blocked.items():
                merged[day] = [*merged.get(day, []), *spans]
            member["time_off"] = merged


def _replaced(items: list[dict[str, Any]], item: dict[str, Any]) -> list[dict[str, Any]]:
    if not isinstance(item.get("id"), str) or not item["id"]:
        raise SeedDataError("console", "<entry>", "an id is required")
    kept = [i for i in items if i.get("id") != item["id"]]
    position = next((n for n, i in enumerate(items) if i.get("id") == item["id"]), len(kept))
    return kept[:position] + [item] + kept[position:]


def _storable(value: Any) -> Any:
    """Turn YAML values (dates as keys or values) into BSON-friendly ones."""
    if isinstance(value, dict):
        return {str(k): _storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_storable(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    return value


def _unstore(doc: dict[str, Any]) -> dict[str, Any]:
    doc = dict(doc)
    for key in ("_id", "rev", "edited_at"):
        doc.pop(key, None)
    return doc
