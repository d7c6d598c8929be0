"""The Google Sheets sync on a real mongod against the local Sheets stand-in: one row per booking
keyed by its code, updates in place, nothing written twice, Google's errors on the link, the
cursor held back until a write succeeds, and the background worker."""
from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta, timezone

import pytest

from booking.bookings import BookingRequest, BookingService
from booking.errors import ValidationError
from booking.models import CANCELLED
from booking.retry import Backoff
from booking.sheets import HEADER, SheetsSync, SheetsWorker, spreadsheet_id_from
from booking.sheets_client import client_factory_from_env
from tests.sheets_stub import CLIENT_EMAIL, SheetsStub, service_account_info, throwaway_key

SPA, SALON = "ubud-serenity-spa", "canggu-glow-salon"
TUESDAY_10_BALI = datetime(2026, 11, 24, 2, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def stub():
    """The stand-in, with the throwaway key of its service account (``stub.key``)."""
    key = throwaway_key()
    server = SheetsStub(key.public_key())
    server.key = key
    yield server
    server.close()


@pytest.fixture(scope="module")
def factory(stub):
    """The client from the environment a deployment would have, retries without waiting."""
    env = {"GOOGLE_SERVICE_ACCOUNT_JSON": json.dumps(service_account_info(stub.key,
                                                                          stub.token_uri)),
           "GOOGLE_SHEETS_API_URL": stub.url}
    return client_factory_from_env(env, policy=Backoff(base=0.001, attempts=3))


def new_sheet(stub: SheetsStub, shared: bool = True, tabs: tuple[str, ...] = ("Bookings",)) -> str:
    sheet_id = "1" + secrets.token_urlsafe(30)[:40]
    stub.add_spreadsheet(sheet_id, tabs, shared)
    return sheet_id


def calls(stub: SheetsStub, sheet_id: str) -> list[tuple[str, str]]:
    """(method, what) of the API requests to one spreadsheet: read / batchUpdate / append."""
    out = []
    for method, path, _ in list(stub.calls):
        if f"/spreadsheets/{sheet_id}/" in path:
            kind = ("batchUpdate" if path.endswith(":batchUpdate") else
                    "append" if path.endswith(":append") else "read")
            out.append((method, kind))
    return out


@pytest.fixture
def core(db, seed_catalog, clock):
    return BookingService(db, seed_catalog, clock=clock)


@pytest.fixture
def sync(db, factory, clock, seed_catalog):
    syncing = SheetsSync(db, factory, clock, catalog=seed_catalog)
    syncing.ensure_indexes()
    return syncing


def book(core, start=TUESDAY_10_BALI, customer="6281234500001", name="Ayu Lestari",
         service="balinese-massage", staff="wayan", notes=""):
    return core.create(BookingRequest(service, start, customer, name, staff_id=staff, notes=notes))


def by_code(rows):
    return {row[0]: row for row in rows[1:]}


def test_the_first_sync_writes_the_header_and_one_row_per_booking(core, sync, stub, clock):
    sheet_id = new_sheet(stub)
    first = book(core, notes="=HYPERLINK(\"http://evil.example\")")
    second = book(core, TUESDAY_10_BALI + timedelta(hours=3), customer="web:visitor-7",
                  name="Kadek")
    sync.connect(SPA, sheet_id)
    assert sync.status(SPA)["state"] == "pending"
    assert sync.sync_business(SPA) == 2
    rows = stub.rows(sheet_id)
    assert rows[0] == HEADER and len(rows) == 3
    assert by_code(rows)[first.code] == [
        first.code, first.status, "2026-11-24", "10:00", "11:00", "Balinese Massage", "Wayan",
        "Ayu Lestari", "6281234500001", "", 350000, "", "=HYPERLINK(\"http://evil.example\")",
        first.created_at.isoformat()]
    assert by_code(rows)[second.code][2:4] == ["2026-11-24", "13:00"]
    assert by_code(rows)[second.code][8] == ""  # not a phone number
    assert calls(stub, sheet_id) == [("GET", "read"), ("POST", "batchUpdate"), ("POST", "append")]
    append_query = next(q for m, p, q in stub.calls if sheet_id in p and p.endswith(":append"))
    assert append_query["valueInputOption"] == ["RAW"]  # a formula stays text
    status = sync.status(SPA)
    assert status["state"] == "ok" and status["last_synced_at"] == clock.now
    assert status["last_error"] == ""
    assert set(stub.granted_scopes) == {"https://www.googleapis.com/auth/spreadsheets"}


def test_a_changed_booking_updates_its_own_row_and_no_change_writes_nothing(core, sync, stub,
                                                                             clock):
    sheet_id = new_sheet(stub)
    kept, cancelled = book(core), book(core, TUESDAY_10_BALI + timedelta(hours=3))
    sync.connect(SPA, sheet_id)
    assert sync.sync_business(SPA) == 2
    before = len(calls(stub, sheet_id))
    assert sync.sync_business(SPA) == 0  # the same bookings, still inside the overlap
    assert len(calls(stub, sheet_id)) == before
    clock.now += timedelta(minutes=1)
    core.cancel(cancelled.code)
    assert sync.sync_business(SPA) == 1
    rows = stub.rows(sheet_id)
    assert len(rows) == 3 and by_code(rows)[cancelled.code][1] == CANCELLED
    assert by_code(rows)[kept.code][1] == kept.status
    assert calls(stub, sheet_id)[before:] == [("GET", "read"), ("POST", "batchUpdate")]
    assert sync.sync_business(SPA) == 0 and len(calls(stub, sheet_id)) == before + 2


def test_a_change_stamped_just_before_the_cursor_is_still_written(core, sync, stub, clock, db):
    sheet_id = new_sheet(stub)
    late = book(core)
    clock.now += timedelta(seconds=3)
    book(core, TUESDAY_10_BALI + timedelta(hours=3))
    sync.connect(SPA, sheet_id)
    assert sync.sync_business(SPA) == 2
    # A desk change that committed after the sync, stamped a second before the newest write
    db.bookings.update_one({"code": late.code}, {"$set": {
        "notes": "late commit", "updated_at": clock.now - timedelta(seconds=1)}})
    assert sync.sync_business(SPA) == 1
    assert by_code(stub.rows(sheet_id))[late.code][12] == "late commit"


def test_a_rate_limited_append_is_retried_and_the_rows_are_written_once(core, sync, stub):
    sheet_id = new_sheet(stub)
    book(core), book(core, TUESDAY_10_BALI + timedelta(hours=3))
    sync.connect(SPA, sheet_id)
    stub.fail_next(429, on=":append")
    assert sync.sync_business(SPA) == 2
    assert len(stub.rows(sheet_id)) == 3
    assert calls(stub, sheet_id).count(("POST", "append")) == 2
    assert sync.status(SPA)["state"] == "ok"


def test_an_append_whose_answer_failed_is_not_repeated_the_next_sync_updates_instead(
        core, sync, stub, db):
    sheet_id = new_sheet(stub)
    book(core), book(core, TUESDAY_10_BALI + timedelta(hours=3))
    sync.connect(SPA, sheet_id)
    stub.fail_next(500, on=":append", applied=True)  # applied, but answered 500
    assert sync.sync_business(SPA) == 0
    status = sync.status(SPA)
    assert status["state"] == "failing" and "tries again" in status["last_error"]
    assert db.sheets_links.find_one({"_id": SPA}).get("cursor") is None
    assert calls(stub, sheet_id).count(("POST", "append")) == 1
    assert sync.sync_business(SPA) == 2
    assert len(stub.rows(sheet_id)) == 3  # updated where they landed: no duplicates
    assert calls(stub, sheet_id)[-2:] == [("GET", "read"), ("POST", "batchUpdate")]
    assert sync.status(SPA)["state"] == "ok"


def test_a_sheet_not_shared_says_with_whom_keeps_the_cursor_and_syncs_once_shared(core, sync,
                                                                                 stub, db):
    sheet_id = new_sheet(stub, shared=False)
    booking = book(core)
    sync.connect(SPA, sheet_id)
    assert sync.sync_business(SPA) == 0
    status = sync.status(SPA)
    assert status["state"] == "not_shared" and CLIENT_EMAIL in status["last_error"]
    assert sync.account()["client_email"] == CLIENT_EMAIL
    assert db.sheets_links.find_one({"_id": SPA}).get("cursor") is None
    assert calls(stub, sheet_id) == [("GET", "read")]  # a 403 is not retried
    assert sync.sync_all() == {}  # paused: no request every round
    stub.share(sheet_id)
    sync.request_sync(SPA)  # "Sync now"
    assert sync.sync_all() == {SPA: 1}
    assert booking.code in by_code(stub.rows(sheet_id))
    assert sync.status(SPA)["state"] == "ok" and sync.status(SPA)["last_error"] == ""


def test_an_unknown_spreadsheet_or_tab_is_not_found(core, sync, stub):
    book(core)
    sync.connect(SPA, "x" * 40)  # no such spreadsheet: 404
    assert sync.sync_business(SPA) == 0 and sync.status(SPA)["state"] == "not_found"
    sheet_id = new_sheet(stub, tabs=("Sheet1",))
    sync.connect(SPA, sheet_id, "Bookings")  # no such tab: Google says 400 "Unable to parse"
    assert sync.sync_business(SPA) == 0
    status = sync.status(SPA)
    assert status["state"] == "not_found" and "Bookings" in status["last_error"]


def test_an_expired_token_is_refreshed_once(core, sync, stub, clock):
    sheet_id = new_sheet(stub)
    booking = book(core)
    sync.connect(SPA, sheet_id)
    assert sync.sync_business(SPA) == 1
    grants = stub.token_grants
    stub.revoke_tokens()
    clock.now += timedelta(minutes=1)
    core.cancel(booking.code)
    assert sync.sync_business(SPA) == 1
    assert stub.token_grants == grants + 1
    assert by_code(stub.rows(sheet_id))[booking.code][1] == CANCELLED


def test_a_key_google_does_not_know_is_refused_and_said_so(core, db, stub, clock, seed_catalog):
    stranger = service_account_info(throwaway_key(), stub.token_uri)  # not the stub's key
    factory = client_factory_from_env({"GOOGLE_SERVICE_ACCOUNT_JSON": json.dumps(stranger),
                                       "GOOGLE_SHEETS_API_URL": stub.url})
    sync = SheetsSync(db, factory, clock, catalog=seed_catalog)
    sheet_id = new_sheet(stub)
    book(core)
    sync.connect(SPA, sheet_id)
    assert sync.sync_business(SPA) == 0
    status = sync.status(SPA)
    assert status["state"] == "auth_failed" and "key" in status["last_error"]
    assert "PRIVATE KEY" not in status["last_error"] and calls(stub, sheet_id) == []


def test_each_business_gets_only_its_own_bookings(core, sync, stub):
    spa_sheet, salon_sheet = new_sheet(stub), new_sheet(stub)
    ours = book(core)
    theirs = book(core, service="haircut-blowdry", staff="putu", name="Secret Sari")
    sync.connect(SPA, spa_sheet)
    sync.connect(SALON, salon_sheet)
    assert sync.sync_all() == {SPA: 1, SALON: 1}
    assert list(by_code(stub.rows(spa_sheet))) == [ours.code]
    assert list(by_code(stub.rows(salon_sheet))) == [theirs.code]


def test_without_a_service_account_the_sync_is_not_configured(db, clock, core, seed_catalog):
    book(core)
    for env in ({}, {"GOOGLE_SERVICE_ACCOUNT_JSON": "{not json, private_key: secret"},
                {"GOOGLE_SERVICE_ACCOUNT_FILE": "/nonexistent/key.json"},
                {"GOOGLE_SERVICE_ACCOUNT_JSON": json.dumps({
                    "type": "service_account", "client_email": "x@y", "token_uri": "http://x",
                    "private_key": "-----BEGIN PRIVATE KEY-----\nsecret\n-----END PRIVATE KEY-----",
                })}):
        sync = SheetsSync(db, client_factory_from_env(env), clock, catalog=seed_catalog)
        account = sync.account()
        assert account["configured"] is False and "secret" not in account["problem"]
        assert "GOOGLE_SERVICE_ACCOUNT" in account["problem"]
        sync.connect(SPA, "a" * 30)
        assert sync.status(SPA)["state"] == "not_configured"
        assert sync.sync_business(SPA) == 0 and sync.sync_all() == {}


def test_connect_takes_an_id_or_the_spreadsheet_address_and_refuses_anything_else(sync):
    sheet_id = "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms"
    assert spreadsheet_id_from(f"https://docs.google.com/spreadsheets/d/{sheet_id}/edit#gid=0") \
        == sheet_id
    assert sync.connect(SPA, sheet_id, " Desk ")["sheet"] == "Desk"
    for bad in ("short", "x" * 101, "abc/../../etc/passwd-xxxxxxxxxxxx", "a" * 25 + "!"):
        with pytest.raises(ValidationError):
            sync.connect(SPA, bad)
    with pytest.raises(ValidationError):
        sync.connect(SPA, sheet_id, "a/b")
    assert sync.status(SPA)["spreadsheet_id"] == sheet_id


def test_a_kick_makes_the_worker_sync_now(core, sync, stub):
    sheet_id = new_sheet(stub)
    sync.connect(SPA, sheet_id)
    worker = SheetsWorker(sync, interval=3600)  # without a kick: nothing for an hour
    worker.start()
    try:
        assert worker.wait_for_round(0)
        booking = book(core)
        worker.kick()
        assert stub.wait_until(lambda s: booking.code in by_code(s.rows(sheet_id)))
    finally:
        worker.stop()
    assert sync.status(SPA)["state"] == "ok"


def test_a_spreadsheet_linked_by_one_business_cannot_be_linked_by_another(sync, stub):
    sheet = new_sheet(stub)
    sync.connect(SPA, sheet)
    with pytest.raises(ValidationError, match="connected to another business"):
        sync.connect(SALON, sheet)
    assert sync.status(SALON) is None
    sync.connect(SPA, sheet)  # re-linking one's own is fine
