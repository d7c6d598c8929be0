"""Console accounts: one login per person, each for one business, with a role and
argon2-hashed password.

Failed logins are counted in ``console_login_failures`` by typed username, whether an account
has it or not (a real and an unknown username get the same answers): per (username, client
address), 3 in a row make each further attempt wait 1, 2, 4 ... 60 s and 8 lock the pair for
15 minutes (an attacker elsewhere locks only themselves out); per username, 50 from every
address within 15 minutes lock it for everyone for 15 minutes. An attempt is counted before
its password is checked (and taken back if it was right), so parallel ones cannot skip a wait.
"""
from __future__ import annotations

import ipaddress
import logging
import math
import re
import secrets
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Optional, Union

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pymongo import ASCENDING, ReturnDocument
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from booking.db import ensure_ttl_index, with_retries

logger = logging.getLogger(__name__)

OWNER = "owner"  # everything
STAFF = "staff"  # calendar and bookings
ROLES = (OWNER, STAFF)

THROTTLE_AFTER = 3  # failures in a row (one username, one address) before each attempt waits
LOCK_AFTER = 8  # failures in a row (one username, one address) that lock that pair
LOCK_MINUTES = 15
MAX_DELAY_SECONDS = 60
USERNAME_LOCK_AFTER = 50  # failures of one username from every address within ...
USERNAME_WINDOW_MINUTES = 15  # ... this window: the username is locked for everyone
FORGET_HOURS = 24  # failure records go this long after their last attempt (TTL)
MIN_PASSWORD, MAX_PASSWORD = 10, 256
_USERNAME = re.compile(r"[a-z0-9._@-]{3,64}")
_LOCK = timedelta(minutes=LOCK_MINUTES)
_WINDOW = timedelta(minutes=USERNAME_WINDOW_MINUTES)
_FORGET = timedelta(hours=FORGET_HOURS)


class AccountError(ValueError):
    """An account cannot be created or changed as asked (bad username, taken, unknown...)."""


class LoginRefused(Exception):
    """A login attempt was refused; ``message`` can be shown on the login page as is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class LoginFailed(LoginRefused):
    """Wrong username or password (the two are not told apart)."""

    def __init__(self) -> None:
        super().__init__("Wrong username or password.")


class LoginThrottled(LoginRefused):
    """Too many recent failures: the next attempt must wait ``retry_after_seconds``."""

    def __init__(self, retry_after_seconds: int) -> None:
        self.retry_after_seconds = retry_after_seconds
        unit = "second" if retry_after_seconds == 1 else "seconds"
        super().__init__(f"Too many attempts: try again in {retry_after_seconds} {unit}.")


class AccountLocked(LoginRefused):
    """The account is locked after repeated failures until ``until`` (UTC)."""

    def __init__(self, until: datetime) -> None:
        self.until = until
        super().__init__(
            f"This account is locked after repeated failed logins until "
            f"{until.astimezone(timezone.utc):%H:%M} UTC. Someone with access to the server can "
            f"unlock it now by setting a new password: "
            f"make admin ARGS=\"reset --username <username>\".")


@dataclass(frozen=True)
class Account:
    """A console login (the password hash never leaves ``Accounts``)."""

    id: str
    business_id: str
    username: str
    role: str
    created_at: datetime
    failed_logins: int = 0  # of the username from every address, in its latest window
    last_failed_at: Optional[datetime] = None  # the latest of those

    @property
    def locked_until(self) -> Optional[datetime]:
        """End of the lock for everyone that failures put on the username (may lie in the
        past), if any; a lock of one client address is not the account's."""
        if self.failed_logins >= USERNAME_LOCK_AFTER and self.last_failed_at is not None:
            return self.last_failed_at + _LOCK
        return None

    def is_locked(self, now: datetime) -> bool:
        """Whether logins are refused to everyone at ``now`` because of repeated failures."""
        until = self.locked_until
        return until is not None and now < until


def normalize_username(username: str) -> str:
    """The stored form of a username: trimmed and lower-cased."""
    return username.strip().lower()


def validate_username(username: str) -> str:
    """The normalized username, or ``AccountError`` saying what is wrong with it."""
    name = normalize_username(username)
    if not 3 <= len(name) <= 64:
        raise AccountError("A username must be 3 to 64 characters long.")
    if not _USERNAME.fullmatch(name):
        raise AccountError("A username may only hold letters a-z, digits and . _ @ -")
    return name


