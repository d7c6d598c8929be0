"""The catalog: parse and validate seed YAML, store it in MongoDB, read it back."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path
from typing import Any, Iterable, Optional
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from booking import names
from booking.errors import SeedDataError, UnknownEntityError
from booking.i18n import LANGUAGES
from booking.catalog_parser import _fmt, _Parser
from booking.deposits import parse_payment
from booking.reminders import parse_policy
from booking.models import (
    WEEKDAYS,
    Break,
    Business,
    Category,
    Service,
    Staff,
    TimeRange,
    Villa,
)

logger = logging.getLogger(__name__)
MAX_PRICE = 10_000_000_000  # IDR: far above any treatment, far below BSON's 64-bit limit
MAX_BUFFER = 240


@dataclass
class Catalog:
    """An in-memory snapshot of every business, service, staff member and villa."""

    businesses: dict[str, Business] = field(default_factory=dict)
    categories: dict[str, Category] = field(default_factory=dict)
    services: dict[str, Service] = field(default_factory=dict)
    staff: dict[str, Staff] = field(default_factory=dict)
    villas: dict[str, Villa] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)
    raw_closures: dict[str, tuple] = field(default_factory=dict)  # per business, as written

    def business(self, business_id: str) -> Business:
        """The business with this id, or ``UnknownEntityError``."""
        try:
            return self.businesses[business_id]
        except KeyError:
            raise UnknownEntityError("business", business_id) from None

    def service(self, service_id: str) -> Service:
        """The service with this id, or ``UnknownEntityError``."""
        try:
            return self.services[service_id]
        except KeyError:
            raise UnknownEntityError("service", service_id) from None

    def staff_member(self, staff_id: str) -> Staff:
        """The staff member with this id, or ``UnknownEntityError``."""
        try:
            return self.staff[staff_id]
        except KeyError:
            raise UnknownEntityError("staff member", staff_id) from None

    def villa(self, villa_id: str) -> Villa:
        """The villa with this id, or ``UnknownEntityError``."""
        try:
            return self.villas[villa_id]
        except KeyError:
            raise UnknownEntityError("villa", villa_id) from None

    def business_by_phone_number_id(self, phone_number_id: str) -> Business:
        """The business that owns this WhatsApp phone number id."""
        for business in self.businesses.values():
            if business.phone_number_id == phone_number_id:
                return business
        raise UnknownEntityError("WhatsApp phone number id", phone_number_id)

    def find_service(self, business_id: str, text: str) -> Optional[Service]:
        """A service of the business named by an id, name or alias (``booking.names``)."""
        return names.find_service(self.services_of(business_id), text) if text else None

    def mentioned_service(self, business_id: str, text: str) -> tuple[Optional[Service], int]:
        """The business's service a sentence mentions, and the words matched (``booking.names``)."""
        return names.mentioned_service(self.services_of(business_id), text or "")

    def services_of(self, business_id: str) -> list[Service]:
        """Services of a business in catalog order."""
        return [s for s in self.services.values() if s.business_id == business_id]

    def categories_of(self, business_id: str) -> list[Category]:
        """Categories of a business in catalog order."""
        return [c for c in self.categories.values() if c.business_id == business_id]

    def staff_for(self, service_id: str) -> list[Staff]:
        """Staff members who perform a service, in catalog order."""
        return [s for s in self.staff.values() if service_id in s.service_ids]

    def villas_of(self, business_id: str) -> list[Villa]:
        """Villas partnered with a business."""
        return [v for v in self.villas.values() if business_id in v.business_ids]


def parse_catalog(raw: dict[str, Any], source: str = "<catalog>") -> Catalog:
    """Validate a raw catalog mapping and build a ``Catalog``; raises ``SeedDataError``."""
    p = _Parser(source)
    if not isinstance(raw, dict):
        raise p.fail("<top>", "the file must hold a mapping with 'businesses' and 'villas'")
    catalog = Catalog(raw=raw)
    phone_ids: dict[str, str] = {}
    for b_raw in p.require(raw, "businesses", "<top>", list):
        business = _parse_business(p, b_raw, catalog, phone_ids)
        catalog.businesses[business.id] = business
    for v_raw in raw.get("villas") or []:
        villa = _parse_villa(p, v_raw, catalog)
        catalog.villas[villa.id] = villa
    return catalog


