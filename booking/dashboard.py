"""What a business's "Numbers" page shows for a period of local days: bookings per day by
status, revenue and its split, utilisation per staff member, the funnel against its targets,
the money tables and the bookings as CSV. Plain data over MongoDB, no web.

A period is local days ``first..last`` (both included) in the business time zone; it covers
the UTC instants ``[first 00:00, last + 1 day 00:00)`` local.

Revenue rule. What a booking brings counts once, split with ``booking.split.split_payment``
(so vendor + villa + platform add up exactly to the total, as in the payouts):

- *paid online*: what its paying payment (``paid_by``) took (the price, or a deposit:
  ``amount_due``), when that payment was PAID in the period (``paid_at``, the same query as
  ``booking.analytics.payment_figures``) and the booking still stands paid by it (CONFIRMED,
  COMPLETED or NO_SHOW, or cancelled by the customer after the window: the deposit is kept);
  it counts on the local day of the payment. A payment whose booking was cancelled and refunded
  since is a refund owed, not revenue;
- *paid at the venue*: the rest of the price of a COMPLETED booking (all of it without an
  online payment, as at a business without up-front payment; the balance after a deposit); it
  counts on the local day the booking started.
"""
from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Optional

from pymongo.database import Database

from booking.analytics import Funnel, PaymentFigures, funnel, payment_figures
from booking.availability import local_days, working_windows
from booking.catalog import Catalog
from booking.db import with_retries
from booking.errors import ValidationError
from booking.models import (BOOKED_STATUSES, CANCELLED, COMPLETED, CONFIRMED, NO_SHOW,
                            NOT_BOOKINGS, Business,
                            whatsapp_number_of)
from booking.split import Split, split_payment

logger = logging.getLogger(__name__)

DEFAULT_DAYS = 30
MAX_DAYS = 366
STANDS_PAID = (CONFIRMED, COMPLETED, NO_SHOW)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet may run as a formula
CSV_HEADER = ("code", "date", "start", "end", "status", "service", "staff", "customer name",
              "customer phone", "villa", "price", "paid", "paid online", "arrived", "notes")


@dataclass(frozen=True)
class Period:
    """Local days ``first..last``, both included."""

    first: date
    last: date

    @property
    def days(self) -> list[date]:
        """Every day of the period."""
        return local_days(self.first, self.last)

    def bounds(self, business: Business) -> tuple[datetime, datetime]:
        """The period as UTC instants ``[start, end)`` in the business time zone."""
        start = datetime.combine(self.first, time(), business.tz)
        end = datetime.combine(self.last + timedelta(days=1), time(), business.tz)
        return start.astimezone(timezone.utc), end.astimezone(timezone.utc)


def _day_or_none(raw: Optional[str]) -> Optional[date]:
    try:
        day = date.fromisoformat((raw or "").strip()[:10])
    except ValueError:
        return None
    return day if 1971 <= day.year <= 9998 else None  # local midnight stays representable


def parse_period(raw_first: Optional[str], raw_last: Optional[str], today: date) -> Period:
    """The period asked for (``YYYY-MM-DD`` texts): a missing or unreadable ``last`` is today,
    a missing or unreadable ``first`` is ``DEFAULT_DAYS`` days up to ``last``.

    Raises:
        ValidationError: the period ends before it starts, or is longer than ``MAX_DAYS``.
    """
    last = _day_or_none(raw_last) or today
    first = _day_or_none(raw_first) or last - timedelta(days=DEFAULT_DAYS - 1)
    if last < first:
        raise ValidationError("The period ends before it starts: choose a 'to' date on or "
                              "after the 'from' date.")
    length = (last - first).days + 1
    if length > MAX_DAYS:
        raise ValidationError(f"A period can be at most {MAX_DAYS} days long; this one has "
                              f"{length} days.")
    return Period(first, last)


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)  # pymongo: naive


def _local_day(moment: datetime, business: Business) -> date:
    return _utc(moment).astimezone(business.tz).date()


def _bookings(db: Database, business: Business, period: Period,
              **query: Any) -> list[dict[str, Any]]:
    start, end = period.bounds(business)
    query.setdefault("status", {"$nin": list(NOT_BOOKINGS)})  # waiting-list offers: nobody's
    return with_retries(lambda: list(db.bookings.find(
        {"business_id": business.id, "start": {"$gte": start, "$lt": end}, **query},
        {"cells": 0, "history": 0}).sort("start", 1)))


# ----------------------------------------------------------------- bookings per day
def bookings_per_day(db: Database, business: Business, period: Period) -> dict[str, list[int]]:
    """Per status, the number of bookings starting on each day of the period (in the order of
    ``period.days``); statuses without bookings are left out."""
    index = {day: i for i, day in enumerate(period.days)}
    counts: dict[str, list[int]] = {}
    for doc in _bookings(db, business, period):
        row = counts.setdefault(doc["status"], [0] * len(index))
        row[index[_local_day(doc["start"], business)]] += 1
    return counts


