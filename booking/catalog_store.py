"""The catalog in MongoDB: the seed loads it, the console edits it, everyone reads it.

Source of truth: the YAML under ``seed/`` fills an empty database and refreshes the businesses
nobody has edited in the console; once the console changes a business (``edited_at`` set), the
database is the truth for it and ``make seed`` leaves it alone. Every edit is validated by the
same parser as the seed files (same rules, same messages), written by compare-and-swap on the
business's ``rev``, and bumps one ``catalog_meta`` version that the processes' cached snapshots
check at most once a second (``booking.runtime.CachedCatalog``): effective at once for the
availability, the bot's lists and the Flow.
"""
from __future__ import annotations

import copy
import logging
from datetime import date, datetime, timezone
from typing import Any, Callable, Optional

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from booking.catalog import Catalog, parse_catalog
from booking.db import with_retries
from booking.errors import BookingError, SeedDataError, UnknownEntityError

logger = logging.getLogger(__name__)
VERSION_ID = "version"


class StaleEditError(BookingError):
    """Someone else changed the business's catalog since the form was opened."""


class CatalogRepository:
    """Stores the validated raw catalog in MongoDB and reads it back as a ``Catalog``."""

    def __init__(self, db: Any) -> None:
        self.db = db

    def save(self, catalog: Catalog) -> dict[str, list[str]]:
        """Seed: insert the businesses and villas the database lacks and refresh those never
        edited in the console; an edited one is kept. What was written and kept, by id."""
        raw = catalog.raw
        outcome: dict[str, list[str]] = {"written": [], "kept": []}
        for collection, items in (("catalog_businesses", raw.get("businesses", [])),
                                  ("catalog_villas", raw.get("villas", []))):
            for item in items:
                doc = _storable(item)
                result = self.db[collection].update_one(
                    {"_id": item["id"], "edited_at": {"$exists": False}},
                    {"$set": doc, "$inc": {"rev": 1}})
                if result.matched_count:
                    outcome["written"].append(item["id"])
                    continue
                try:
                    self.db[collection].insert_one({"_id": item["id"], **doc, "rev": 1})
                    outcome["written"].append(item["id"])
                except DuplicateKeyError:  # it exists and was edited in the console: kept
                    outcome["kept"].append(item["id"])
        self.bump()
        logger.info("catalog seeded: %d written, %d kept (edited in the console)",
                    len(outcome["written"]), len(outcome["kept"]))
        return outcome

    def load(self) -> Catalog:
        """Read the stored catalog."""
        businesses = [_unstore(d) for d in self.db.catalog_businesses.find().sort("_id")]
        villas = [_unstore(d) for d in self.db.catalog_villas.find().sort("_id")]
        return parse_catalog({"businesses": businesses, "villas": villas}, "mongodb catalog")

    def version(self) -> int:
        """The catalog's version (changes with every edit and every seed)."""
        doc = with_retries(lambda: self.db.catalog_meta.find_one({"_id": VERSION_ID}))
        return int(doc["n"]) if doc else 0

    def bump(self) -> None:
        """Tell every process's cached snapshot to reload."""
        with_retries(lambda: self.db.catalog_meta.update_one(
            {"_id": VERSION_ID}, {"$inc": {"n": 1}}, upsert=True))