def _unique(p: _Parser, seen: dict, key: str, entry: str) -> None:
    if key in seen:
        raise p.fail(entry, f"duplicate id '{key}'")


def _parse_business(p: _Parser, b: Any, catalog: Catalog, phone_ids: dict[str, str]) -> Business:
    entry = f"businesses[{b.get('id', '?') if isinstance(b, dict) else '?'}]"
    bid = p.require(b, "id", entry, str)
    _unique(p, catalog.businesses, bid, entry)
    tz_name = p.require(b, "timezone", entry, str)
    try:
        ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise p.fail(entry, f"unknown time zone {tz_name!r}") from None
    currency = b.get("currency", "IDR")
    if currency != "IDR":
        raise p.fail(entry, f"currency must be IDR, got {currency!r}")
    phone = str(p.require(b, "whatsapp_phone_number_id", entry, (str, int)))
    if phone in phone_ids:
        raise p.fail(entry, f"WhatsApp phone number id {phone} is also used by {phone_ids[phone]}")
    phone_ids[phone] = bid
    payment = parse_payment(b.get("payment"), lambda reason: p.fail(entry, reason))
    fee = p.optional_int(b, "platform_fee_percent", entry, 0)
    if fee is not None and fee > 100:
        raise p.fail(entry, f"platform_fee_percent must be at most 100, got {fee}")
    business = Business(
        id=bid,
        name=p.require(b, "name", entry, str),
        timezone=tz_name,
        phone_number_id=phone,
        currency="IDR",
        payment_required=bool(b.get("payment_required", False)) if payment is None
        else payment.collect != "none",
        payment_policy=payment,
        monthly_booking_limit=p.optional_int(b, "monthly_booking_limit", entry, None, 1),
        platform_fee_percent=fee or 0,
        payout=p.payout(b.get("payout"), entry),
        language=_language(p, b.get("language", "en"), entry),
        reminders=parse_policy(b.get("reminders"), lambda reason: p.fail(entry, reason)),
        review_url=_review_url(p, b.get("review_url"), entry),
    )
    for c in b.get("categories") or []:
        c_entry = f"{entry}.categories[{c.get('id', '?') if isinstance(c, dict) else '?'}]"
        cid = p.require(c, "id", c_entry, str)
        _unique(p, catalog.categories, cid, c_entry)
        catalog.categories[cid] = Category(cid, bid, p.require(c, "name", c_entry, str),
                                           _translations(p, c, c_entry))
    closures = b.get("closures") or []
    if not isinstance(closures, list):
        raise p.fail(entry, "closures must be a list of dates (YYYY-MM-DD)")
    catalog.raw_closures[bid] = tuple(closures)  # every staff member is off those days
    for s in p.require(b, "services", entry, list):
        service = _parse_service(p, s, bid, entry, catalog)
        catalog.services[service.id] = service
    for st in p.require(b, "staff", entry, list):
        member = _parse_staff(p, st, bid, entry, catalog)
        catalog.staff[member.id] = member
    return business


