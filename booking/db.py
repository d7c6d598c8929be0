"""MongoDB access: the client, indexes, transient-error retries and transactions."""
from __future__ import annotations

import logging
import random
import time
from typing import Any, Callable, Optional, TypeVar

from bson.codec_options import CodecOptions
from datetime import timezone
from pymongo import ASCENDING, MongoClient, ReadPreference
from pymongo.client_session import ClientSession
from pymongo.database import Database
from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from booking.errors import DatabaseUnavailableError

logger = logging.getLogger(__name__)
T = TypeVar("T")

# Server error codes meaning "try again": step-downs, shutdowns, elections.
_TRANSIENT_CODES = frozenset({6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436})
WRITE_CONFLICT = 112


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
    db.order_events.create_index([("business_id", ASCENDING), ("at", ASCENDING)])
    db.order_events.create_index([("order_id", ASCENDING), ("at", ASCENDING)])


def is_transient(exc: BaseException) -> bool:
    """Whether an error is a passing database fault worth retrying."""
    if isinstance(exc, ConnectionFailure):  # includes AutoReconnect, NotPrimaryError, timeouts
        return True
    if isinstance(exc, OperationFailure):
        if exc.code == WRITE_CONFLICT:
            return False  # handled by the transaction loop, not counted as an outage
        return exc.code in _TRANSIENT_CODES or exc.has_error_label("RetryableWriteError")
    return False


def is_write_conflict(exc: BaseException) -> bool:
    """Whether a transaction lost a race for a document and should simply run again."""
    if not isinstance(exc, PyMongoError):
        return False
    if isinstance(exc, OperationFailure) and exc.code == WRITE_CONFLICT:
        return True
    return exc.has_error_label("TransientTransactionError") and not isinstance(
        exc, ConnectionFailure
    )


def with_retries(
    operation: Callable[[], T],
    attempts: int = 3,
    base_delay: float = 0.1,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``operation``, retrying transient database errors with exponential backoff.

    Validation and conflict errors are raised at once. After ``attempts`` failures the last
    transient error becomes ``DatabaseUnavailableError``.
    """
    for attempt in range(1, attempts + 1):
        try:
            return operation()
        except PyMongoError as exc:
            if not is_transient(exc):
                raise
            if attempt == attempts:
                raise DatabaseUnavailableError(f"database unavailable: {exc}") from exc
            delay = base_delay * 2 ** (attempt - 1)
            logger.warning("transient database error (attempt %d/%d), retrying in %.0f ms: %s",
                           attempt, attempts, delay * 1000, exc)
            sleep(delay)
    raise AssertionError("unreachable")


def run_transaction(
    db: Database,
    body: Callable[[ClientSession], T],
    max_conflict_retries: int = 30,
) -> T:
    """Run ``body`` in a transaction; write conflicts re-run it after a short random pause.

    Errors raised by ``body`` (duplicate keys, typed booking errors) abort the transaction and
    propagate. A commit whose outcome is unknown is retried as a commit, never re-executed.
    """
    client = db.client
    for attempt in range(max_conflict_retries + 1):
        with client.start_session() as session:
            try:
                session.start_transaction(
                    read_concern=ReadConcern("snapshot"), write_concern=WriteConcern("majority")
                )
                result = body(session)
                _commit(session)
                return result
            except PyMongoError as exc:
                if session.in_transaction:
                    _abort_quietly(session)
                if is_write_conflict(exc) and attempt < max_conflict_retries:
                    time.sleep(random.uniform(0, 0.002 * 2 ** min(attempt, 5)))
                    continue
                raise
            except BaseException:
                if session.in_transaction:
                    _abort_quietly(session)
                raise
    raise AssertionError("unreachable")


def _commit(session: ClientSession) -> None:
    for attempt in range(3):
        try:
            session.commit_transaction()
            return
        except PyMongoError as exc:
            if exc.has_error_label("UnknownTransactionCommitResult") and attempt < 2:
                continue
            raise


def _abort_quietly(session: ClientSession) -> None:
    try:
        session.abort_transaction()
    except PyMongoError:  # the server aborts on its own; nothing to add
        pass


def first_or_none(cursor: Any) -> Optional[dict]:
    """The first document of a cursor, or None."""
    for doc in cursor:
        return doc
    return None
