"""Console sessions: hashed cookie tokens, sliding idle expiry under an absolute one, CSRF."""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

import pytest

from console.accounts import OWNER, STAFF, Account
from console.sessions import Sessions, csrf_ok

T0 = datetime(2026, 11, 23, 0, 0, tzinfo=timezone.utc)
ALICE = Account(id="a1", business_id="ubud-serenity-spa", username="alice", role=OWNER,
                created_at=T0)
BOB = Account(id="b2", business_id="ubud-serenity-spa", username="bob", role=STAFF,
              created_at=T0)


@pytest.fixture
def sessions(db) -> Sessions:
    repo = Sessions(db, idle_minutes=480, absolute_hours=24)
    repo.ensure_indexes()
    return repo


def test_a_new_session_is_found_by_its_token(sessions):
    token, session = sessions.create(ALICE, T0)
    found = sessions.get(token, T0 + timedelta(minutes=5))
    assert (found.account_id, found.business_id, found.role, found.username) == \
        ("a1", "ubud-serenity-spa", OWNER, "alice")
    assert found.csrf_token == session.csrf_token and len(session.csrf_token) >= 40
    assert session.created_at == T0 and session.expires_at == T0 + timedelta(hours=8)
    assert session.csrf_token not in repr(session)


def test_the_cookie_token_is_not_stored(db, sessions):
    token, _ = sessions.create(ALICE, T0)
    doc = db.console_sessions.find_one()
    assert doc["_id"] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in repr(doc)


def test_unknown_empty_and_other_tokens_give_none(sessions):
    token, _ = sessions.create(ALICE, T0)
    assert sessions.get("not-a-token", T0) is None
    assert sessions.get("", T0) is None
    assert sessions.get(None, T0) is None
    assert sessions.get(hashlib.sha256(token.encode()).hexdigest(), T0) is None  # a leaked _id


def test_an_idle_session_expires(db, sessions):
    token, _ = sessions.create(ALICE, T0)
    assert sessions.get(token, T0 + timedelta(hours=8) - timedelta(seconds=1)) is not None
    token2, _ = sessions.create(BOB, T0)
    assert sessions.get(token2, T0 + timedelta(hours=8)) is None
    assert db.console_sessions.count_documents({"account_id": "b2"}) == 0  # removed at once


def test_use_slides_the_expiry_but_writes_at_most_once_a_minute(db, sessions):
    token, _ = sessions.create(ALICE, T0)
    sessions.get(token, T0 + timedelta(seconds=30))
    assert db.console_sessions.find_one()["expires_at"] == T0 + timedelta(hours=8)
    sessions.get(token, T0 + timedelta(seconds=61))
    assert db.console_sessions.find_one()["expires_at"] == \
        T0 + timedelta(hours=8, seconds=61)
    used = T0 + timedelta(hours=7)
    assert sessions.get(token, used).expires_at == used + timedelta(hours=8)
    assert sessions.get(token, T0 + timedelta(hours=14)) is not None  # past the first 8 h


def test_the_absolute_lifetime_ends_even_a_busy_session(db, sessions):
    token, _ = sessions.create(ALICE, T0)
    for hours in (7, 14, 21):
        assert sessions.get(token, T0 + timedelta(hours=hours)) is not None
    assert db.console_sessions.find_one()["expires_at"] == T0 + timedelta(hours=24)
    assert sessions.get(token, T0 + timedelta(hours=24)) is None


def test_end_and_end_all(sessions):
    one, _ = sessions.create(ALICE, T0)
    two, _ = sessions.create(ALICE, T0)
    other, _ = sessions.create(BOB, T0)
    assert sessions.end(one) is True
    assert sessions.end(one) is False
    assert sessions.get(one, T0) is None
    assert sessions.end_all("a1") == 1
    assert sessions.get(two, T0) is None
    assert sessions.get(other, T0) is not None


def test_signing_in_again_ends_the_session_the_browser_came_with(sessions):
    old, _ = sessions.create(ALICE, T0)
    other, _ = sessions.create(ALICE, T0)  # another browser of the same person
    new, session = sessions.create(BOB, T0, replacing=old)
    assert sessions.get(old, T0) is None
    assert sessions.get(new, T0).account_id == "b2" == session.account_id
    assert sessions.get(other, T0) is not None
    fresh, _ = sessions.create(ALICE, T0, replacing="not-a-token")  # unknown or none: fine
    assert sessions.get(fresh, T0) is not None
    assert sessions.get(sessions.create(ALICE, T0, replacing=None)[0], T0) is not None


def test_expiry_is_a_ttl_index(db, sessions):
    ttl = [i for i in db.console_sessions.index_information().values()
           if i["key"] == [("expires_at", 1)]]
    assert ttl and ttl[0]["expireAfterSeconds"] == 0
    sessions.ensure_indexes()  # idempotent


def test_csrf_ok(sessions):
    _, session = sessions.create(ALICE, T0)
    _, other = sessions.create(ALICE, T0)
    assert csrf_ok(session, session.csrf_token) is True
    assert csrf_ok(session, other.csrf_token) is False
    assert csrf_ok(session, "") is False
    assert csrf_ok(session, None) is False
    assert sessions.csrf_ok(session, session.csrf_token) is True
    assert sessions.csrf_ok(session, other.csrf_token) is False


def test_lifetimes_must_be_positive(db):
    with pytest.raises(ValueError):
        Sessions(db, idle_minutes=0)
