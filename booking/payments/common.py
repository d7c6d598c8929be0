"""Shared types, states and settings of the payment modules (no I/O here but ``Context``)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timezone
import logging
from typing import Any, Callable, Optional

from pymongo.database import Database

from booking.bookings import BookingService
from booking.db import with_retries
from booking.errors import BookingError
from booking.xendit import XenditClient, XenditError

logger = logging.getLogger(__name__)

# Payment (invoice attempt) states: CREATING → PENDING → PAID | EXPIRED.
CREATING, PENDING, PAID, LAPSED = "CREATING", "PENDING", "PAID", "EXPIRED"
# What a paid or lapsed payment meant for its booking (set once).
OUTCOME_CONFIRMED, OUTCOME_REFUND, OUTCOME_WITHDRAWN = "confirmed", "refund_needed", "withdrawn"
# Customer notices.
NOTICE_PAID, NOTICE_EXPIRED, NOTICE_REFUND, NOTICE_LINK = "paid", "expired", "refund", "link"
# Payout states (see ``booking.payments.payouts``).
SCHEDULED, REQUESTED, SUCCEEDED, FAILED = "SCHEDULED", "REQUESTED", "SUCCEEDED", "FAILED"
PAYOUT_CANCELLED = "CANCELLED"
# Refund states (see ``booking.payments.refunds``): NEEDED, then REQUESTED, SUCCEEDED, FAILED.
NEEDED = "NEEDED"

_DAY_SECONDS = 86400


class CallbackError(BookingError):
    """A callback body that cannot be a Xendit invoice callback."""


def parse_instant(raw: Any) -> Optional[datetime]:
    """Xendit's ISO-8601 instants (``2026-11-23T03:30:00.000Z``), as aware UTC."""
    if not isinstance(raw, str) or not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class PaymentSettings:
    """``INVOICE_DURATION_MINUTES``, ``PUBLIC_BASE_URL``, payout limits,
    ``XENDIT_CREATE_GRACE_SECONDS`` and ``DATA_RETENTION_DAYS``, from the env."""

    invoice_duration_minutes: int = 30
    public_base_url: str = "http://localhost:5005"
    payout_transfer_attempts: int = 3
    create_grace_seconds: int = 120  # an invoice creation may still be in flight that long
    retention_days: int = 90  # callbacks and notices are removed this long after they came

    @classmethod
    def from_env(cls) -> "PaymentSettings":
        """Settings from the environment; unset or empty variables keep the defaults."""
        env = os.environ
        return cls(invoice_duration_minutes=int(env.get("INVOICE_DURATION_MINUTES")
                                                or cls.invoice_duration_minutes),
                   public_base_url=(env.get("PUBLIC_BASE_URL") or cls.public_base_url).rstrip("/"),
                   payout_transfer_attempts=int(env.get("PAYOUT_TRANSFER_ATTEMPTS")
                                                or cls.payout_transfer_attempts),
                   create_grace_seconds=int(env.get("XENDIT_CREATE_GRACE_SECONDS")
                                            or cls.create_grace_seconds),
                   retention_days=int(env.get("DATA_RETENTION_DAYS") or cls.retention_days))

    @property
    def retention_seconds(self) -> int:
        """``retention_days`` in seconds (a TTL index's ``expireAfterSeconds``)."""
        return self.retention_days * _DAY_SECONDS


@dataclass(frozen=True)
class Conversation:
    """Where to tell the customer about their payment."""

    sender_id: str
    channel: str = ""
    business_id: str = ""
    phone_number_id: Optional[str] = None
    language: str = "en"  # the customer's, for what Xendit shows them (the invoice's lines)


@dataclass(frozen=True)
class Payment:
    """One invoice attempt for a booking."""

    id: str
    code: str
    amount: int
    currency: str
    state: str
    invoice_id: Optional[str]
    invoice_url: Optional[str]
    expires_at: Optional[datetime]
    outcome: Optional[str]
    receipt_token: Optional[str]

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> "Payment":
        """A payment from its ``payments`` document."""
        return cls(id=doc["_id"], code=doc["code"], amount=doc["amount"],
                   currency=doc["currency"], state=doc["state"], invoice_id=doc.get("invoice_id"),
                   invoice_url=doc.get("invoice_url"), expires_at=doc.get("expires_at"),
                   outcome=doc.get("outcome"), receipt_token=doc.get("receipt_token"))


class Context:
    """What every payment module shares: the core (and its one clock), Xendit, settings."""

    def __init__(self, core: BookingService, client: XenditClient,
                 settings: PaymentSettings) -> None:
        self.core, self.client, self.settings = core, client, settings

    @property
    def db(self) -> Database:
        """The core's database."""
        return self.core.db

    def follow_requested(self, collection: str, id_field: str,
                         read: Callable[[str], dict[str, Any]],
                         apply: Callable[[dict[str, Any], dict[str, Any]], None]) -> int:
        """Read each REQUESTED document's object from Xendit (``read(doc[id_field])``) and
        ``apply`` its status; how many were read (one that cannot be read waits)."""
        docs = with_retries(lambda: list(self.db[collection].find({"state": REQUESTED})))
        for doc in docs:
            try:
                answer = read(doc[id_field])
            except XenditError as exc:
                logger.warning("cannot read %s %s: %s", collection[:-1], doc["_id"], exc)
                continue
            apply(doc, answer)
        return len(docs)

    def now(self) -> datetime:
        """The core's clock: one time for bookings and payments."""
        return self.core.clock()
