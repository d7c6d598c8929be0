"""The console's audit log: entries per business, newest first."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from console.audit import AuditLog

T0 = datetime(2026, 11, 23, 0, 0, tzinfo=timezone.utc)


@pytest.fixture
def audit(db) -> AuditLog:
    log = AuditLog(db)
    log.ensure_indexes()
    return log


def test_recent_is_newest_first_per_business(audit):
    audit.record("spa", "alice", "booking.cancel", "BK111111", {"status": "CONFIRMED"},
                 {"status": "CANCELLED"}, T0 + timedelta(minutes=1))
    audit.record("spa", "bob", "staff.hours", "wayan", None, {"monday": "09-17"}, T0)
    audit.record("spa", "alice", "account.add", "carol", None, {"role": "staff"},
                 T0 + timedelta(minutes=2))
    audit.record("salon", "dave", "account.add", "erin", None, {"role": "staff"}, T0)
    entries = audit.recent("spa")
    assert [e["target"] for e in entries] == ["carol", "BK111111", "wayan"]
    cancel = entries[1]
    assert (cancel["actor"], cancel["action"], cancel["before"], cancel["after"], cancel["at"]) \
        == ("alice", "booking.cancel", {"status": "CONFIRMED"}, {"status": "CANCELLED"},
            T0 + timedelta(minutes=1))
    assert isinstance(cancel["id"], str) and "_id" not in cancel
    assert [e["target"] for e in audit.recent("spa", limit=1)] == ["carol"]
    assert [e["actor"] for e in audit.recent("salon")] == ["dave"]
    assert audit.recent("nobody") == []


def test_limit_is_bounded(audit):
    with pytest.raises(ValueError):
        audit.recent("spa", limit=0)
    with pytest.raises(ValueError):
        audit.recent("spa", limit=10_000)


def test_index_on_business_and_time(db, audit):
    keys = [i["key"] for i in db.console_audit.index_information().values()]
    assert [("business_id", 1), ("at", -1)] in keys
