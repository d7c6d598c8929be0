"""MongoDB access: the client, indexes and transient-error retries."""
from __future__ import annotations

import logging
import time
from typing import Any, Callable, TypeVar

from bson.codec_options import CodecOptions
from datetime import timezone
from pymongo import ASCENDING, MongoClient, ReadPreference
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import ConnectionFailure, DuplicateKeyError, OperationFailure, PyMongoError
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from booking import metrics
from booking.errors import DatabaseUnavailableError
from booking.retry import Backoff, retry

logger = logging.getLogger(__name__)
T = TypeVar("T")

# Server error codes meaning "try again": step-downs, shutdowns, elections.
_MAX_DELAY_SECONDS = 30.0
_TRANSIENT_CODES = frozenset({6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436})


def connect(url: str, db_name: str, **client_options: Any) -> Database:
    """A database handle whose datetimes come back as aware UTC instants."""
    options: dict[str, Any] = {"serverSelectionTimeoutMS": 5000, "connectTimeoutMS": 5000}
    options.update(client_options)
    client: MongoClient = MongoClient(url, tz_aware=True, tzinfo=timezone.utc, **options)
    return client.get_database(
        db_name,
        codec_options=CodecOptions(tz_aware=True, tzinfo=timezone.utc),
        write_concern=WriteConcern("majority"),
        read_concern=ReadConcern("majority"),
        read_preference=ReadPreference.PRIMARY,
    )


def ensure_indexes(db: Database) -> None:
    """Create every index the core relies on; safe to call repeatedly."""
    db.bookings.create_index("code", unique=True)
    db.bookings.create_index("idempotency_key", unique=True, sparse=True)
    db.bookings.create_index([("staff_id", ASCENDING), ("occupied_start", ASCENDING)])
    db.bookings.create_index([("customer_id", ASCENDING), ("start", ASCENDING)])
    # The no-overlap guarantee: a claim cell "<staff>@<cell>" belongs to one active booking.
    db.bookings.create_index("cells", unique=True,
                             partialFilterExpression={"cells": {"$exists": True}})
    # The plan limit: usage slot n of a month is taken once (only limited businesses set it).
    db.bookings.create_index("usage_slot", unique=True,
                             partialFilterExpression={"usage_slot": {"$exists": True}})
    db.bookings.create_index([("business_id", ASCENDING), ("usage_month", ASCENDING)])
    db.bookings.create_index([("business_id", ASCENDING), ("start", ASCENDING)])  # the console
    db.bookings.create_index([("business_id", ASCENDING), ("updated_at", ASCENDING)])  # Sheets
    # Per-customer limits (booking.limits): slot n of a customer at a business is taken once.
    for field in ("hold_slot", "upcoming_slot"):
        db.bookings.create_index(field, unique=True,
                                 partialFilterExpression={field: {"$exists": True}})
    db.bookings.create_index([("customer_id", ASCENDING), ("business_id", ASCENDING)])
    # Holds past their end (reconciliation releases them).
    db.bookings.create_index([("status", ASCENDING), ("hold_until", ASCENDING)])
    from booking.conversations import Conversations  # (it imports this module)
    Conversations(db).ensure_indexes()  # who answers each customer: the bot or a person
    from booking.customer_prefs import CustomerLanguages
    CustomerLanguages(db).ensure_indexes()
    db.order_events.create_index([("business_id", ASCENDING), ("at", ASCENDING)])
    db.order_events.create_index([("order_id", ASCENDING), ("at", ASCENDING)])
    db.order_events.create_index([("data.code", ASCENDING), ("at", ASCENDING)])
    db.booking_notices.create_index([("state", ASCENDING), ("created_at", ASCENDING)])
    ensure_ttl_index(db.booking_notices, "created_at", 90 * 86400)  # told long ago
    # The scheduler (booking/scheduler.py): planning, claiming, a booking's messages.
    db.bookings.create_index([("status", ASCENDING), ("start", ASCENDING)])
    db.scheduled_messages.create_index([("state", ASCENDING), ("next_at", ASCENDING)])
    db.scheduled_messages.create_index([("code", ASCENDING), ("next_at", ASCENDING)])
    ensure_ttl_index(db.scheduled_messages, "expires_at", 30 * 86400)  # a month after its time
    db.feedback.create_index([("business_id", ASCENDING), ("at", ASCENDING)])
    claim_cells_in_utc(db)
    # The waiting list (booking/waitlist.py): the matcher, a customer's entries, an offer's
    # entry, retention; and the offers to tell.
    db.waitlist.create_index([("state", ASCENDING), ("joined_at", ASCENDING)])
    db.waitlist.create_index([("business_id", ASCENDING), ("customer_id", ASCENDING)])
    db.waitlist.create_index("offer.code", sparse=True)
    ensure_ttl_index(db.waitlist, "expires_at", 0)  # a month after its day (set per entry)
    db.waitlist_offers.create_index([("state", ASCENDING), ("created_at", ASCENDING)])
    ensure_ttl_index(db.waitlist_offers, "created_at", 30 * 86400)