class CatalogEditor:
    """The console's changes to one business's catalog (services, staff, time off, closures)
    and to villa shares; each validated as a whole catalog before it is written."""

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

    def change(self, business_id: str, edit: Callable[[dict[str, Any]], None],
               rev: Optional[int] = None) -> Catalog:
        """Apply ``edit`` to a copy of the raw business, validate the whole catalog with the
        seed's rules (``SeedDataError``), then write it if nobody changed it meanwhile
        (``StaleEditError``; ``rev`` is what the form was opened with, if known)."""
        doc = self.business(business_id)
        if rev is not None and doc.get("rev", 1) != rev:
            raise StaleEditError("someone else changed this meanwhile: reload and try again")
        raw = _unstore(copy.deepcopy(doc))
        edit(raw)
        others = [_unstore(d) for d in self.db.catalog_businesses.find(
            {"_id": {"$ne": business_id}}).sort("_id")]
        villas = [_unstore(d) for d in self.db.catalog_villas.find().sort("_id")]
        catalog = parse_catalog({"businesses": sorted(others + [raw], key=lambda b: b["id"]),
                                 "villas": villas}, "console")
        written = with_retries(lambda: self.db.catalog_businesses.find_one_and_update(
            {"_id": business_id, "rev": doc.get("rev", 1)},
            {"$set": {**_storable(raw), "edited_at": self.clock()}, "$inc": {"rev": 1}},
            return_document=ReturnDocument.AFTER))
        if written is None:
            raise StaleEditError("someone else changed this meanwhile: reload and try again")
        self.repository.bump()
        return catalog

    # ------------------------------------------------------------------ entries
    def save_service(self, business_id: str, service: dict[str, Any],
                     rev: Optional[int] = None) -> Catalog:
        """Add a service, or replace the one with the same id."""
        def edit(raw: dict[str, Any]) -> None:
            raw["services"] = _replaced(raw.get("services") or [], service)
        return self.change(business_id, edit, rev)

    def save_staff(self, business_id: str, member: dict[str, Any],
                   rev: Optional[int] = None) -> Catalog:
        """Add a staff member, or replace the one with the same id (time off kept unless
        given)."""
        def edit(raw: dict[str, Any]) -> None:
            current = next((s for s in raw.get("staff") or [] if s.get("id") == member.get("id")),
                           {})
            merged = {"time_off": current.get("time_off", {}), **member}
            raw["staff"] = _replaced(raw.get("staff") or [], merged)
        return self.change(business_id, edit, rev)

    def block(self, business_id: str, staff_id: str, day: date, span: str) -> Catalog:
        """Block ``span`` ("13:00-18:00", local) of a staff member's ``day``."""
        def edit(raw: dict[str, Any]) -> None:
            member = _member(raw, staff_id)
            blocked = member.setdefault("time_off", {})
            blocked[day.isoformat()] = [*blocked.get(day.isoformat(), []), span]
        return self.change(business_id, edit)

    def unblock(self, business_id: str, staff_id: str, day: date) -> Catalog:
        """Give a staff member back the hours blocked on ``day``."""
        def edit(raw: dict[str, Any]) -> None:
            (_member(raw, staff_id).get("time_off") or {}).pop(day.isoformat(), None)
        return self.change(business_id, edit)

    def set_villa_share(self, business_id: str, villa_id: str, percent: Optional[int],
                        flat: Optional[int]) -> Catalog:
        """A partner villa's share of each in-villa booking (see ``_villa_share``)."""
        return _villa_share(self.db, self.clock, self.repository, business_id, villa_id,
                            percent, flat)

    def villas(self, business_id: str) -> list[dict[str, Any]]:
        """The stored villas partnering the business."""
        return with_retries(lambda: list(self.db.catalog_villas.find(
            {"businesses": business_id}).sort("_id")))

    def set_closures(self, business_id: str, days: list[date]) -> Catalog:
        """The dates the whole business is closed."""
        def edit(raw: dict[str, Any]) -> None:
            raw["closures"] = sorted({d.isoformat() for d in days})
        return self.change(business_id, edit)


def _villa_share(db: Any, clock: Callable[[], datetime], repository: CatalogRepository,
                 business_id: str, villa_id: str, percent: Optional[int],
                 flat: Optional[int]) -> Catalog:
    """Set a villa's share (exactly one of a percent or a flat IDR amount), validated like the
    seed; only a villa that partners this business alone (a shared villa's terms concern the
    other business too)."""
    doc = with_retries(lambda: db.catalog_villas.find_one({"_id": villa_id}))
    if doc is None or business_id not in (doc.get("businesses") or []):
        raise UnknownEntityError("villa", villa_id)
    if doc.get("businesses") != [business_id]:
        raise StaleEditError("this villa also partners another business: its share is agreed "
                             "with both, so it is not changed here")
    share = {"percent": percent} if percent is not None else {"flat": flat}
    raw = _unstore(doc)
    raw["share"] = share
    villas = [_unstore(d) for d in db.catalog_villas.find({"_id": {"$ne": villa_id}})]
    businesses = [_unstore(d) for d in db.catalog_businesses.find().sort("_id")]
    catalog = parse_catalog({"businesses": businesses, "villas": villas + [raw]}, "console")
    written = with_retries(lambda: db.catalog_villas.find_one_and_update(
        {"_id": villa_id, "rev": doc.get("rev", 1)},
        {"$set": {"share": share, "edited_at": clock()}, "$inc": {"rev": 1}}))
    if written is None:
        raise StaleEditError("someone else changed this meanwhile: reload and try again")
    repository.bump()
    return catalog


def _replaced(items: list[dict[str, Any]], item: dict[str, Any]) -> list[dict[str, Any]]:
    if not isinstance(item.get("id"), str) or not item["id"]:
        raise SeedDataError("console", "<entry>", "an id is required")
    kept = [i for i in items if i.get("id") != item["id"]]
    position = next((n for n, i in enumerate(items) if i.get("id") == item["id"]), len(kept))
    return kept[:position] + [item] + kept[position:]


def _member(raw: dict[str, Any], staff_id: str) -> dict[str, Any]:
    member = next((s for s in raw.get("staff") or [] if s.get("id") == staff_id), None)
    if member is None:
        raise UnknownEntityError("staff member", staff_id)
    return member


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
