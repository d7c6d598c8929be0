"""Console accounts: hashing, validation, throttling, lockout, and local owners."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
from argon2 import PasswordHasher

from console.accounts import (LOCK_AFTER, OWNER, STAFF, AccountError, AccountLocked, Accounts,
                              LoginFailed, LoginRefused, LoginThrottled, ensure_local_owners)

T0 = datetime(2026, 11, 23, 0, 0, tzinfo=timezone.utc)
PASSWORD = "correct horse battery"
CHEAP = {"time_cost": 1, "memory_cost": 8 * 1024, "parallelism": 1}


class SpyHasher(PasswordHasher):
    """Cheap argon2 that counts verifications (to prove a password was not even checked)."""

    def __init__(self) -> None:
        super().__init__(**CHEAP)
        self.verified = 0

    def verify(self, hash, password) -> bool:  # type: ignore[override]
        self.verified += 1
        return super().verify(hash, password)


@pytest.fixture
def hasher() -> SpyHasher:
    return SpyHasher()


@pytest.fixture
def accounts(db, hasher: SpyHasher) -> Accounts:
    repo = Accounts(db, hasher=hasher)
    repo.ensure_indexes()
    repo.create("ubud-serenity-spa", "alice", PASSWORD, OWNER, now=T0)
    return repo


def fail(accounts: Accounts, at: datetime) -> None:
    with pytest.raises(LoginFailed):
        accounts.authenticate("alice", "wrong password!", at)


def test_right_password_logs_in(accounts):
    account = accounts.authenticate("alice", PASSWORD, T0)
    assert (account.business_id, account.username, account.role) == \
        ("ubud-serenity-spa", "alice", OWNER)
    assert account.created_at == T0


def test_hash_is_argon2id_and_no_plaintext_is_stored(db, accounts):
    doc = db.console_accounts.find_one({"username": "alice"})
    assert doc["password_hash"].startswith("$argon2id$")
    assert PASSWORD not in repr(doc)
    assert "argon2" not in repr(accounts.by_username("alice"))


def test_wrong_password_and_unknown_user_get_the_same_refusal(accounts, hasher):
    with pytest.raises(LoginFailed) as wrong:
        accounts.authenticate("alice", "not the password", T0)
    before = hasher.verified
    with pytest.raises(LoginFailed) as unknown:
        accounts.authenticate("mallory", PASSWORD, T0)
    assert wrong.value.message == unknown.value.message == "Wrong username or password."
    assert hasher.verified == before + 1  # a dummy hash was verified, costing the same time


def test_usernames_are_trimmed_and_lower_cased(accounts):
    accounts.create("ubud-serenity-spa", "  Front.Desk@Ubud ", PASSWORD, STAFF)
    assert accounts.by_username("front.desk@ubud").username == "front.desk@ubud"
    assert accounts.authenticate(" FRONT.DESK@UBUD", PASSWORD, T0).role == STAFF


def test_duplicate_usernames_are_refused_across_businesses(accounts):
    with pytest.raises(AccountError, match="already taken"):
        accounts.create("canggu-glow-salon", "ALICE", PASSWORD, STAFF)
    assert [a.business_id for a in accounts.list()] == ["ubud-serenity-spa"]


INVALID = [  # username, password, role, what the refusal says
    ("ab", PASSWORD, STAFF, "3 to 64"),
    ("a" * 65, PASSWORD, STAFF, "3 to 64"),
    ("bob smith", PASSWORD, STAFF, "may only hold"),
    ("bob!", PASSWORD, STAFF, "may only hold"),
    ("bob", "short", STAFF, "at least 10"),
    ("bob", "x" * 257, STAFF, "at most 256"),
    ("bob", PASSWORD, "admin", "Unknown role"),
]


def test_invalid_accounts_are_refused_with_a_reason(accounts):
    for username, password, role, message in INVALID:
        with pytest.raises(AccountError, match=message):
            accounts.create("ubud-serenity-spa", username, password, role)
        assert accounts.by_username(username) is None
    assert accounts.create("ubud-serenity-spa", "b.o-b_1@x", "x" * 256, STAFF).username


def test_three_failures_throttle_further_attempts_with_a_growing_delay(accounts, hasher):
    for _ in range(3):
        fail(accounts, T0)
    checked = hasher.verified
    with pytest.raises(LoginThrottled) as throttled:
        accounts.authenticate("alice", PASSWORD, T0 + timedelta(milliseconds=500))
    assert throttled.value.retry_after_seconds == 1
    assert throttled.value.message == "Too many attempts: try again in 1 second."
    assert hasher.verified == checked  # the password was not even checked
    fail(accounts, T0 + timedelta(seconds=1))  # 4th failure: the next one waits 2 s
    with pytest.raises(LoginThrottled) as throttled:
        accounts.authenticate("alice", PASSWORD, T0 + timedelta(seconds=2))
    assert throttled.value.retry_after_seconds == 1
    fail(accounts, T0 + timedelta(seconds=3))  # 5th: 4 s
    with pytest.raises(LoginThrottled) as throttled:
        accounts.authenticate("alice", PASSWORD, T0 + timedelta(seconds=3))
    assert "in 4 seconds" in throttled.value.message
    assert accounts.authenticate("alice", PASSWORD, T0 + timedelta(seconds=7)).username == "alice"


def _fail_until_locked(accounts: Accounts) -> datetime:
    at = T0
    for n in range(LOCK_AFTER):
        at += timedelta(seconds=60)  # past every throttle delay
        fail(accounts, at)
    return at


def test_eight_failures_lock_the_account_for_fifteen_minutes(accounts, hasher):
    last = _fail_until_locked(accounts)
    checked = hasher.verified
    with pytest.raises(AccountLocked) as locked:
        accounts.authenticate("alice", PASSWORD, last + timedelta(minutes=14, seconds=59))
    assert locked.value.until == last + timedelta(minutes=15)
    assert f"until {locked.value.until:%H:%M} UTC" in locked.value.message
    assert 'make admin ARGS="reset' in locked.value.message
    assert isinstance(locked.value, LoginRefused)
    assert hasher.verified == checked  # refused without checking the password
    assert accounts.by_username("alice").is_locked(last + timedelta(minutes=1))
    account = accounts.authenticate("alice", PASSWORD, last + timedelta(minutes=15))
    assert account.failed_logins == 0
    assert accounts.by_username("alice").failed_logins == 0


def test_a_failure_after_the_lock_ends_locks_again(accounts):
    last = _fail_until_locked(accounts)
    fail(accounts, last + timedelta(minutes=15))
    with pytest.raises(AccountLocked):
        accounts.authenticate("alice", PASSWORD, last + timedelta(minutes=20))


def test_success_resets_the_failure_count(db, accounts):
    fail(accounts, T0)
    fail(accounts, T0)
    assert db.console_accounts.find_one()["failed_logins"] == 2
    accounts.authenticate("alice", PASSWORD, T0)
    assert db.console_accounts.find_one()["failed_logins"] == 0
    fail(accounts, T0)
    fail(accounts, T0)
    assert accounts.authenticate("alice", PASSWORD, T0).username == "alice"  # not throttled


class GateHasher(SpyHasher):
    """Holds every verification until ``parties`` of them are running at once."""

    def __init__(self, parties: int) -> None:
        super().__init__()
        self.barrier = threading.Barrier(parties, timeout=10)

    def verify(self, hash, password) -> bool:  # type: ignore[override]
        self.barrier.wait()
        return super().verify(hash, password)


def test_concurrent_failures_are_all_counted_and_lock_the_account(db):
    accounts = Accounts(db, hasher=GateHasher(LOCK_AFTER))
    accounts.ensure_indexes()
    accounts.create("ubud-serenity-spa", "alice", PASSWORD, OWNER)
    refusals: list[BaseException] = []

    def attempt() -> None:
        try:
            accounts.authenticate("alice", "wrong password!", T0)
        except LoginRefused as exc:
            refusals.append(exc)

    threads = [threading.Thread(target=attempt) for _ in range(LOCK_AFTER)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    assert len(refusals) == LOCK_AFTER and all(isinstance(e, LoginFailed) for e in refusals)
    assert accounts.by_username("alice").failed_logins == LOCK_AFTER
    with pytest.raises(AccountLocked):
        Accounts(db, **CHEAP).authenticate("alice", PASSWORD, T0 + timedelta(minutes=1))


class SlowHasher(SpyHasher):
    """A verification that waits for the test to let it finish."""

    def __init__(self) -> None:
        super().__init__()
        self.entered, self.release = threading.Event(), threading.Event()

    def verify(self, hash, password) -> bool:  # type: ignore[override]
        self.entered.set()
        self.release.wait(10)
        return super().verify(hash, password)


def test_once_throttled_only_one_attempt_runs_at_a_time(db):
    hasher = SlowHasher()
    hasher.release.set()
    accounts = Accounts(db, hasher=hasher)
    accounts.ensure_indexes()
    accounts.create("ubud-serenity-spa", "alice", PASSWORD, OWNER)
    for _ in range(3):
        fail(accounts, T0)
    hasher.release.clear()
    hasher.entered.clear()
    first = threading.Thread(target=lambda: accounts.authenticate("alice", PASSWORD,
                                                                  T0 + timedelta(seconds=5)))
    first.start()
    assert hasher.entered.wait(10)
    with pytest.raises(LoginThrottled):  # the same moment, while the first is being checked
        accounts.authenticate("alice", PASSWORD, T0 + timedelta(seconds=5))
    hasher.release.set()
    first.join(10)
    assert accounts.by_username("alice").failed_logins == 0  # the first one logged in


def test_outdated_hashes_are_upgraded_on_login(db, accounts):
    old = db.console_accounts.find_one()["password_hash"]
    stronger = Accounts(db, time_cost=2, memory_cost=8 * 1024, parallelism=1)
    stronger.authenticate("alice", PASSWORD, T0)
    new = db.console_accounts.find_one()["password_hash"]
    assert new != old and ",t=2," in new
    assert stronger.authenticate("alice", PASSWORD, T0).username == "alice"


def test_reset_password_clears_the_lock_and_replaces_the_password(accounts):
    last = _fail_until_locked(accounts)
    accounts.reset_password("Alice", "a brand new password")
    soon = last + timedelta(minutes=1)
    assert accounts.authenticate("alice", "a brand new password", soon).failed_logins == 0
    with pytest.raises(LoginFailed):
        accounts.authenticate("alice", PASSWORD, soon)
    with pytest.raises(AccountError, match="No account"):
        accounts.reset_password("nobody", "a brand new password")
    with pytest.raises(AccountError, match="at least 10"):
        accounts.reset_password("alice", "short")


def test_unlock_keeps_the_password(accounts):
    last = _fail_until_locked(accounts)
    accounts.unlock("alice")
    assert accounts.authenticate("alice", PASSWORD, last).username == "alice"


def test_set_role_get_list_and_remove(accounts):
    bob = accounts.create("canggu-glow-salon", "bob", PASSWORD, OWNER)
    assert accounts.set_role("bob", STAFF).role == STAFF
    with pytest.raises(AccountError, match="Unknown role"):
        accounts.set_role("bob", "root")
    assert accounts.get(bob.id).role == STAFF
    assert accounts.get("missing") is None
    assert [a.username for a in accounts.list()] == ["bob", "alice"]  # by business
    assert [a.username for a in accounts.list("ubud-serenity-spa")] == ["alice"]
    assert accounts.remove("BOB") is True
    assert accounts.remove("bob") is False
    assert accounts.get(bob.id) is None


def test_local_owners_only_for_businesses_without_accounts_and_idempotent(db):
    accounts = Accounts(db, **CHEAP)
    accounts.ensure_indexes()
    accounts.create("canggu-glow-salon", "stylist", PASSWORD, STAFF)
    businesses = [("ubud-serenity-spa", "Ubud Serenity Spa"),
                  ("canggu-glow-salon", "Canggu Glow Salon")]
    created = ensure_local_owners(accounts, businesses)
    assert [(b, u) for b, u, _ in created] == [("ubud-serenity-spa", "owner@ubud-serenity-spa")]
    password = created[0][2]
    assert len(password) >= 16
    owner = accounts.authenticate("owner@ubud-serenity-spa", password, T0)
    assert (owner.role, owner.business_id) == (OWNER, "ubud-serenity-spa")
    assert ensure_local_owners(accounts, businesses) == []
    assert len(accounts.list()) == 2