def claim_cells_in_utc(db: Database) -> int:
    """Once per database: rewrite the claim cells of bookings made before cell ids were always
    UTC (a start given in Bali time claimed ``wayan@2026-11-25T10:00`` for what is
    ``02:00`` UTC, so it did not collide with a booking of the same instant given in UTC).
    A booking whose UTC cells are taken already overlaps another one of its staff member: it
    keeps its cells and is logged (by code) for the desk to move. Returns how many moved."""
    from booking.claims import claim_ids
    from pymongo.errors import DuplicateKeyError

    if db.migrations.find_one({"_id": "claim-cells-utc"}) is not None:
        return 0
    moved = overlapping = 0
    for doc in db.bookings.find({"cells": {"$exists": True}},
                                {"code": 1, "staff_id": 1, "occupied_start": 1,
                                 "occupied_end": 1, "cells": 1}):
        cells = claim_ids(doc["staff_id"], (doc["occupied_start"], doc["occupied_end"]))
        if cells == doc["cells"]:
            continue
        try:
            moved += db.bookings.update_one({"_id": doc["_id"], "cells": doc["cells"]},
                                            {"$set": {"cells": cells}}).modified_count
        except DuplicateKeyError:
            overlapping += 1
            logger.error("booking %s overlaps another booking of its staff member: move one",
                         doc.get("code"))
    db.migrations.update_one({"_id": "claim-cells-utc"}, {"$setOnInsert": {
        "moved": moved, "overlapping": overlapping}}, upsert=True)
    return moved


def is_transient(exc: BaseException) -> bool:
    """Whether an error is a passing database fault worth retrying."""
    if isinstance(exc, ConnectionFailure):  # includes AutoReconnect, NotPrimaryError, timeouts
        return True
    if isinstance(exc, OperationFailure):
        return exc.code in _TRANSIENT_CODES or exc.has_error_label("RetryableWriteError")
    return False


def with_retries(
    operation: Callable[[], T],
    attempts: int = 3,
    base_delay: float = 0.1,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``operation``, retrying transient database errors with exponential backoff.

    Validation and conflict errors are raised at once. After ``attempts`` failures the last
    transient error becomes ``DatabaseUnavailableError``. The waits follow ``booking.retry``.
    """
    policy = Backoff(base=base_delay, factor=2.0, cap=_MAX_DELAY_SECONDS, attempts=attempts)
    metrics.DB_OPERATIONS.inc()
    try:
        return retry(operation, is_transient, policy, sleep=sleep, what="database call")
    except PyMongoError as exc:
        if not isinstance(exc, DuplicateKeyError):  # (a repeat refused on purpose: no error)
            metrics.DB_ERRORS.inc()
        if is_transient(exc):
            raise DatabaseUnavailableError(f"database unavailable: {exc}") from exc
        raise


def ensure_ttl_index(collection: Collection, field: str, expire_after_seconds: int) -> None:
    """Documents of ``collection`` go ``expire_after_seconds`` after their ``field`` (a date):
    a TTL index, created, or changed in place (``collMod``) when it has another lifetime."""
    for name, info in collection.index_information().items():
        if info.get("key") == [(field, ASCENDING)]:
            if info.get("expireAfterSeconds") != expire_after_seconds:
                collection.database.command({"collMod": collection.name, "index": {
                    "keyPattern": {field: ASCENDING},
                    "expireAfterSeconds": expire_after_seconds}})
            return
    collection.create_index(field, expireAfterSeconds=expire_after_seconds,
                            name=f"{field}_ttl")
