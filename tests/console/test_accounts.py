"""Console accounts: hashing, validation, throttling, lockout (per username and address, and
per username from every address), and local owners."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
from argon2 import PasswordHasher

from console.accounts import (LOCK_AFTER, OWNER, STAFF, THROTTLE_AFTER, USERNAME_LOCK_AFTER,
                              AccountError, AccountLocked, Accounts, LoginFailed, LoginRefused,
                              LoginThrottled, ensure_local_owners)

# In the future: failure records expire (TTL) a day after their last attempt, and the real
# TTL monitor must not remove those of a test while it runs.
T0 = datetime(2036, 11, 24, 0, 0, tzinfo=timezone.utc)
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


def fail(accounts: Accounts, at: datetime, client: str = "", username: str = "alice") -> None:
    with pytest.raises(LoginFailed):
        accounts.authenticate(username, "wrong password!", at, client=client)


def outcome(accounts: Accounts, username: str, at: datetime, client: str = "",
            password: str = "wrong password!") -> str:
    """What an attempt answers, as the login page shows it."""
    try:
        accounts.authenticate(username, password, at, client=client)
    except LoginRefused as refused:
        return f"{type(refused).__name__}: {refused.message}"
    return "signed in"


def pair_failures(db, username: str = "alice", client: str = "") -> int:
    doc = db.console_login_failures.find_one({"_id": {"u": username, "c": client}})
    return doc["failures"] if doc else 0


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


def _fail_until_locked(accounts: Accounts, client: str = "", username: str = "alice",
                       start: datetime = T0) -> datetime:
    at = start
    for n in range(LOCK_AFTER):
        at += timedelta(seconds=60)  # past every throttle delay
        fail(accounts, at, client, username)
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
    # a lock of one address is not the account's (``make admin ARGS=list`` shows those)
    assert not accounts.by_username("alice").is_locked(last + timedelta(minutes=1))
    account = accounts.authenticate("alice", PASSWORD, last + timedelta(minutes=15))
    assert account.username == "alice"
    assert pair_failures(accounts.failures.database) == 0


def test_a_failure_after_the_lock_ends_locks_again(accounts):
    last = _fail_until_locked(accounts)
    fail(accounts, last + timedelta(minutes=15))
    with pytest.raises(AccountLocked):
        accounts.authenticate("alice", PASSWORD, last + timedelta(minutes=20))


def test_success_resets_the_failure_count(db, accounts):
    fail(accounts, T0)
    fail(accounts, T0)
    assert pair_failures(db) == 2
    accounts.authenticate("alice", PASSWORD, T0)
    assert pair_failures(db) == 0
    assert accounts.by_username("alice").failed_logins == 2  # from every address: not reset
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


def test_concurrent_failures_are_all_counted(db):
    accounts = Accounts(db, hasher=GateHasher(THROTTLE_AFTER))  # all checked at the same time
    accounts.ensure_indexes()
    accounts.create("ubud-serenity-spa", "alice", PASSWORD, OWNER)
    refusals: list[BaseException] = []

    def attempt() -> None:
        try:
            accounts.authenticate("alice", "wrong password!", T0)
        except LoginRefused as exc:
            refusals.append(exc)

    threads = [threading.Thread(target=attempt) for _ in range(THROTTLE_AFTER)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    assert len(refusals) == THROTTLE_AFTER and all(isinstance(e, LoginFailed) for e in refusals)
    assert pair_failures(db) == THROTTLE_AFTER
    with pytest.raises(LoginThrottled):
        Accounts(db, **CHEAP).authenticate("alice", PASSWORD, T0 + timedelta(milliseconds=1))


def test_forty_parallel_wrong_logins_get_only_three_password_checks(db, hasher):
    accounts = Accounts(db, hasher=hasher)
    accounts.ensure_indexes()
    accounts.create("ubud-serenity-spa", "alice", PASSWORD, OWNER)
    start, refusals = threading.Barrier(40, timeout=10), []

    def attempt() -> None:
        start.wait()
        try:
            accounts.authenticate("alice", "wrong password!", T0, client="203.0.113.5")
        except LoginRefused as exc:
            refusals.append(type(exc).__name__)

    threads = [threading.Thread(target=attempt) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert hasher.verified == THROTTLE_AFTER
    assert sorted(refusals) == ["LoginFailed"] * THROTTLE_AFTER + ["LoginThrottled"] * 37


class HeldHasher(SpyHasher):
    """Holds the first ``held`` verifications until released; later ones run at once."""

    def __init__(self, held: int) -> None:
        super().__init__()
        self.held, self.running = held, threading.Semaphore(0)
        self.release, self._lock, self._started = threading.Event(), threading.Lock(), 0

    def verify(self, hash, password) -> bool:  # type: ignore[override]
        with self._lock:
            self._started += 1
            hold = self._started <= self.held
        if hold:
            self.running.release()
            self.release.wait(10)
        return super().verify(hash, password)


def test_every_attempt_is_counted_before_its_password_is_checked(db):
    hasher = HeldHasher(THROTTLE_AFTER)
    accounts = Accounts(db, hasher=hasher)
    accounts.ensure_indexes()
    accounts.create("ubud-serenity-spa", "alice", PASSWORD, OWNER)
    threads = [threading.Thread(target=outcome, args=(accounts, "alice", T0))
               for _ in range(THROTTLE_AFTER)]
    for t in threads:
        t.start()
        assert hasher.running.acquire(timeout=10)  # being checked, no failure recorded yet
    try:
        for _ in range(5):  # parallel attempts while those three are being checked
            assert outcome(accounts, "alice", T0, password=PASSWORD) == \
                "LoginThrottled: Too many attempts: try again in 1 second."
        assert hasher.verified == 0
    finally:
        hasher.release.set()
        for t in threads:
            t.join(10)
    assert hasher.verified == THROTTLE_AFTER and pair_failures(db) == THROTTLE_AFTER


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
    assert pair_failures(db) == 0  # the first one logged in


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


def test_a_real_and_an_unknown_username_get_the_same_answers(db, accounts, hasher):
    answers, checks = {}, {}
    for name in ("alice", "mallory"):
        before = hasher.verified
        quick = [outcome(accounts, name, T0 + timedelta(milliseconds=i)) for i in range(5)]
        spaced = [outcome(accounts, name, T0 + timedelta(minutes=m)) for m in range(1, 8)]
        locked = outcome(accounts, name, T0 + timedelta(minutes=8), password=PASSWORD)
        answers[name], checks[name] = (quick, spaced, locked), hasher.verified - before
    assert answers["alice"] == answers["mallory"]
    assert checks["alice"] == checks["mallory"] == 3 + 5  # the dummy hash costs the same
    quick, spaced, locked = answers["alice"]
    assert quick == ["LoginFailed: Wrong username or password."] * 3 + \
        ["LoginThrottled: Too many attempts: try again in 1 second."] * 2
    assert spaced == ["LoginFailed: Wrong username or password."] * 5 + \
        [f"AccountLocked: {AccountLocked(T0 + timedelta(minutes=5 + 15)).message}"] * 2
    assert locked == spaced[-1]
    assert pair_failures(db, "alice") == pair_failures(db, "mallory") == LOCK_AFTER


def test_a_lock_from_one_address_does_not_lock_out_another(accounts):
    attacker, owner = "203.0.113.5", "198.51.100.7"
    last = _fail_until_locked(accounts, attacker)
    soon = last + timedelta(minutes=1)
    with pytest.raises(AccountLocked):
        accounts.authenticate(" ALICE", PASSWORD, soon, client=attacker)
    assert accounts.authenticate("alice", PASSWORD, soon, client=owner).username == "alice"
    with pytest.raises(AccountLocked):  # the owner's login did not unlock the attacker
        accounts.authenticate("alice", PASSWORD, soon, client=attacker)
    assert not accounts.by_username("alice").is_locked(soon)


def test_an_ipv6_client_is_one_address_across_its_64_block(accounts):
    at = T0
    for n in range(LOCK_AFTER):
        at += timedelta(seconds=60)
        fail(accounts, at, client=f"2001:db8:0:7::{n + 1:x}")
    with pytest.raises(AccountLocked):
        accounts.authenticate("alice", PASSWORD, at, client="[2001:db8:0:7::ffff]")
    assert accounts.authenticate("alice", PASSWORD, at, client="2001:db8:0:8::1").username


def _fail_from_everywhere(accounts: Accounts, count: int, username: str = "alice",
                          start: datetime = T0) -> datetime:
    """``count`` failures, each from another address, ten seconds apart."""
    at = start
    for n in range(count):
        at = start + timedelta(seconds=10 * n)
        fail(accounts, at, client=f"10.9.{n // 200}.{n % 200}", username=username)
    return at


def test_fifty_failures_from_every_address_lock_the_username_for_everyone(accounts, hasher):
    last = _fail_from_everywhere(accounts, USERNAME_LOCK_AFTER - 1)
    assert accounts.authenticate("alice", PASSWORD, last, client="192.0.2.1").username
    assert accounts.by_username("alice").failed_logins == USERNAME_LOCK_AFTER - 1
    fail(accounts, last + timedelta(seconds=1), client="192.0.2.2")  # the 50th
    until = last + timedelta(seconds=1, minutes=15)
    checked = hasher.verified
    for client in ("192.0.2.1", "192.0.2.3", ""):
        with pytest.raises(AccountLocked) as locked:
            accounts.authenticate("alice", PASSWORD, until - timedelta(seconds=1), client=client)
        assert locked.value.until == until
    assert hasher.verified == checked
    assert accounts.list()[0].is_locked(until - timedelta(seconds=1))  # `make admin` list
    assert accounts.authenticate("alice", PASSWORD, until, client="192.0.2.1").username


def test_the_username_ceiling_is_the_same_for_an_unknown_username(accounts):
    for name in ("alice", "mallory"):
        last = _fail_from_everywhere(accounts, USERNAME_LOCK_AFTER, name)
        assert outcome(accounts, name, last + timedelta(minutes=1), "192.0.2.9") == \
            f"AccountLocked: {AccountLocked(last + timedelta(minutes=15)).message}"


def test_the_username_count_starts_over_after_fifteen_minutes(accounts):
    _fail_from_everywhere(accounts, USERNAME_LOCK_AFTER - 1)  # the first at T0
    later = T0 + timedelta(minutes=15)
    fail(accounts, later, client="192.0.2.2")
    fail(accounts, later, client="192.0.2.3")
    assert accounts.by_username("alice").failed_logins == 2
    assert accounts.authenticate("alice", PASSWORD, later, client="192.0.2.4").username


def test_reset_and_unlock_end_the_locks_of_every_address_and_of_everyone(db, accounts):
    first = _fail_until_locked(accounts, "203.0.113.5")
    second = _fail_until_locked(accounts, "203.0.113.6", start=first)
    accounts.reset_password("Alice", "a brand new password")
    assert db.console_login_failures.count_documents({"username": "alice"}) == 0
    for client in ("203.0.113.5", "203.0.113.6"):
        assert accounts.authenticate("alice", "a brand new password", second,
                                     client=client).username == "alice"
    last = _fail_from_everywhere(accounts, USERNAME_LOCK_AFTER, start=second)
    with pytest.raises(AccountLocked):
        accounts.authenticate("alice", "a brand new password", last, client="192.0.2.1")
    assert accounts.unlock("alice").is_locked(last) is False
    assert accounts.authenticate("alice", "a brand new password", last, client="192.0.2.1")


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