# ----------------------------------------------------------------- revenue
@dataclass(frozen=True)
class Revenue:
    """Revenue of a period (see the module docstring) and its split, in all and per day."""

    total: Split
    bookings: int
    by_day: dict[date, Split]


def _add(a: Split, b: Split) -> Split:
    return Split(a.amount + b.amount, a.platform + b.platform, a.villa + b.villa,
                 a.vendor + b.vendor)


def revenue(db: Database, catalog: Catalog, business: Business, period: Period) -> Revenue:
    """Revenue of ``business`` in ``period`` (rule in the module docstring)."""
    start, end = period.bounds(business)
    paid_at = {p["_id"]: p["paid_at"] for p in with_retries(lambda: list(db.payments.find(
        {"business_id": business.id, "state": "PAID", "paid_at": {"$gte": start, "$lt": end}},
        {"paid_at": 1})))}
    online = with_retries(lambda: list(db.bookings.find(
        {"business_id": business.id, "paid_by": {"$in": list(paid_at)},
         "$or": [{"status": {"$in": list(STANDS_PAID)}},
                 {"status": CANCELLED, "payment_kept": True}]},
        {"price": 1, "amount_due": 1, "villa_id": 1, "paid_by": 1})))
    at_venue = _bookings(db, business, period, status=COMPLETED)
    zero = Split(0, 0, 0, 0)
    by_day = {day: zero for day in period.days}
    parts = [(paid_at[d["paid_by"]], d, _paid_online(d)) for d in online]
    parts += [(d["start"], d, d["price"] - (_paid_online(d) if d.get("paid_by") else 0))
              for d in at_venue]
    for when, doc, amount in parts:
        if amount <= 0:
            continue
        villa = catalog.villas.get(doc["villa_id"]) if doc.get("villa_id") else None
        day = _local_day(when, business)
        by_day[day] = _add(by_day[day], split_payment(amount, business, villa))
    total = zero
    for part in by_day.values():
        total = _add(total, part)
    counted = {d["_id"] for d in online} | {d["_id"] for _, d, a in parts if a > 0}
    return Revenue(total, len(counted), by_day)


def _paid_online(doc: dict[str, Any]) -> int:
    """What a booking's payment took: a deposit, or (before deposits) the price."""
    due = doc.get("amount_due")
    return doc["price"] if due is None else due


# ----------------------------------------------------------------- utilisation
@dataclass(frozen=True)
class Utilisation:
    """A staff member's booked minutes within their working minutes over the period."""

    staff_id: str
    name: str
    booked_minutes: int
    working_minutes: int

    @property
    def fraction(self) -> Optional[float]:
        """Booked / working (``None`` for someone who did not work in the period)."""
        return self.booked_minutes / self.working_minutes if self.working_minutes else None


def utilisation(db: Database, catalog: Catalog, business: Business,
                period: Period) -> list[Utilisation]:
    """Per staff member (by name): minutes of bookings that hold time (pending payment,
    confirmed, completed; service time without buffers) inside their working hours (hours
    minus breaks, ``working_windows``), over the working minutes of the period."""
    staff = sorted((s for s in catalog.staff.values() if s.business_id == business.id),
                   key=lambda s: s.name)
    docs = _bookings(db, business, period, status={"$in": list(BOOKED_STATUSES)})
    result = []
    for member in staff:
        windows = {day: working_windows(member, day, business.tz) for day in period.days}
        working = sum((b - a).total_seconds() for day in windows.values() for a, b in day)
        booked = 0.0
        for doc in (d for d in docs if d["staff_id"] == member.id):
            start, end = _utc(doc["start"]), _utc(doc["end"])
            for day in {_local_day(start, business), _local_day(end, business)}:
                for a, b in windows.get(day, ()):
                    booked += max(0.0, (min(b, end) - max(a, start)).total_seconds())
        result.append(Utilisation(member.id, member.name, round(booked / 60),
                                  round(working / 60)))
    return result


# ----------------------------------------------------------------- funnel
@dataclass(frozen=True)
class Metric:
    """One funnel figure of ``booking.analytics.Funnel`` against its target."""

    key: str
    label: str
    value: Optional[float]
    target: float
    above: bool  # the value must be above the target (else below)
    unit: str  # "ratio" or "seconds"

    @property
    def met(self) -> Optional[bool]:
        """Whether the value beats its target (``None`` without data)."""
        if self.value is None:
            return None
        return self.value > self.target if self.above else self.value < self.target


