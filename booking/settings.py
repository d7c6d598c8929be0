"""Settings of the core, read from the environment (defaults work locally)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping, Optional


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"environment variable {name} must be an integer, got {raw!r}") from exc


@dataclass(frozen=True)
class Settings:
    """Knobs of booking rules and storage."""

    mongodb_url: str = "mongodb://127.0.0.1:27017/?replicaSet=rs0"
    mongodb_db: str = "booking"
    min_notice_minutes: int = 120
    horizon_days: int = 60
    slot_minutes: int = 15
    session_expiration_minutes: int = 15
    max_unpaid_holds: int = 3  # per customer and business; 0: no limit
    max_upcoming: int = 10  # upcoming active bookings per customer and business; 0: no limit
    max_payment_attempts: int = 3  # payment links ("Pay again") per booking; 0: no limit
    hold_minutes: int = 30  # an unpaid booking holds its time this long (the invoice duration)
    data_retention_days: int = 90  # callbacks, notices (and other logs) are removed after it
    waitlist_hold_minutes: int = 10  # a freed time is held this long for a waiting customer

    @classmethod
    def from_env(cls) -> "Settings":
        """Build settings from ``MONGODB_URL``, ``MONGODB_DB`` and the booking-rule variables
        (``BOOKING_*``, ``INVOICE_DURATION_MINUTES``, ``DATA_RETENTION_DAYS``,
        ``WAITLIST_HOLD_MINUTES``)."""
        return cls(
            mongodb_url=os.environ.get("MONGODB_URL") or cls.mongodb_url,
            mongodb_db=os.environ.get("MONGODB_DB") or cls.mongodb_db,
            min_notice_minutes=_int_env("BOOKING_MIN_NOTICE_MINUTES", cls.min_notice_minutes),
            horizon_days=_int_env("BOOKING_HORIZON_DAYS", cls.horizon_days),
            slot_minutes=_int_env("BOOKING_SLOT_MINUTES", cls.slot_minutes),
            session_expiration_minutes=_int_env(
                "SESSION_EXPIRATION_MINUTES", cls.session_expiration_minutes
            ),
            max_unpaid_holds=_int_env("BOOKING_MAX_UNPAID_HOLDS", cls.max_unpaid_holds),
            max_upcoming=_int_env("BOOKING_MAX_UPCOMING", cls.max_upcoming),
            max_payment_attempts=_int_env("BOOKING_MAX_PAYMENT_ATTEMPTS",
                                          cls.max_payment_attempts),
            hold_minutes=_int_env("INVOICE_DURATION_MINUTES", cls.hold_minutes),
            data_retention_days=_int_env("DATA_RETENTION_DAYS", cls.data_retention_days),
            waitlist_hold_minutes=_int_env("WAITLIST_HOLD_MINUTES", cls.waitlist_hold_minutes),
        )


def production(env: Optional[Mapping[str, str]] = None) -> bool:
    """Whether ``PRODUCTION`` asks for the public channels only (WhatsApp, Xendit): REST and
    socket.io off, no CORS for browsers (SECURITY.md)."""
    value = (env if env is not None else os.environ).get("PRODUCTION") or ""
    return value.strip().lower() in {"1", "true", "yes", "on"}
