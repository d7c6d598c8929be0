"""Console login sessions in MongoDB: a random cookie token (only its SHA-256 is stored), a
per-session CSRF token, a sliding idle expiry under an absolute one."""
from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Optional

from pymongo.database import Database

from booking.db import ensure_ttl_index, with_retries
from console.accounts import Account

logger = logging.getLogger(__name__)

# A session's expiry moves forward on use, but is written at most this often.
_SLIDE_GRANULARITY = timedelta(minutes=1)


def token_hash(token: str) -> str:
    """The stored key of a cookie token: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Session:
    """A logged-in account, as of login time (role and username included)."""

    account_id: str
    business_id: str
    role: str
    username: str
    csrf_token: str = field(repr=False)
    created_at: datetime
    expires_at: datetime


def _session(doc: dict[str, Any]) -> Session:
    return Session(account_id=doc["account_id"], business_id=doc["business_id"],
                   role=doc["role"], username=doc["username"], csrf_token=doc["csrf_token"],
                   created_at=doc["created_at"], expires_at=doc["expires_at"])


class Sessions:
    """The ``console_sessions`` collection: idle expiry ``idle_minutes``, at most
    ``absolute_hours`` after login whatever the use."""

    def __init__(self, db: Database, idle_minutes: int = 480, absolute_hours: int = 24) -> None:
        """Sessions in ``db``; both lifetimes must be positive."""
        if idle_minutes <= 0 or absolute_hours <= 0:
            raise ValueError("session lifetimes must be positive")
        self.collection = db.console_sessions
        self.idle = timedelta(minutes=idle_minutes)
        self.absolute = timedelta(hours=absolute_hours)

    def ensure_indexes(self) -> None:
        """The TTL index on ``expires_at`` (clean-up only) and the per-account index."""
        ensure_ttl_index(self.collection, "expires_at", 0)
        self.collection.create_index("account_id")

    def create(self, account: Account, now: datetime,
               replacing: Optional[str] = None) -> tuple[str, Session]:
        """Log ``account`` in: the cookie token (never stored as is) and the session. The
        session of ``replacing``, the cookie token the browser came with, ends first (a token
        planted before login is never the one that is signed in)."""
        if replacing and self.end(replacing):
            logger.info("console session replaced by a new login of account %s", account.id)
        token = secrets.token_urlsafe(32)
        doc = {"_id": token_hash(token), "account_id": account.id,
               "business_id": account.business_id, "role": account.role,
               "username": account.username, "csrf_token": secrets.token_urlsafe(32),
               "created_at": now, "expires_at": min(now + self.idle, now + self.absolute)}
        self.collection.insert_one(doc)
        logger.info("console session started for account %s", account.id)
        return token, _session(doc)

    def get(self, token: Optional[str], now: datetime) -> Optional[Session]:
        """The live session of a cookie token, its expiry pushed forward; None when the token
        is unknown or the session expired (checked here, not left to the TTL monitor)."""
        if not token:
            return None
        key = token_hash(token)
        doc = with_retries(lambda: self.collection.find_one({"_id": key}))
        if doc is None:
            return None
        hard_end = doc["created_at"] + self.absolute
        if now >= doc["expires_at"] or now >= hard_end:
            self.collection.delete_one({"_id": key, "expires_at": doc["expires_at"]})
            return None
        new_expiry = min(now + self.idle, hard_end)
        if new_expiry - doc["expires_at"] >= _SLIDE_GRANULARITY:
            # $max: a concurrent request that pushed further is never pulled back.
            self.collection.update_one({"_id": key}, {"$max": {"expires_at": new_expiry}})
            doc["expires_at"] = new_expiry
        return _session(doc)

    def csrf_ok(self, session: Session, submitted: Optional[str]) -> bool:
        """``csrf_ok`` of this module, as a method for callers holding only ``Sessions``."""
        return csrf_ok(session, submitted)

    def end(self, token: Optional[str]) -> bool:
        """Log out: forget this token's session; False when there was none."""
        if not token:
            return False
        return self.collection.delete_one({"_id": token_hash(token)}).deleted_count == 1

    def end_all(self, account_id: str) -> int:
        """End every session of an account (password reset, removal, role change)."""
        count = self.collection.delete_many({"account_id": account_id}).deleted_count
        if count:
            logger.info("%d console session(s) of account %s ended", count, account_id)
        return count


def csrf_ok(session: Session, submitted: Optional[str]) -> bool:
    """Whether a submitted form's CSRF token is the session's (constant-time comparison)."""
    if not submitted:
        return False
    return hmac.compare_digest(session.csrf_token.encode("utf-8"), submitted.encode("utf-8"))