TARGETS = (  # key of ``Funnel``, label, target, above, unit
    ("slot_selection_rate", "Slot selection", 0.95, True, "ratio"),
    ("confirmation_rate", "Confirmation", 0.98, True, "ratio"),
    ("session_expiration_rate", "Session expiration", 0.05, False, "ratio"),
    ("conflict_rate", "Slot conflicts", 0.02, False, "ratio"),
    ("avg_selection_to_confirmation_s", "Time to confirm", 30.0, False, "seconds"),
)


def funnel_metrics(figures: Funnel) -> list[Metric]:
    """The five funnel figures with their targets."""
    return [Metric(key, label, getattr(figures, key), target, above, unit)
            for key, label, target, above, unit in TARGETS]


# ----------------------------------------------------------------- payments
def payments(db: Database, business: Business, period: Period) -> list[dict[str, Any]]:
    """Payment attempts of the period, newest first: PAID ones by when they were paid (as in
    ``payment_figures``), the others by when they were created; each with ``when``."""
    start, end = period.bounds(business)
    span = {"$gte": start, "$lt": end}
    docs = with_retries(lambda: list(db.payments.find(
        {"business_id": business.id, "$or": [{"state": "PAID", "paid_at": span},
                                             {"state": {"$ne": "PAID"}, "created_at": span}]},
        {"_id": 0, "code": 1, "attempt": 1, "amount": 1, "state": 1, "paid_at": 1,
         "created_at": 1})))
    for doc in docs:
        doc["when"] = _utc(doc["paid_at"] if doc["state"] == "PAID" else doc["created_at"])
    return sorted(docs, key=lambda d: d["when"], reverse=True)


# ----------------------------------------------------------------- the page
@dataclass(frozen=True)
class Dashboard:
    """Everything the page shows for one business and period."""

    business: Business
    period: Period
    per_day: dict[str, list[int]]
    revenue: Revenue
    utilisation: list[Utilisation]
    funnel: Funnel
    metrics: list[Metric]
    payments: list[dict[str, Any]]
    money: PaymentFigures  # paid count and amount, failed payouts, refunds owed

    @property
    def booking_count(self) -> int:
        """Bookings starting in the period, whatever their status."""
        return sum(sum(row) for row in self.per_day.values())


def funnel_of(db: Database, business: Business, period: Period) -> Funnel:
    """``booking.analytics.funnel`` over the period (business time)."""
    return funnel(db, business.id, *period.bounds(business))


def dashboard(db: Database, catalog: Catalog, business_id: str, period: Period) -> Dashboard:
    """The figures of ``business_id`` over ``period``."""
    business = catalog.business(business_id)
    figures = funnel_of(db, business, period)
    return Dashboard(business, period, bookings_per_day(db, business, period),
                     revenue(db, catalog, business, period),
                     utilisation(db, catalog, business, period), figures,
                     funnel_metrics(figures), payments(db, business, period),
                     payment_figures(db, business.id, *period.bounds(business)))


# ----------------------------------------------------------------- CSV
def safe_cell(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_rows(db: Database, catalog: Catalog, business_id: str,
             period: Period) -> list[list[Any]]:
    """One row per booking of the business starting in the period (``CSV_HEADER`` order),
    local times; the phone is the WhatsApp number (digits only), blank for other channels."""
    business = catalog.business(business_id)
    tz = business.tz

    def local(moment: Optional[datetime], fmt: str) -> str:
        return _utc(moment).astimezone(tz).strftime(fmt) if moment else ""

    rows = []
    for doc in _bookings(db, business, period):
        service = catalog.services.get(doc["service_id"])
        member = catalog.staff.get(doc["staff_id"])
        villa = catalog.villas.get(doc["villa_id"]) if doc.get("villa_id") else None
        customer = str(doc.get("customer_id") or "")
        rows.append([safe_cell(v) for v in (
            doc["code"], local(doc["start"], "%Y-%m-%d"), local(doc["start"], "%H:%M"),
            local(doc["end"], "%H:%M"), doc["status"],
            service.name if service else doc["service_id"],
            member.name if member else doc["staff_id"], doc.get("customer_name") or "",
            whatsapp_number_of(customer), villa.name if villa else "",
            doc["price"], "yes" if doc.get("paid_by") else "no",
            _paid_online(doc) if doc.get("paid_by") else 0,  # a deposit, or the price
            local(doc.get("arrived_at"), "%Y-%m-%d %H:%M"), doc.get("notes") or "")])
    return rows


def bookings_csv(db: Database, catalog: Catalog, business_id: str, period: Period) -> str:
    """The bookings of the period as CSV text (header first)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    writer.writerows(csv_rows(db, catalog, business_id, period))
    return out.getvalue()
