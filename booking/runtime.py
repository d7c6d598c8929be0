"""Wiring for processes that serve customers: one BookingService per process, from the env."""
from __future__ import annotations

import threading
import time
from functools import lru_cache

from pymongo.database import Database

from booking.availability import Rules
from booking.bookings import BookingService
from booking.catalog import Catalog, CatalogRepository
from booking.db import connect, ensure_indexes
from booking.limits import CustomerLimits
from booking.settings import Settings
from datetime import timedelta


class CachedCatalog:
    """Reads the catalog from MongoDB at most once per ``ttl_seconds``; call it for a snapshot."""

    def __init__(self, db: Database, ttl_seconds: float = 60.0) -> None:
        self.repository = CatalogRepository(db)
        self.ttl = ttl_seconds
        self._lock = threading.Lock()
        self._snapshot: Catalog | None = None
        self._loaded_at = 0.0

    def __call__(self) -> Catalog:
        with self._lock:
            if self._snapshot is None or time.monotonic() - self._loaded_at > self.ttl:
                self._snapshot = self.repository.load()
                self._loaded_at = time.monotonic()
            return self._snapshot


def rules_from(settings: Settings) -> Rules:
    """Booking rules from settings."""
    return Rules(min_notice=timedelta(minutes=settings.min_notice_minutes),
                 horizon=timedelta(days=settings.horizon_days),
                 slot_minutes=settings.slot_minutes)


def limits_from(settings: Settings) -> CustomerLimits:
    """Per-customer limits from settings."""
    return CustomerLimits(max_unpaid_holds=settings.max_unpaid_holds,
                          max_upcoming=settings.max_upcoming,
                          max_payment_attempts=settings.max_payment_attempts)


@lru_cache(maxsize=1)
def booking_service() -> BookingService:
    """The process-wide booking service configured from the environment."""
    settings = Settings.from_env()
    db = connect(settings.mongodb_url, settings.mongodb_db)
    ensure_indexes(db)
    return BookingService(db, CachedCatalog(db), rules_from(settings),
                          limits=limits_from(settings),
                          hold=timedelta(minutes=settings.hold_minutes))


@lru_cache(maxsize=1)
def payment_service() -> "PaymentService":
    """The process-wide payment service (Xendit settings from the environment)."""
    from booking.payments import PaymentService, PaymentSettings
    from booking.xendit import XenditClient, XenditConfig

    payments = PaymentService(booking_service(), XenditClient(XenditConfig.from_env()),
                              PaymentSettings.from_env())
    payments.ensure_indexes()
    return payments
