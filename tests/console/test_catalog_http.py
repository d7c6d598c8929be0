"""The catalog edited over real HTTP (the console as its own process, a real mongod): services,
staff hours, blocked time; the seed's rules; owners only; the bot's offer follows at once."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from booking.bookings import BookingRequest, BookingService
from booking.catalog import CatalogRepository
from booking.runtime import CachedCatalog
from tests.console.http_support import SPA, ConsoleServer, login_csrf, start_console

THURSDAY = date(2026, 12, 10)  # Wayan works 09:00-18:00 with lunch 12:00-13:00


@pytest.fixture(scope="module")
def console(mongo_url):
    yield from start_console(mongo_url)


def core(console: ConsoleServer) -> BookingService:
    clock = lambda: datetime(2026, 12, 1, 0, 0, tzinfo=timezone.utc)  # noqa: E731
    return BookingService(console.db, CachedCatalog(console.db, check_seconds=0), clock=clock)


def csrf(client, console, path="/catalog") -> str:
    return login_csrf(client.get(f"{console.url}{path}").text)


def test_an_owner_adds_a_service_and_it_is_bookable_by_its_name(console):
    client = console.login(f"owner@{SPA}")
    answer = client.post(f"{console.url}/catalog/services/new", allow_redirects=False, data={
        "csrf": csrf(client, console, "/catalog/services/new"), "name": "Lava Shell Massage",
        "category": "massage", "duration_minutes": "75", "price": "520.000",
        "aliases": "lava shells, shell massage"})
    assert answer.status_code == 303, answer.text[:500]
    catalog = core(console).catalog
    service = catalog.service("lava-shell-massage")
    assert (service.price, service.duration_minutes) == (520000, 75)
    assert catalog.mentioned_service(SPA, "a lava shell massage tomorrow please")[0] == service
    entry = console.db.console_audit.find_one({"action": "service_saved"})
    assert entry["before"] is None and entry["after"]["name"] == "Lava Shell Massage"


def test_an_invalid_service_is_refused_with_the_seed_loaders_reason(console):
    client = console.login(f"owner@{SPA}")
    answer = client.post(f"{console.url}/catalog/services/balinese-massage", data={
        "csrf": csrf(client, console), "name": "Balinese Massage", "category": "massage",
        "duration_minutes": "0", "price": "350000"})
    assert answer.status_code == 400
    assert "duration_minutes must be positive, got 0" in answer.text
    assert CatalogRepository(console.db).load().service("balinese-massage").duration_minutes == 60


def test_staff_hours_are_edited_and_front_desk_accounts_cannot_edit_the_catalog(console):
    desk = console.login("desk@spa")
    assert desk.get(f"{console.url}/catalog").status_code == 403
    answer = desk.post(f"{console.url}/catalog/staff/wayan", data={
        "csrf": csrf(desk, console, "/day/2026-12-10"), "name": "Wayan"}, allow_redirects=False)
    assert answer.status_code == 403
    owner = console.login(f"owner@{SPA}")
    page = owner.get(f"{console.url}/catalog/staff/nyoman")
    assert 'value="09:00-17:00"' in page.text
    fields = {"csrf": login_csrf(page.text), "name": "Nyoman", "hours_mon": "10:00-16:00",
              "breaks": "12:30-13:15", "days_off": "", "overrides": ""}
    answer = owner.post(f"{console.url}/catalog/staff/nyoman", allow_redirects=False,
                        data={**fields, "services": ["natural-facial", "flower-bath"]})
    assert answer.status_code == 303, answer.text[:400]
    nyoman = core(console).catalog.staff_member("nyoman")
    assert set(nyoman.weekly_hours) == {"mon"} and nyoman.service_ids == ("natural-facial",
                                                                          "flower-bath")


def test_blocking_an_afternoon_takes_its_times_out_of_the_offer_and_back(console):
    client = console.login("desk@spa")  # the front desk may block time
    engine = core(console)

    def afternoon() -> list[datetime]:
        return [s.start for s in engine.free_slots("hot-stone-massage", THURSDAY,
                                                   staff_id="wayan")
                if s.start.astimezone(engine.catalog.business(SPA).tz).hour >= 13]

    assert afternoon()
    token = csrf(client, console, f"/day/{THURSDAY}")
    answer = client.post(f"{console.url}/day/{THURSDAY}/block", allow_redirects=False,
                         data={"csrf": token, "staff": "wayan", "from": "13:00", "to": "18:00"})
    assert answer.status_code == 303
    assert afternoon() == []
    assert "blocked" in client.get(f"{console.url}/day/{THURSDAY}").text
    client.post(f"{console.url}/day/{THURSDAY}/unblock", data={"csrf": token, "staff": "wayan"})
    assert afternoon()


def test_blocking_hours_that_hold_a_booking_is_refused(console):
    engine = core(console)
    day = THURSDAY + timedelta(days=7)
    slot = next(s for s in engine.free_slots("hot-stone-massage", day, staff_id="wayan")
                if s.start.astimezone(engine.catalog.business(SPA).tz).hour == 14)
    booking = engine.create(BookingRequest("hot-stone-massage", slot.start, "6281200000077",
                                           "Gede", staff_id="wayan"))
    client = console.login("desk@spa")
    answer = client.post(f"{console.url}/day/{day}/block", data={
        "csrf": csrf(client, console, f"/day/{day}"), "staff": "wayan", "from": "13:00",
        "to": "18:00"})
    assert answer.status_code == 400 and booking.code in answer.text
    assert not engine.catalog.staff_member("wayan").time_off.get(day)


def test_another_business_staff_is_unknown(console):
    client = console.login(f"owner@{SPA}")
    assert client.get(f"{console.url}/catalog/staff/putu").status_code == 404
    answer = client.post(f"{console.url}/day/{THURSDAY}/block", data={
        "csrf": csrf(client, console), "staff": "putu", "from": "13:00", "to": "18:00"})
    assert answer.status_code == 404


def test_a_villa_share_is_edited_only_for_a_villa_of_this_business_alone(console):
    client = console.login(f"owner@{SPA}")
    token = csrf(client, console)
    answer = client.post(f"{console.url}/catalog/villas/villa-sawah-ubud", allow_redirects=False,
                         data={"csrf": token, "kind": "percent", "amount": "20"})
    assert answer.status_code == 303
    assert CatalogRepository(console.db).load().villa("villa-sawah-ubud").share_percent == 20
    refused = client.post(f"{console.url}/catalog/villas/villa-sawah-ubud",
                          data={"csrf": token, "kind": "percent", "amount": "120"})
    assert refused.status_code == 400 and "share percent must be at most 100" in refused.text
    shared = client.post(f"{console.url}/catalog/villas/canggu-beach-villa",
                         data={"csrf": token, "kind": "flat", "amount": "1"})
    assert shared.status_code == 400 and "another business" in shared.text
    assert CatalogRepository(console.db).load().villa("canggu-beach-villa").share_flat == 50000
    salon = console.login("owner@canggu-glow-salon")
    other = salon.post(f"{console.url}/catalog/villas/villa-sawah-ubud",
                       data={"csrf": csrf(salon, console), "kind": "percent", "amount": "1"})
    assert other.status_code == 404


def test_odd_input_gets_a_clear_answer_never_a_500(console):
    client = console.login(f"owner@{SPA}")
    token = csrf(client, console)
    decimal = client.post(f"{console.url}/catalog/villas/villa-sawah-ubud",
                          data={"csrf": token, "kind": "percent", "amount": "7.5"})
    assert decimal.status_code == 400 and "whole number" in decimal.text
    assert CatalogRepository(console.db).load().villa("villa-sawah-ubud").share_percent != 75
    taken = client.post(f"{console.url}/catalog/services/new", data={
        "csrf": token, "name": "Flower Bath", "category": "body", "duration_minutes": "30",
        "price": "1"})
    assert taken.status_code == 400 and "exists already" in taken.text
    assert CatalogRepository(console.db).load().service("flower-bath").price == 250000
    huge = client.post(f"{console.url}/catalog/services/flower-bath", data={
        "csrf": token, "rev": "abc", "name": "Flower Bath", "category": "body",
        "duration_minutes": "30", "price": "99999999999999999999"})
    assert huge.status_code == 400
    long = client.post(f"{console.url}/catalog/services/flower-bath", data={
        "csrf": token, "name": "Flower Bath", "category": "body",
        "duration_minutes": "99999", "price": "250.000"})
    assert long.status_code == 400 and "at most 1440" in long.text
    for path in ("/day/0001-01-01", "/week/9999-12-31", "/day/2026-02-30"):
        assert client.get(f"{console.url}{path}").status_code == 404, path
    assert client.get(f"{console.url}/bookings/new?day=0001-01-01").status_code == 200
    engine = core(console)
    slot = engine.free_slots("hot-stone-massage", THURSDAY + timedelta(days=14))[0]
    booking = engine.create(BookingRequest("hot-stone-massage", slot.start, "6281200000078",
                                           "Gede"))
    moved = client.post(f"{console.url}/bookings/{booking.code}/move", data={
        "csrf": token, "start": "0001-01-01T00:00:00+08:00"})
    assert moved.status_code == 400
