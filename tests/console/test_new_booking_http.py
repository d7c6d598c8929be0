"""A booking made at the desk over real HTTP: confirmed and paid at the spa, from now on (no
minimum notice), never on a taken time, a WhatsApp confirmation when a number is given."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from booking.catalog import CatalogRepository
from tests.console.http_support import SPA, ConsoleServer, login_csrf, start_console


@pytest.fixture(scope="module")
def console(mongo_url):
    yield from start_console(mongo_url)


def free_times(client, console: ConsoleServer, day, service="balinese-massage") -> list[str]:
    page = client.get(f"{console.url}/bookings/new", params={"service": service, "day": day})
    assert page.status_code == 200
    import re
    return re.findall(r'name="start" value="([^"]+)"', page.text), login_csrf(page.text)


def book(client, console, start, csrf, **fields):
    data = {"csrf": csrf, "service": "balinese-massage", "start": start, "name": "Made Walk-in",
            **fields}
    return client.post(f"{console.url}/bookings/new", data=data, allow_redirects=False)


def test_a_walk_in_with_a_number_is_confirmed_and_told_on_whatsapp(console):
    client = console.login("desk@spa")
    day = (datetime.now(timezone.utc) + timedelta(days=2, hours=8)).date()
    while day.weekday() == 6:  # Wayan, Made or Ketut work every day but Sunday... mostly
        day += timedelta(days=1)
    starts, csrf = free_times(client, console, day.isoformat())
    assert starts
    answer = book(client, console, starts[0], csrf, phone="0812-5550-1234", notes="first visit")
    assert answer.status_code == 303, answer.text[:400]
    code = answer.headers["location"].split("/bookings/")[1].split("?")[0]
    doc = console.db.bookings.find_one({"code": code})
    assert doc["status"] == "CONFIRMED" and doc["customer_id"] == "6281255501234"
    notice = console.db.booking_notices.find_one({"code": code})
    assert notice["kind"] == "booked" and notice["conversation"]["sender_id"] == "6281255501234"
    audit = console.db.console_audit.find_one({"action": "booked", "target": code})
    assert audit["actor"] == "desk@spa"
    # the same time again: everyone who does it is taken, or it goes to a colleague
    again = book(client, console, starts[0], csrf, staff="")
    taken = console.db.bookings.count_documents({"start": doc["start"], "status": "CONFIRMED",
                                                 "staff_id": doc["staff_id"]})
    assert taken == 1 and again.status_code in (303, 409)


def test_without_a_number_the_customer_is_one_of_its_own_and_nobody_is_messaged(console):
    client = console.login("desk@spa")
    day = (datetime.now(timezone.utc) + timedelta(days=3, hours=8)).date()
    starts, csrf = free_times(client, console, day.isoformat())
    answer = book(client, console, starts[-1], csrf)
    code = answer.headers["location"].split("/bookings/")[1].split("?")[0]
    doc = console.db.bookings.find_one({"code": code})
    assert doc["customer_id"].startswith("desk:")
    assert console.db.booking_notices.count_documents({"code": code}) == 0


def test_a_bad_number_another_business_staff_or_a_missing_name_is_refused(console):
    client = console.login("desk@spa")
    day = (datetime.now(timezone.utc) + timedelta(days=4, hours=8)).date()
    starts, csrf = free_times(client, console, day.isoformat())
    assert book(client, console, starts[0], csrf, phone="call me").status_code == 400
    assert book(client, console, starts[0], csrf, name="  ").status_code == 400
    assert book(client, console, starts[0], csrf, staff="putu").status_code == 404
    assert book(client, console, "soon", csrf).status_code == 400
    salon = next(s.id for s in CatalogRepository(console.db).load().services_of(
        "canggu-glow-salon"))
    assert book(client, console, starts[0], csrf, service=salon).status_code == 404
    assert client.get(f"{console.url}/bookings/new",
                      params={"service": "balinese-massage", "staff": "putu"}).status_code == 404
