"""The console's audit trail: who changed what, per business, with the fields before/after."""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Optional

from pymongo import ASCENDING, DESCENDING
from pymongo.database import Database

from booking.db import with_retries

logger = logging.getLogger(__name__)
MAX_RECENT = 1000


class AuditLog:
    """The ``console_audit`` collection (append-only)."""

    def __init__(self, db: Database) -> None:
        """The audit log stored in ``db``."""
        self.collection = db.console_audit

    def ensure_indexes(self) -> None:
        """The index behind ``recent``: business, newest first."""
        self.collection.create_index([("business_id", ASCENDING), ("at", DESCENDING)])

    def record(self, business_id: Optional[str], actor: str, action: str, target: str,
               before: Optional[dict[str, Any]], after: Optional[dict[str, Any]],
               at: datetime) -> None:
        """Append one entry; ``before``/``after`` hold only the changed fields (never secrets).

        Args:
            business_id: the business, or None for events outside any (a refused login).
            actor: who did it (a console username, or e.g. ``"admin-cli"``).
            action: what was done, e.g. ``"booking.cancel"``.
            target: what it was done to, e.g. a booking code or a username.
        """
        self.collection.insert_one({"business_id": business_id, "actor": actor,
                                    "action": action, "target": target, "before": before,
                                    "after": after, "at": at})
        logger.debug("audit %s %s on %s", business_id, action, target)

    def recent(self, business_id: str, limit: int = 100) -> list[dict[str, Any]]:
        """A business's latest entries, newest first (``id`` is the entry's id as text)."""
        if not 1 <= limit <= MAX_RECENT:
            raise ValueError(f"limit must be between 1 and {MAX_RECENT}")
        docs = with_retries(lambda: list(
            self.collection.find({"business_id": business_id})
            .sort([("at", DESCENDING), ("_id", DESCENDING)]).limit(limit)))
        return [{"id": str(d.pop("_id")), **d} for d in docs]
