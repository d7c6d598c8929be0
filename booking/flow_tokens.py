"""Flow tokens: unguessable, bound to one customer and business, expiring (MongoDB removes
each one at its ``expires_at``: a TTL index, made by the first token issued in a process and
by the WhatsApp channel at start)."""
from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Optional

from pymongo import ASCENDING
from pymongo.database import Database

from booking.db import with_retries
from booking.errors import BookingError
from booking.i18n import N_

TOKEN_TTL = timedelta(hours=1)
_indexed: set[tuple[int, str]] = set()  # (client, database) whose TTL index this process made
_indexing = threading.Lock()


class FlowTokenError(BookingError):
    """Unknown or expired flow token; ``language``: the customer's, when the token names one
    (the message is shown in the Flow, so the endpoint says it in that language)."""

    def __init__(self, message: str, language: Optional[str] = None) -> None:
        super().__init__(message)
        self.message, self.language = message, language


EXPIRED_FORM = N_("this booking form has expired; please ask for a new one")


@dataclass(frozen=True)
class FlowSession:
    """Who a Flow was sent to, for which business, and what they chose so far."""

    token: str
    customer_id: str
    business_id: str
    expires_at: datetime
    data: dict[str, Any]
    language: str = "en"  # the customer's when the form was sent


class FlowTokens:
    """Issues and checks flow tokens (MongoDB, expired ones removed by a TTL index)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def ensure_indexes(self) -> None:
        """TTL clean-up of expired tokens (once per database and process)."""
        key = (id(self.db.client), self.db.name)
        with _indexing:
            if key in _indexed:
                return
            with_retries(lambda: self.db.flow_tokens.create_index(
                [("expires_at", ASCENDING)], expireAfterSeconds=0))
            _indexed.add(key)

    def issue(self, customer_id: str, business_id: str, now: datetime,
              ttl: timedelta = TOKEN_TTL, language: str = "en") -> str:
        """A new token for one customer of one business (the form speaks ``language``)."""
        self.ensure_indexes()
        token = secrets.token_urlsafe(32)
        with_retries(lambda: self.db.flow_tokens.insert_one(
            {"_id": token, "customer_id": customer_id, "business_id": business_id,
             "expires_at": now + ttl, "data": {}, "language": language}))
        return token

    def check(self, token: Any, now: datetime) -> FlowSession:
        """The session of a valid token; ``FlowTokenError`` when unknown or expired."""
        if not isinstance(token, str) or not token or len(token) > 200:
            raise FlowTokenError("missing flow token")
        doc = with_retries(lambda: self.db.flow_tokens.find_one({"_id": token}))
        if doc is None:
            raise FlowTokenError("unknown flow token")
        if doc["expires_at"] <= now:
            raise FlowTokenError(EXPIRED_FORM, doc.get("language"))
        return FlowSession(token, doc["customer_id"], doc["business_id"], doc["expires_at"],
                           doc.get("data", {}), str(doc.get("language") or "en"))

    def remember(self, token: str, **data: Any) -> None:
        """Keep what the customer chose on a screen."""
        with_retries(lambda: self.db.flow_tokens.update_one(
            {"_id": token}, {"$set": {f"data.{k}": v for k, v in data.items()}}))
