"""Console accounts: one login per person, each for one business, with a role and
argon2-hashed password; failed logins are throttled, then lock the account for a while."""
from __future__ import annotations

import logging
import math
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pymongo import ASCENDING, ReturnDocument
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from booking.db import with_retries

logger = logging.getLogger(__name__)

OWNER = "owner"  # everything
STAFF = "staff"  # calendar and bookings
ROLES = (OWNER, STAFF)

THROTTLE_AFTER = 3  # consecutive failures before each further attempt has to wait
LOCK_AFTER = 8  # consecutive failures that lock the account
LOCK_MINUTES = 15
MAX_DELAY_SECONDS = 60
MIN_PASSWORD, MAX_PASSWORD = 10, 256
_USERNAME = re.compile(r"[a-z0-9._@-]{3,64}")


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
    failed_logins: int = 0
    last_failed_at: Optional[datetime] = None

    @property
    def locked_until(self) -> Optional[datetime]:
        """End of the lock the failures put on the account (may lie in the past), if any."""
        if self.failed_logins >= LOCK_AFTER and self.last_failed_at is not None:
            return self.last_failed_at + timedelta(minutes=LOCK_MINUTES)
        return None

    def is_locked(self, now: datetime) -> bool:
        """Whether logins are refused at ``now`` because of repeated failures."""
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


def _account(doc: dict[str, Any]) -> Account:
    return Account(id=doc["_id"], business_id=doc["business_id"], username=doc["username"],
                   role=doc["role"], created_at=doc["created_at"],
                   failed_logins=doc.get("failed_logins", 0),
                   last_failed_at=doc.get("last_failed_at"))


class Accounts:
    """The ``console_accounts`` collection: usernames are unique across all businesses."""

    def __init__(self, db: Database, *, time_cost: Optional[int] = None,
                 memory_cost: Optional[int] = None, parallelism: Optional[int] = None,
                 hasher: Optional[PasswordHasher] = None) -> None:
        """Argon2 parameters default to argon2-cffi's; ``hasher`` replaces them entirely."""
        self.collection = db.console_accounts
        if hasher is None:
            params = {k: v for k, v in (("time_cost", time_cost), ("memory_cost", memory_cost),
                                        ("parallelism", parallelism)) if v is not None}
            hasher = PasswordHasher(**params)
        self._hasher = hasher
        self._dummy_hash: Optional[str] = None

    def ensure_indexes(self) -> None:
        """The unique username index and the per-business index; safe to call repeatedly."""
        self.collection.create_index("username", unique=True)
        self.collection.create_index([("business_id", ASCENDING), ("username", ASCENDING)])

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
               "created_at": now or datetime.now(timezone.utc), "failed_logins": 0,
               "last_failed_at": None}
        try:
            self.collection.insert_one(doc)
        except DuplicateKeyError:
            raise AccountError(f"The username {name!r} is already taken.") from None
        logger.info("console account %s created for %s (%s)", doc["_id"], business_id, role)
        return _account(doc)

    def authenticate(self, username: str, password: str, now: datetime) -> Account:
        """The account when the password is right; else a ``LoginRefused`` subclass.

        Locked or throttled accounts are refused before the password is checked; an unknown
        username costs one verification against a dummy hash, like a wrong password.
        """
        name = normalize_username(username)
        doc = with_retries(lambda: self.collection.find_one({"username": name}))
        if doc is None:
            self._verify(self._dummy(), password)
            logger.info("console login refused: unknown username")
            raise LoginFailed()
        self._check_allowed(doc, now)
        if not self._verify(doc["password_hash"], password):
            self._record_failure(doc["_id"], now)
            raise LoginFailed()
        self.collection.update_one({"_id": doc["_id"]},
                                   {"$set": {"failed_logins": 0, "last_failed_at": None}})
        self._rehash_if_needed(doc, password)
        logger.info("console login of account %s", doc["_id"])
        return _account({**doc, "failed_logins": 0, "last_failed_at": None})

    def _check_allowed(self, doc: dict[str, Any], now: datetime) -> None:
        """Refuse a locked or throttled account; else claim the attempt (compare-and-swap)."""
        account = _account(doc)
        failures, last, until = account.failed_logins, account.last_failed_at, account.locked_until
        if until is not None and now < until:
            raise AccountLocked(until)
        if failures < THROTTLE_AFTER or last is None:
            return
        if failures < LOCK_AFTER:
            wait = last + throttle_delay(failures) - now
            if wait > timedelta(0):
                raise LoginThrottled(max(1, math.ceil(wait.total_seconds())))
        # One attempt at a time once throttled: stamp the attempt as a failure first, so that
        # parallel attempts are refused until this one's outcome is known.
        claimed = self.collection.update_one(
            {"_id": doc["_id"], "failed_logins": failures, "last_failed_at": last},
            {"$set": {"last_failed_at": now}})
        if claimed.modified_count == 0:
            raise LoginThrottled(max(1, math.ceil(throttle_delay(failures).total_seconds())))

    def _record_failure(self, account_id: str, now: datetime) -> None:
        """Count a failure atomically; the 8th in a row locks the account."""
        after = self.collection.find_one_and_update(
            {"_id": account_id}, {"$inc": {"failed_logins": 1}, "$set": {"last_failed_at": now}},
            projection={"failed_logins": 1}, return_document=ReturnDocument.AFTER)
        failures = after["failed_logins"] if after else 0
        if failures == LOCK_AFTER:
            logger.warning("console account %s locked after %d failed logins",
                           account_id, failures)
        else:
            logger.info("console login of account %s failed (%d in a row)", account_id, failures)

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
        return _account(doc) if doc else None

    def by_username(self, username: str) -> Optional[Account]:
        """The account with this username (any case, spaces around ignored), or None."""
        name = normalize_username(username)
        doc = with_retries(lambda: self.collection.find_one({"username": name}))
        return _account(doc) if doc else None

    def list(self, business_id: Optional[str] = None) -> list[Account]:
        """Every account (of one business when given), by business then username."""
        query = {} if business_id is None else {"business_id": business_id}
        docs = with_retries(lambda: list(self.collection.find(query).sort(
            [("business_id", ASCENDING), ("username", ASCENDING)])))
        return [_account(d) for d in docs]

    def reset_password(self, username: str, password: str) -> Account:
        """Set a new password and clear failures and lock; ``AccountError`` if unknown."""
        validate_password(password)
        return self._update(username, {"password_hash": self._hasher.hash(password),
                                       "failed_logins": 0, "last_failed_at": None})

    def unlock(self, username: str) -> Account:
        """Clear failures and lock, keeping the password; ``AccountError`` if unknown."""
        return self._update(username, {"failed_logins": 0, "last_failed_at": None})

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