def _parse_service(p: _Parser, s: Any, bid: str, parent: str, catalog: Catalog) -> Service:
    entry = f"{parent}.services[{s.get('id', '?') if isinstance(s, dict) else '?'}]"
    sid = p.require(s, "id", entry, str)
    _unique(p, catalog.services, sid, entry)
    category_id = p.require(s, "category", entry, str)
    category = catalog.categories.get(category_id)
    if category is None or category.business_id != bid:
        raise p.fail(entry, f"unknown category '{category_id}'")
    price = p.require(s, "price", entry, int)
    if price < 0:
        raise p.fail(entry, f"price must not be negative, got {price}")
    if price > MAX_PRICE:
        raise p.fail(entry, f"price must be at most {MAX_PRICE}, got {price}")
    duration = p.require(s, "duration_minutes", entry, int)
    if duration <= 0:
        raise p.fail(entry, f"duration_minutes must be positive, got {duration}")
    if duration > 24 * 60:
        raise p.fail(entry, f"duration_minutes must be at most 1440 (a day), got {duration}")
    for buffer in ("buffer_before_minutes", "buffer_after_minutes"):
        if (p.optional_int(s, buffer, entry, 0) or 0) > MAX_BUFFER:
            raise p.fail(entry, f"{buffer} must be at most {MAX_BUFFER}")
    return Service(
        id=sid,
        business_id=bid,
        category_id=category_id,
        name=p.require(s, "name", entry, str),
        duration_minutes=duration,
        price=price,
        buffer_before_minutes=p.optional_int(s, "buffer_before_minutes", entry, 0) or 0,
        buffer_after_minutes=p.optional_int(s, "buffer_after_minutes", entry, 0) or 0,
        description=str(s.get("description", "")),
        in_villa=bool(s.get("in_villa", False)),
        aliases=tuple(str(a) for a in s.get("aliases") or ()),
        translations=_translations(p, s, entry),
        rebook_days=_rebook_days(p, s, entry),
        payment_policy=parse_payment(s.get("payment"), lambda reason: p.fail(entry, reason)),
    )


def _rebook_days(p: _Parser, s: dict, entry: str) -> Optional[int]:
    days = p.optional_int(s, "rebook_days", entry, None, 1)
    if days is not None and days > 365:
        raise p.fail(entry, f"rebook_days must be at most 365, got {days}")
    return days


def _review_url(p: _Parser, value: Any, entry: str) -> Optional[str]:
    if value is None:
        return None
    if not isinstance(value, str) or not value.startswith("https://") or len(value) > 500 \
            or any(c.isspace() for c in value):
        raise p.fail(entry, f"review_url must be an https:// link, got {value!r}")
    return value


def _language(p: _Parser, value: Any, entry: str) -> str:
    if value not in LANGUAGES:
        raise p.fail(entry, f"language must be one of {', '.join(LANGUAGES)}, got {value!r}")
    return value


def _translations(p: _Parser, item: dict, entry: str) -> tuple[tuple[str, str, str], ...]:
    """``translations: {id: {name: ..., description: ...}}`` as (language, name, description)."""
    raw = item.get("translations") or {}
    if not isinstance(raw, dict):
        raise p.fail(entry, "translations must map a language to its name and description")
    found = []
    for language, fields in raw.items():
        _language(p, language, f"{entry}.translations")
        if not isinstance(fields, dict) or not all(
                isinstance(fields.get(k, ""), str) for k in ("name", "description")):
            raise p.fail(entry, f"translations.{language} must have a text name/description")
        found.append((language, fields.get("name", "")[:200], fields.get("description", "")[:500]))
    return tuple(found)


