"""Transient database errors are retried with backoff; other errors never are.

Faults come from mongod's own ``failCommand`` fail point (test commands are enabled on the
test server), so the errors are real server replies, not mocks.
"""
from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timezone

import pytest
from pymongo.errors import AutoReconnect, DuplicateKeyError, OperationFailure

from booking.bookings import BookingRequest, BookingService
from booking.db import with_retries
from booking.errors import DatabaseUnavailableError
from tests.booking.factories import catalog


@contextmanager
def fail_point(db, commands: list[str], mode, error_code: int):
    db.client.admin.command("configureFailPoint", "failCommand", mode=mode,
                            data={"failCommands": commands, "errorCode": error_code})
    try:
        yield
    finally:
        db.client.admin.command("configureFailPoint", "failCommand", mode="off")


def test_backoff_doubles_from_100ms_over_three_attempts():
    delays, calls = [], []

    def flaky():
        calls.append(1)
        raise AutoReconnect("connection reset")

    with pytest.raises(DatabaseUnavailableError):
        with_retries(flaky, sleep=delays.append)
    assert len(calls) == 3 and delays == [0.1, 0.2]


def test_non_transient_errors_are_not_retried():
    calls = []

    def duplicate():
        calls.append(1)
        raise DuplicateKeyError("E11000")

    with pytest.raises(DuplicateKeyError):
        with_retries(duplicate, sleep=lambda _: None)
    assert calls == [1]


def test_primary_step_down_during_a_read_is_retried(db, clock):
    svc = BookingService(db, catalog(), clock=clock)
    booking = svc.create(BookingRequest("massage", datetime(2026, 11, 24, 2, tzinfo=timezone.utc), "c"))
    # 189 PrimarySteppedDown, three times: pymongo's own retry takes two, ours the third.
    with fail_point(db, ["find"], {"times": 3}, 189):
        assert svc.get(booking.code).code == booking.code


def test_step_down_while_booking_is_retried_and_books_once(db, clock):
    svc = BookingService(db, catalog(), clock=clock)
    with fail_point(db, ["insert"], {"times": 2}, 189):  # PrimarySteppedDown
        booking = svc.create(BookingRequest("massage", datetime(2026, 11, 24, 2, tzinfo=timezone.utc), "c"))
    assert db.bookings.count_documents({}) == 1
    assert len(db.bookings.find_one({"code": booking.code})["cells"]) == 12


def test_a_lasting_outage_ends_in_a_typed_error_and_stores_nothing(db, clock):
    svc = BookingService(db, catalog(), clock=clock)
    with fail_point(db, ["find", "insert"], "alwaysOn", 189):  # every call create makes
        with pytest.raises(DatabaseUnavailableError):
            svc.create(BookingRequest("massage", datetime(2026, 11, 24, 2, tzinfo=timezone.utc), "c"))
    assert db.bookings.count_documents({}) == 0


def test_validation_errors_from_the_server_are_not_retried(db):
    calls = []

    def bad():
        calls.append(1)
        db.command({"notACommand": 1})

    with pytest.raises(OperationFailure):
        with_retries(bad, sleep=lambda _: None)
    assert calls == [1]
