"""The console over real HTTP (its own process, a real mongod): signing in, what a page trusts,
CSRF, lockout, expiry, scoping to the signed-in business."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from booking.bookings import BookingRequest, BookingService
from booking.catalog import CatalogRepository
from booking.models import CONFIRMED
from console.sessions import token_hash
from tests.conftest import seed_weekday_ahead
from tests.console.http_support import (PASSWORD, SALON, SPA, ConsoleServer, login_csrf,
                                        post_login, start_console)

BALI_DAY = seed_weekday_ahead(3)


@pytest.fixture(scope="module")
def console(mongo_url):
    yield from start_console(mongo_url)


@pytest.fixture(scope="module")
def bookings(console: ConsoleServer):
    """One booking at each business, three or more days ahead at 11:00 Bali (03:00 UTC)."""
    core = BookingService(console.db, CatalogRepository(console.db).load())
    start = datetime(BALI_DAY.year, BALI_DAY.month, BALI_DAY.day, 3, 0, tzinfo=timezone.utc)
    ours = core.create(BookingRequest("balinese-massage", start, "6281234000001", "Ayu Lestari",
                                      staff_id="wayan"))
    salon_service = next(s.id for s in core.catalog.services_of(SALON))
    theirs = core.create(BookingRequest(salon_service, start, "6281234000002", "Secret Sari"))
    return ours, theirs


def test_signing_in_sets_a_strict_httponly_session_cookie(console):
    client = console.session()
    status, _ = post_login(console, client, f"owner@{SPA}", PASSWORD)
    assert status == 303
    cookie = next(c for c in client.cookies if c.name == "console_session")
    assert cookie.has_nonstandard_attr("HttpOnly")
    assert (cookie.get_nonstandard_attr("SameSite") or "").lower() == "strict"
    assert console.db.console_sessions.find_one({"_id": token_hash(cookie.value)})
    assert console.db.console_sessions.find_one({"_id": cookie.value}) is None
    page = client.get(f"{console.url}/", allow_redirects=True)
    assert page.status_code == 200 and "Ubud Serenity Spa" in page.text


def test_a_wrong_password_is_refused_and_pages_send_strangers_to_the_login(console):
    status, body = post_login(console, console.session(), f"owner@{SPA}", "not-the-password")
    assert status == 401 and "Wrong username or password." in body
    status, body = post_login(console, console.session(), "nobody@nowhere", "whatever-it-is")
    assert status == 401 and "Wrong username or password." in body
    answer = console.session().get(f"{console.url}/day/2026-12-01", allow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login?next=")


def test_the_login_form_needs_its_csrf_token_and_next_stays_on_the_site(console):
    client = console.session()
    client.get(f"{console.url}/login")
    answer = client.post(f"{console.url}/login", allow_redirects=False,
                         data={"username": f"owner@{SPA}", "password": PASSWORD})
    assert answer.status_code == 403
    form = client.get(f"{console.url}/login?next=//evil.example/x")
    answer = client.post(f"{console.url}/login", allow_redirects=False, data={
        "csrf": login_csrf(form.text), "username": f"owner@{SPA}", "password": PASSWORD,
        "next": "//evil.example/x"})
    assert answer.status_code == 303 and answer.headers["location"] == "/"


def test_todays_bookings_are_on_the_day_page_and_another_business_booking_is_404(console,
                                                                                  bookings):
    ours, theirs = bookings
    client = console.login(f"owner@{SPA}")
    day = client.get(f"{console.url}/day/{BALI_DAY.isoformat()}")
    assert ours.code in day.text and "Ayu Lestari" in day.text
    assert theirs.code not in day.text and "Secret Sari" not in day.text
    assert client.get(f"{console.url}/bookings/{ours.code}").status_code == 200
    other = client.get(f"{console.url}/bookings/{theirs.code}")
    assert other.status_code == 404 and "Secret Sari" not in other.text
    csrf = login_csrf(day.text)
    from booking.scheduler import ScheduledMessages

    scheduled = ScheduledMessages(console.db, lambda: CatalogRepository(console.db).load(),
                                  lambda: datetime.now(timezone.utc))
    scheduled.plan()  # their reminders exist: "send now" must not reach them
    assert scheduled.of_booking(theirs.code)
    for action in ("cancel", "notes", "no-show", "arrived", "move", "send-now"):
        answer = client.post(f"{console.url}/bookings/{theirs.code}/{action}",
                             data={"csrf": csrf, "notes": "x", "start": ours.start.isoformat()},
                             allow_redirects=False)
        assert answer.status_code == 404, action
    assert console.db.bookings.find_one({"code": theirs.code})["status"] == CONFIRMED
    assert not any(m.get("sent_early_at") for m in scheduled.of_booking(theirs.code))
    moving = client.get(f"{console.url}/day/{BALI_DAY.isoformat()}?move={theirs.code}")
    assert moving.status_code == 404


def test_a_post_without_the_csrf_token_or_from_another_site_changes_nothing(console, bookings):
    ours, _ = bookings
    client = console.login(f"owner@{SPA}")
    page = client.get(f"{console.url}/bookings/{ours.code}")
    answer = client.post(f"{console.url}/bookings/{ours.code}/notes", data={"notes": "forged"},
                         allow_redirects=False)
    assert answer.status_code == 403
    answer = client.post(f"{console.url}/bookings/{ours.code}/notes",
                         data={"notes": "forged", "csrf": login_csrf(page.text)},
                         headers={"Origin": "https://evil.example"}, allow_redirects=False)
    assert answer.status_code == 403
    assert console.db.bookings.find_one({"code": ours.code}).get("notes", "") != "forged"
    answer = client.post(f"{console.url}/bookings/{ours.code}/notes",
                         data={"notes": "likes it firm", "csrf": login_csrf(page.text)},
                         allow_redirects=False)
    assert answer.status_code == 303
    assert console.db.bookings.find_one({"code": ours.code})["notes"] == "likes it firm"
    entry = console.db.console_audit.find_one({"action": "notes", "target": ours.code})
    assert entry["actor"] == f"owner@{SPA}" and entry["after"]["notes"] == "likes it firm"


def test_repeated_wrong_passwords_lock_the_account_even_for_the_right_one(console):
    username = f"owner@{SALON}"
    for attempt in range(8):
        status, body = post_login(console, console.session(), username, f"wrong-{attempt}-xxxx")
        assert status == 401, (attempt, body[:300])
        # time passes between attempts (the growing wait after the third one)
        console.db.console_login_failures.update_many(
            {"username": username}, {"$set": {"last_at": datetime.now(timezone.utc)
                                              - timedelta(seconds=61)}})
    console.db.console_login_failures.update_many(
        {"username": username}, {"$set": {"last_at": datetime.now(timezone.utc)}})
    status, body = post_login(console, console.session(), username, PASSWORD)
    assert status == 429 and "locked" in body


def test_an_expired_session_goes_back_to_the_login_page(console):
    client = console.login("desk@spa")
    assert client.get(f"{console.url}/", allow_redirects=False).status_code == 303  # to today
    token = next(c.value for c in client.cookies if c.name == "console_session")
    console.db.console_sessions.update_one(
        {"_id": token_hash(token)},
        {"$set": {"expires_at": datetime.now(timezone.utc) - timedelta(seconds=1)}})
    answer = client.get(f"{console.url}/day/2026-12-01", allow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")


def test_signing_out_ends_the_session_in_the_database(console):
    client = console.login("desk@spa")
    page = client.get(f"{console.url}/day/2026-12-01")
    token = next(c.value for c in client.cookies if c.name == "console_session")
    answer = client.post(f"{console.url}/logout", data={"csrf": login_csrf(page.text)},
                         allow_redirects=False)
    assert answer.status_code == 303
    assert console.db.console_sessions.find_one({"_id": token_hash(token)}) is None


def test_pages_are_never_framed_cached_or_sniffed(console):
    answer = console.session().get(f"{console.url}/login")
    assert answer.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["x-content-type-options"] == "nosniff"


def test_the_week_lists_the_businesss_bookings_by_staff_member_and_day(console, bookings):
    ours, theirs = bookings
    client = console.login("desk@spa")
    week = client.get(f"{console.url}/week/{BALI_DAY.isoformat()}")
    assert week.status_code == 200
    assert f'data-code="{ours.code}"' in week.text and theirs.code not in week.text
    assert "Wayan" in week.text and "Putu" not in week.text
    assert client.get(f"{console.url}/week/not-a-date").status_code == 404
    wayan = client.get(f"{console.url}/week/{BALI_DAY.isoformat()}?staff=wayan")
    assert wayan.status_code == 200 and f'data-code="{ours.code}"' in wayan.text
    assert wayan.text.count('class="column"') == 7
    assert client.get(f"{console.url}/week/{BALI_DAY.isoformat()}?staff=putu").status_code == 404


def test_owners_read_their_own_audit_log_and_staff_cannot(console, bookings):
    ours, _ = bookings
    owner = console.login(f"owner@{SPA}")
    page = owner.get(f"{console.url}/audit")
    assert page.status_code == 200 and "likes it firm" in page.text
    from console.accounts import OWNER, Accounts
    Accounts(console.db, time_cost=1, memory_cost=8 * 1024, parallelism=1).create(
        SALON, "boss@salon", PASSWORD, OWNER)
    salon = console.login("boss@salon").get(f"{console.url}/audit")
    assert salon.status_code == 200 and "likes it firm" not in salon.text
    assert console.login("desk@spa").get(f"{console.url}/audit").status_code == 403


def test_a_deposit_booking_shows_its_terms(console):
    """The booking page says what was paid online, what is due at the visit and the window."""
    core = BookingService(console.db, CatalogRepository(console.db).load())
    start = datetime(BALI_DAY.year, BALI_DAY.month, BALI_DAY.day, 6, 0, tzinfo=timezone.utc)
    booking = core.create(BookingRequest("four-hands-massage", start, "6281234000009", "Dewi",
                                         staff_id="wayan"))
    page = console.login(f"owner@{SPA}").get(f"{console.url}/bookings/{booking.code}").text
    assert "Rp195.000 online, Rp455.000 at the visit" in page
    assert "free until 24 h before" in page


def test_the_console_serves_its_metrics_to_the_scraper_only(console, bookings):
    """/metrics after real page loads: this process's database operations are counted; a
    request through a proxy is refused; no booking code or name appears in it."""
    ours, _ = bookings
    client = console.login(f"owner@{SPA}")
    client.get(f"{console.url}/bookings/{ours.code}")
    answer = console.session().get(f"{console.url}/metrics")
    assert answer.status_code == 200 and "text/plain" in answer.headers["content-type"]
    assert "database_operations_total" in answer.text
    assert ours.code not in answer.text and "Ayu Lestari" not in answer.text
    proxied = console.session().get(f"{console.url}/metrics",
                                    headers={"X-Forwarded-For": "203.0.113.9"})
    assert proxied.status_code == 403