def validate_password(password: str) -> None:
    """``AccountError`` unless the password has 10 to 256 characters."""
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"A password must be at least {MIN_PASSWORD} characters long.")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"A password must be at most {MAX_PASSWORD} characters long.")


def validate_role(role: str) -> None:
    """``AccountError`` unless ``role`` is one of ``ROLES``."""
    if role not in ROLES:
        raise AccountError(f"Unknown role {role!r}: use one of {', '.join(ROLES)}.")


def throttle_delay(failures: int) -> timedelta:
    """How long after the last failure the next attempt must wait (zero below the threshold)."""
    if failures < THROTTLE_AFTER:
        return timedelta(0)
    return timedelta(seconds=min(2 ** (failures - THROTTLE_AFTER), MAX_DELAY_SECONDS))


def client_key(client: str) -> str:
    """The address failures are counted by: IPv6 by its /64 (a host's usual allocation, not
    to be hopped through), anything else as given (bounded)."""
    try:
        address = ipaddress.ip_address(client.strip().strip("[]"))
    except ValueError:
        return client.strip()[:100]
    if address.version == 4 or address.ipv4_mapped:
        return str(getattr(address, "ipv4_mapped", None) or address)
    return str(ipaddress.ip_network(f"{address}/64", strict=False))


Key = Union[str, dict]  # a username's record: the username; a pair's: {"u": ..., "c": ...}


def _refusal(doc: dict[str, Any], now: datetime, everyone: bool) -> Optional[LoginRefused]:
    """Why an attempt may not run now under this failure record (None: it may)."""
    failures, last = doc["failures"], doc["last_at"]
    if failures >= (USERNAME_LOCK_AFTER if everyone else LOCK_AFTER):
        # once a pair's lock is over, its next failure locks it again
        return AccountLocked(last + _LOCK) if now < last + _LOCK else None
    if everyone or failures < THROTTLE_AFTER or _stale(doc, now, everyone):
        return None
    wait = last + throttle_delay(failures) - now
    return LoginThrottled(max(1, math.ceil(wait.total_seconds()))) if wait > timedelta(0) \
        else None


def _stale(doc: dict[str, Any], now: datetime, everyone: bool) -> bool:
    """Whether an unlocked record's count starts over: a username's window is over, or a
    pair has seen no attempt for a day."""
    return doc["since"] <= now - _WINDOW if everyone else doc["last_at"] <= now - _FORGET


def _log_lock(failures: int, everyone: bool) -> None:
    """Log a new lock (not the username: it may be a password typed into the wrong field)."""
    if failures == (USERNAME_LOCK_AFTER if everyone else LOCK_AFTER):
        logger.warning("console logins of a username locked %s after %d failures",
                       "for everyone" if everyone else "from one address", failures)


def _account(doc: dict[str, Any], failures: Optional[dict[str, Any]] = None) -> Account:
    return Account(id=doc["_id"], business_id=doc["business_id"], username=doc["username"],
                   role=doc["role"], created_at=doc["created_at"],
                   failed_logins=failures["failures"] if failures else 0,
                   last_failed_at=failures["last_at"] if failures else None)


