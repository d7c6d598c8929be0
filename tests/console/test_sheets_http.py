"""The Google Sheets settings page over real HTTP: the console as its own process with a
service account whose token endpoint and Sheets API are the local stand-in; the owner connects
a spreadsheet, "Sync now" puts a booking in it, the page shows the sync; staff and forged
posts are refused."""
from __future__ import annotations

import json
import os
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Callable
from unittest import mock

import pytest

from booking.bookings import BookingRequest, BookingService
from booking.catalog import CatalogRepository
from booking.sheets import HEADER
from tests.console.http_support import SALON, SPA, ConsoleServer, login_csrf, start_console
from tests.conftest import seed_weekday_ahead
from tests.sheets_stub import CLIENT_EMAIL, SheetsStub, service_account_info, throwaway_key

SHEET_ID = "1SheetsStubSpreadsheet_for-console-tests"


def _weekday_ahead() -> datetime:
    """11:00 Bali (03:00 UTC) on a weekday three or more days ahead (Wayan works then)."""
    day = seed_weekday_ahead(3)
    return datetime(day.year, day.month, day.day, 3, 0, tzinfo=timezone.utc)


def eventually(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    """Poll ``check`` until it returns something truthy (fails the test after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, "the console never got there"
        time.sleep(0.05)  # polling another process's state, not ordering threads


@pytest.fixture(scope="module")
def stub():
    key = throwaway_key()
    server = SheetsStub(key.public_key())
    server.key = key
    server.add_spreadsheet(SHEET_ID)
    yield server
    server.close()


@pytest.fixture(scope="module")
def console(mongo_url, stub):
    """start_console with the service account in its environment (only for the start)."""
    extra = {"GOOGLE_SERVICE_ACCOUNT_JSON": json.dumps(service_account_info(stub.key,
                                                                            stub.token_uri)),
             "GOOGLE_SHEETS_API_URL": stub.url,
             "SHEETS_SYNC_SECONDS": "3600"}  # rounds only when kicked
    servers = start_console(mongo_url)
    with mock.patch.dict(os.environ, extra):
        server = next(servers)
    yield server
    servers.close()  # runs start_console's clean-up


def page_of(client, console: ConsoleServer, path: str = "/settings/sheets"):
    return client.get(f"{console.url}{path}", allow_redirects=False)


def test_the_owner_connects_a_sheet_and_sync_now_puts_the_booking_in_it(console, stub):
    client = console.login(f"owner@{SPA}")
    page = page_of(client, console)
    assert page.status_code == 200 and CLIENT_EMAIL in page.text
    assert 'id="not-configured"' not in page.text
    answer = client.post(f"{console.url}/settings/sheets", allow_redirects=False, data={
        "csrf": login_csrf(page.text),
        "spreadsheet_id": f"https://docs.google.com/spreadsheets/d/{SHEET_ID}/edit#gid=0",
        "sheet": "Bookings"})
    assert answer.status_code == 303
    entry = console.db.console_audit.find_one({"action": "sheets.connect"})
    assert entry["actor"] == f"owner@{SPA}" and entry["after"]["spreadsheet_id"] == SHEET_ID

    # the first sync (woken by connecting) checks access and writes the header
    eventually(lambda: console.db.sheets_links.find_one({"_id": SPA, "state": "ok"}))
    assert stub.rows(SHEET_ID) == [HEADER]
    core = BookingService(console.db, CatalogRepository(console.db).load())
    booking = core.create(BookingRequest("balinese-massage", _weekday_ahead(), "6281234000099",
                                         "Made Sheets", staff_id="wayan"))
    page = page_of(client, console)
    answer = client.post(f"{console.url}/settings/sheets/sync", allow_redirects=False,
                         data={"csrf": login_csrf(page.text)})
    assert answer.status_code == 303
    assert stub.wait_until(lambda s: any(r and r[0] == booking.code
                                         for r in s.rows(SHEET_ID)), timeout=20)
    row = next(r for r in stub.rows(SHEET_ID) if r[0] == booking.code)
    assert row[7:9] == ["Made Sheets", "6281234000099"] and len(stub.rows(SHEET_ID)) == 2

    def synced_page() -> Any:
        text = page_of(client, console).text
        return 'data-state="ok"' in text and "never" not in text and text
    text = eventually(synced_page)
    assert "Last synced" in text and 'id="last-synced"' in text and SHEET_ID in text

    other = console.login(f"owner@{SALON}")
    theirs = page_of(other, console)
    assert theirs.status_code == 200 and SHEET_ID not in theirs.text


def test_staff_cannot_see_or_change_the_sheets_settings(console):
    client = console.login("desk@spa")
    assert page_of(client, console).status_code == 403
    csrf = login_csrf(client.get(f"{console.url}/", allow_redirects=True).text)
    for path, data in (("/settings/sheets", {"spreadsheet_id": "z" * 30}),
                       ("/settings/sheets/disconnect", {}), ("/settings/sheets/sync", {})):
        answer = client.post(f"{console.url}{path}", data={"csrf": csrf, **data},
                             allow_redirects=False)
        assert answer.status_code == 403, path
    assert console.db.sheets_links.find_one({"spreadsheet_id": "z" * 30}) is None


def test_a_post_without_the_csrf_token_changes_nothing(console):
    client = console.login(f"owner@{SALON}")
    answer = client.post(f"{console.url}/settings/sheets", allow_redirects=False,
                         data={"spreadsheet_id": "y" * 30})
    assert answer.status_code == 403
    assert console.db.sheets_links.find_one({"_id": SALON}) is None


def test_a_bad_spreadsheet_id_is_refused_on_the_page(console):
    client = console.login(f"owner@{SALON}")
    page = page_of(client, console)
    answer = client.post(f"{console.url}/settings/sheets", allow_redirects=False, data={
        "csrf": login_csrf(page.text), "spreadsheet_id": "<script>x</script>"})
    assert answer.status_code == 400 and 'id="error"' in answer.text
    assert "<script>x</script>" not in answer.text
    assert console.db.sheets_links.find_one({"_id": SALON}) is None
