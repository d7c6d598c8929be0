"""Wiring for processes that serve customers: one BookingService per process, from the env."""
from __future__ import annotations

import logging
import threading
import time
from functools import lru_cache

from pymongo.database import Database
from pymongo.errors import PyMongoError

from booking.availability import Rules
from booking.bookings import BookingService
from booking.catalog import Catalog, CatalogRepository
from booking.db import connect, ensure_indexes
from booking.errors import DatabaseUnavailableError, SeedDataError
from booking.limits import CustomerLimits
from booking.settings import Settings
from datetime import timedelta

logger = logging.getLogger(__name__)


class CachedCatalog:
    """A catalog snapshot, reloaded when the stored catalog's version changes (checked at
    most once per ``check_seconds``: one tiny read) or after ``ttl_seconds`` anyway; call it
    for the snapshot."""

    def __init__(self, db: Database, ttl_seconds: float = 300.0,
                 check_seconds: float = 1.0) -> None:
        self.repository = CatalogRepository(db)
        self.ttl = ttl_seconds
        self.check_seconds = check_seconds
        self._lock = threading.Lock()
        self._snapshot: Catalog | None = None
        self._version = -1
        self._loaded_at = 0.0
        self._checked_at = 0.0

    def invalidate(self) -> None:
        """Check the stored version on the next call (after this process edited it); never
        waits for a load in progress (an attribute write is atomic)."""
        self._checked_at = 0.0

    def __call__(self) -> Catalog:
        snapshot = self._snapshot
        if snapshot is not None and time.monotonic() - self._checked_at < self.check_seconds:
            return snapshot
        # One thread checks; the others keep serving the snapshot they have meanwhile (so a
        # slow or unreachable database never queues every turn behind the check).
        if not self._lock.acquire(blocking=snapshot is None):
            return snapshot
        try:
            if self._snapshot is not None and (
                    time.monotonic() - self._checked_at < self.check_seconds):
                return self._snapshot
            try:
                self._refresh()
            except (PyMongoError, DatabaseUnavailableError):
                if self._snapshot is None:
                    raise
                logger.warning("cannot check the catalog: serving the snapshot meanwhile")
            self._checked_at = time.monotonic()
            return self._snapshot
        finally:
            self._lock.release()

    def _refresh(self) -> None:
        now = time.monotonic()
        version = self.repository.version()
        if self._snapshot is None or version != self._version or now - self._loaded_at > self.ttl:
            try:
                self._snapshot = self.repository.load()
            except SeedDataError:
                if self._snapshot is None:
                    raise
                logger.error("the stored catalog is invalid: serving the last good one")
            self._version, self._loaded_at = version, now


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