class Accounts:
    """The ``console_accounts`` collection: usernames are unique across all businesses; and
    ``console_login_failures``, the failed logins by username (see the module)."""

    def __init__(self, db: Database, *, time_cost: Optional[int] = None,
                 memory_cost: Optional[int] = None, parallelism: Optional[int] = None,
                 hasher: Optional[PasswordHasher] = None) -> None:
        """Argon2 parameters default to argon2-cffi's; ``hasher`` replaces them entirely."""
        self.collection = db.console_accounts
        self.failures = db.console_login_failures
        if hasher is None:
            params = {k: v for k, v in (("time_cost", time_cost), ("memory_cost", memory_cost),
                                        ("parallelism", parallelism)) if v is not None}
            hasher = PasswordHasher(**params)
        self._hasher = hasher
        self._dummy_hash: Optional[str] = None

    def ensure_indexes(self) -> None:
        """The unique username index, the per-business index, and the failure records' (by
        username, and the TTL on their last attempt); safe to call repeatedly."""
        self.collection.create_index("username", unique=True)
        self.collection.create_index([("business_id", ASCENDING), ("username", ASCENDING)])
        self.failures.create_index("username")
        ensure_ttl_index(self.failures, "last_at", int(_FORGET.total_seconds()))

    def create(self, business_id: str, username: str, password: str, role: str,
               now: Optional[datetime] = None) -> Account:
        """A new account; ``AccountError`` when the username is taken or anything is invalid."""
        name = validate_username(username)
        validate_password(password)
        validate_role(role)
        if not business_id.strip():
            raise AccountError("An account needs a business.")
        doc = {"_id": uuid.uuid4().hex, "business_id": business_id, "username": name,
               "role": role, "password_hash": self._hasher.hash(password),
               "created_at": now or datetime.now(timezone.utc)}
        try:
            self.collection.insert_one(doc)
        except DuplicateKeyError:
            raise AccountError(f"The username {name!r} is already taken.") from None
        logger.info("console account %s created for %s (%s)", doc["_id"], business_id, role)
        return _account(doc)

    def authenticate(self, username: str, password: str, now: datetime,
                     client: str = "") -> Account:
        """The account when the password is right; else a ``LoginRefused`` subclass.

        The attempt first counts as a failure of (username, ``client`` address) and of the
        username, account or not: a locked or throttled one is refused then, unchecked. An
        unknown username costs a dummy hash check, like a wrong password, and the same records.
        """
        name = normalize_username(username)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # as MongoDB keeps it
        pair: Key = {"u": name, "c": client_key(client)}
        pair_since = self._claim(pair, now, everyone=False)
        try:
            name_since = self._claim(name, now, everyone=True)
        except LoginRefused:
            self._take_back(pair, pair_since)  # not a guess: the username was locked
            raise
        doc = with_retries(lambda: self.collection.find_one({"username": name}))
        right = self._verify(doc["password_hash"] if doc else self._dummy(), password)
        if not right or doc is None:
            logger.info("console login refused: wrong username or password")
            raise LoginFailed()
        self.failures.delete_one({"_id": pair})
        after = self._take_back(name, name_since)
        self._rehash_if_needed(doc, password)
        logger.info("console login of account %s", doc["_id"])
        return _account(doc, after)

    def _claim(self, key: Key, now: datetime, everyone: bool) -> datetime:
        """Count an attempt under ``key`` as a failure (atomically: concurrent attempts see
        each other), or raise the refusal its record gives; when the count began."""
        current = {"since": {"$gt": now - _WINDOW}} if everyone else \
            {"last_at": {"$gt": now - _FORGET}}
        below = USERNAME_LOCK_AFTER if everyone else THROTTLE_AFTER
        for _ in range(5):
            # The usual case in one step: a current count that neither locks nor makes wait.
            doc = self.failures.find_one_and_update(
                {"_id": key, "failures": {"$lt": below}, **current},
                {"$inc": {"failures": 1}, "$max": {"last_at": now}},
                projection={"failures": 1, "since": 1}, return_document=ReturnDocument.AFTER)
            if doc is not None:
                _log_lock(doc["failures"], everyone)
                return doc["since"]
            # Else what the record says decides, compare-and-swap.
            doc = with_retries(lambda: self.failures.find_one({"_id": key}))
            if doc is None:
                try:
                    self.failures.insert_one({"_id": key, "username": key if everyone else
                                              key["u"], "failures": 1, "since": now,
                                              "last_at": now})
                    return now
                except DuplicateKeyError:
                    continue  # another attempt made it first: count on top of it
            refused = _refusal(doc, now, everyone)
            if refused is not None:
                raise refused
            stale = _stale(doc, now, everyone)
            change = {"$set": {"failures": 1, "since": now, "last_at": now}} if stale else \
                {"$inc": {"failures": 1}, "$max": {"last_at": now}}
            if self.failures.update_one({"_id": key, **{f: doc[f] for f in (
                    "failures", "since", "last_at")}}, change).modified_count:
                _log_lock(1 if stale else doc["failures"] + 1, everyone)
                return now if stale else doc["since"]
        raise LoginThrottled(1)  # this many attempts at once are not a person typing

    def _take_back(self, key: Key, since: datetime) -> Optional[dict[str, Any]]:
        """Uncount an attempt (of the count begun ``since``) that was no failure after all."""
        return self.failures.find_one_and_update(
            {"_id": key, "since": since, "failures": {"$gt": 0}}, {"$inc": {"failures": -1}},
            return_document=ReturnDocument.AFTER)

    def clear_failures(self, username: str) -> int:
        """Forget every failed login of a username (all addresses): its locks end."""
        return self.failures.delete_many({"username": normalize_username(username)}).deleted_count

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except VerificationError:
            return False
        except InvalidHashError:
            logger.error("a console account has an unreadable password hash")
            return False

    def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))
        return self._dummy_hash

    def _rehash_if_needed(self, doc: dict[str, Any], password: str) -> None:
        if self._hasher.check_needs_rehash(doc["password_hash"]):
            self.collection.update_one(
                {"_id": doc["_id"], "password_hash": doc["password_hash"]},
                {"$set": {"password_hash": self._hasher.hash(password)}})
            logger.info("password hash of console account %s upgraded", doc["_id"])

    def get(self, account_id: str) -> Optional[Account]:
        """The account with this id, or None."""
        doc = with_retries(lambda: self.collection.find_one({"_id": account_id}))
        return self._with_failures([doc])[0] if doc else None

    def by_username(self, username: str) -> Optional[Account]:
        """The account with this username (any case, spaces around ignored), or None."""
        name = normalize_username(username)
        doc = with_retries(lambda: self.collection.find_one({"username": name}))
        return self._with_failures([doc])[0] if doc else None

    def list(self, business_id: Optional[str] = None) -> list[Account]:
        """Every account (of one business when given), by business then username."""
        query = {} if business_id is None else {"business_id": business_id}
        docs = with_retries(lambda: list(self.collection.find(query).sort(
            [("business_id", ASCENDING), ("username", ASCENDING)])))
        return self._with_failures(docs)

    def _with_failures(self, docs: list[dict[str, Any]]) -> list[Account]:
        """The accounts with their usernames' failures from every address."""
        names = [d["username"] for d in docs]
        records = {r["_id"]: r for r in with_retries(lambda: list(self.failures.find(
            {"_id": {"$in": names}}))) } if names else {}
        return [_account(d, records.get(d["username"])) for d in docs]

    def reset_password(self, username: str, password: str) -> Account:
        """Set a new password and forget the username's failures (its locks end, for every
        address); ``AccountError`` if unknown."""
        validate_password(password)
        account = self._update(username, {"password_hash": self._hasher.hash(password)})
        self.clear_failures(account.username)
        return replace(account, failed_logins=0, last_failed_at=None)

    def unlock(self, username: str) -> Account:
        """Forget the username's failures, keeping the password; ``AccountError`` if unknown."""
        account = self.by_username(username)
        if account is None:
            raise AccountError(f"No account with username {normalize_username(username)!r}.")
        self.clear_failures(account.username)
        logger.info("console account %s unlocked", account.id)
        return replace(account, failed_logins=0, last_failed_at=None)

    def set_role(self, username: str, role: str) -> Account:
        """Change the role (sessions keep the old one: end them); ``AccountError`` if unknown."""
        validate_role(role)
        return self._update(username, {"role": role})

    def _update(self, username: str, fields: dict[str, Any]) -> Account:
        name = normalize_username(username)
        doc = self.collection.find_one_and_update(
            {"username": name}, {"$set": fields}, return_document=ReturnDocument.AFTER)
        if doc is None:
            raise AccountError(f"No account with username {name!r}.")
        logger.info("console account %s changed: %s", doc["_id"],
                    ", ".join(k for k in fields if k != "password_hash") or "password")
        return _account(doc)

    def remove(self, username: str) -> bool:
        """Delete the account; False when there was none."""
        doc = self.collection.find_one_and_delete({"username": normalize_username(username)})
        if doc is not None:
            logger.info("console account %s removed", doc["_id"])
        return doc is not None

    def count(self, business_id: str) -> int:
        """How many accounts a business has."""
        return with_retries(lambda: self.collection.count_documents({"business_id": business_id}))


def ensure_local_owners(accounts: Accounts,
                        businesses: list[tuple[str, str]]) -> list[tuple[str, str, str]]:
    """Give every business without any account an owner ``owner@<business_id>`` with a random
    password; returns ``(business_id, username, password)`` of those created (print them once)."""
    created: list[tuple[str, str, str]] = []
    for business_id, business_name in businesses:
        if accounts.count(business_id) > 0:
            continue
        username, password = f"owner@{business_id}", secrets.token_urlsafe(12)
        try:
            accounts.create(business_id, username, password, OWNER)
        except AccountError as exc:  # e.g. another process created it just now
            logger.warning("no owner account created for %s: %s", business_name, exc)
            continue
        created.append((business_id, normalize_username(username), password))
    return created