def _parse_staff(p: _Parser, st: Any, bid: str, parent: str, catalog: Catalog) -> Staff:
    entry = f"{parent}.staff[{st.get('id', '?') if isinstance(st, dict) else '?'}]"
    staff_id = p.require(st, "id", entry, str)
    _unique(p, catalog.staff, staff_id, entry)
    service_ids = tuple(p.require(st, "services", entry, list))
    for sid in service_ids:
        service = catalog.services.get(sid)
        if service is None or service.business_id != bid:
            raise p.fail(entry, f"unknown service '{sid}' referenced")
    hours_raw = p.require(st, "weekly_hours", entry, dict)
    weekly: dict[str, tuple[TimeRange, ...]] = {}
    for day, ranges in hours_raw.items():
        if day not in WEEKDAYS:
            raise p.fail(entry, f"unknown weekday {day!r} in weekly_hours (use {', '.join(WEEKDAYS)})")
        weekly[day] = p.ranges(ranges, f"{entry}.weekly_hours.{day}")
    breaks = []
    for br in st.get("breaks") or []:
        br_entry = f"{entry}.breaks"
        days = tuple(br.get("days") or ()) if isinstance(br, dict) else ()
        for d in days:
            if d not in WEEKDAYS:
                raise p.fail(br_entry, f"unknown weekday {d!r}")
        rng = p.time_range(p.require(br, "time", br_entry, (str, list)), br_entry)
        breaks.append(Break(rng, days))
    for i, first in enumerate(breaks):
        for second in breaks[i + 1:]:
            shared = set(first.days or WEEKDAYS) & set(second.days or WEEKDAYS)
            (a0, a1), (b0, b1) = first.range.minutes(), second.range.minutes()
            if shared and a0 < b1 and b0 < a1:
                raise p.fail(f"{entry}.breaks", f"breaks {_fmt(first.range)} and "
                             f"{_fmt(second.range)} overlap on {', '.join(sorted(shared))}")
    overrides = {
        p.day(d, f"{entry}.overrides"): p.ranges(r, f"{entry}.overrides.{d}")
        for d, r in (st.get("overrides") or {}).items()
    }
    time_off = {
        p.day(d, f"{entry}.time_off"): p.ranges(r, f"{entry}.time_off.{d}")
        for d, r in (st.get("time_off") or {}).items()
    }
    closed = frozenset(p.day(d, f"{parent}.closures") for d in catalog.raw_closures.get(bid, ()))
    return Staff(
        id=staff_id,
        business_id=bid,
        name=p.require(st, "name", entry, str),
        service_ids=service_ids,
        weekly_hours=weekly,
        breaks=tuple(breaks),
        days_off=frozenset(p.day(d, f"{entry}.days_off") for d in st.get("days_off") or ())
        | closed,
        overrides=overrides,
        time_off=time_off,
    )


def _parse_villa(p: _Parser, v: Any, catalog: Catalog) -> Villa:
    entry = f"villas[{v.get('id', '?') if isinstance(v, dict) else '?'}]"
    vid = p.require(v, "id", entry, str)
    _unique(p, catalog.villas, vid, entry)
    business_ids = tuple(p.require(v, "businesses", entry, list))
    for bid in business_ids:
        if bid not in catalog.businesses:
            raise p.fail(entry, f"unknown business '{bid}' referenced")
    share = p.require(v, "share", entry, dict)
    percent = p.optional_int(share, "percent", entry, None)
    flat = p.optional_int(share, "flat", entry, None)
    if (percent is None) == (flat is None):
        raise p.fail(entry, "share must give exactly one of 'percent' or 'flat'")
    if percent is not None and percent > 100:
        raise p.fail(entry, f"share percent must be at most 100, got {percent}")
    if flat is not None and flat > MAX_PRICE:
        raise p.fail(entry, f"share flat must be at most {MAX_PRICE}, got {flat}")
    return Villa(vid, p.require(v, "name", entry, str), business_ids, percent, flat,
                 p.payout(v.get("payout"), entry))


def load_seed_files(paths: Iterable[Path]) -> Catalog:
    """Read and validate seed YAML files (merged in order) into one catalog."""
    merged: dict[str, list] = {"businesses": [], "villas": []}
    source = []
    for path in paths:
        source.append(str(path))
        try:
            raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise SeedDataError(str(path), "<yaml>", f"not valid YAML: {exc}") from None
        if not isinstance(raw, dict):
            raise SeedDataError(str(path), "<top>", "the file must hold a mapping")
        # Validate each file on its own first so the error names the right file.
        for key in ("businesses", "villas"):
            merged[key].extend(raw.get(key) or [])
        parse_catalog({"businesses": merged["businesses"], "villas": merged["villas"]}, str(path))
    return parse_catalog(merged, ", ".join(source))


from booking.catalog_store import CatalogRepository  # noqa: E402,F401  (the stored catalog)
