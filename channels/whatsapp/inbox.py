"""The durable inbox: every inbound message is stored under its WhatsApp id before the webhook
answers 200, then processed in arrival order per customer, once.

Blocking pymongo calls; the channel runs them in worker threads.
"""
from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

from bson import ObjectId
from pymongo import ASCENDING, ReturnDocument
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from booking.db import with_retries
from channels.whatsapp.parse import Inbound, Status

logger = logging.getLogger(__name__)

RECEIVED, PROCESSING, DONE, FAILED = "received", "processing", "done", "failed"
LEASE = timedelta(minutes=2)


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Inbox:
    """Inbound messages, delivery statuses and outbound records of the WhatsApp channel."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def ensure_indexes(self) -> None:
        """Indexes for ordered claiming and recovery."""
        self.db.wa_inbox.create_index([("sender", ASCENDING), ("status", ASCENDING),
                                       ("seq", ASCENDING)])
        self.db.wa_inbox.create_index([("status", ASCENDING), ("lease_until", ASCENDING)])
        self.db.wa_choice_pages.create_index("created_at", expireAfterSeconds=7 * 86400)

    def record(self, message: Inbound, business_id: Optional[str]) -> bool:
        """Store a message; False when this id was already stored (a duplicate delivery)."""
        now = _now()
        # An ObjectId made here orders a customer's messages by arrival (time, then counter).
        doc = {"_id": message.message_id, **asdict(message), "business_id": business_id,
               "status": RECEIVED, "received_at": now, "seq": ObjectId(), "attempts": 0}
        del doc["message_id"]
        try:
            with_retries(lambda: self.db.wa_inbox.insert_one(doc))
            return True
        except DuplicateKeyError:
            return False

    def record_status(self, status: Status) -> bool:
        """Store a delivery receipt once (per message id and status); False for a replay."""
        try:
            with_retries(lambda: self.db.wa_statuses.insert_one(
                {"_id": f"{status.message_id}:{status.status}", **asdict(status),
                 "received_at": _now()}))
            return True
        except DuplicateKeyError:
            return False

    def claim_next(self, sender: str) -> Optional[dict[str, Any]]:
        """The customer's oldest unprocessed message, leased to the caller; None when none.

        A message stays claimed until ``finish``; one whose lease ran out (its process died
        mid-way) can be claimed again. One worker per customer calls this, so a customer's
        messages are handled one at a time in arrival order.
        """
        now = _now()
        return with_retries(lambda: self.db.wa_inbox.find_one_and_update(
            {"sender": sender, "$or": [{"status": RECEIVED},
                                       {"status": PROCESSING, "lease_until": {"$lt": now}}]},
            {"$set": {"status": PROCESSING, "lease_until": now + LEASE},
             "$inc": {"attempts": 1}},
            sort=[("seq", ASCENDING)], return_document=ReturnDocument.AFTER))

    def finish(self, message_id: str, ok: bool = True, error: str = "") -> None:
        """Mark a claimed message processed (or failed, with the reason)."""
        with_retries(lambda: self.db.wa_inbox.update_one(
            {"_id": message_id}, {"$set": {"status": DONE if ok else FAILED,
                                           "finished_at": _now(), "error": error[:500]},
                                  "$unset": {"lease_until": ""}}))

    def senders_with_work(self) -> list[str]:
        """Customers with recorded but unprocessed messages (for recovery after a restart)."""
        now = _now()
        return with_retries(lambda: self.db.wa_inbox.distinct("sender", {"$or": [
            {"status": RECEIVED}, {"status": PROCESSING, "lease_until": {"$lt": now}}]}))

    def record_outbound(self, wamid: Optional[str], to: str, kind: str, status: str,
                        error: str = "") -> None:
        """Keep what was sent (or why it was not)."""
        with_retries(lambda: self.db.wa_outbox.insert_one(
            {"wamid": wamid, "to": to, "type": kind, "status": status, "error": error[:500],
             "at": _now()}))

    def save_choices(self, key: str, text: str, choices: list[dict[str, str]]) -> None:
        """Keep a long list of choices so "More…" can page through it."""
        with_retries(lambda: self.db.wa_choice_pages.replace_one(
            {"_id": key}, {"text": text, "choices": choices, "created_at": _now()}, upsert=True))

    def load_choices(self, key: str) -> Optional[dict[str, Any]]:
        """A saved list of choices."""
        return with_retries(lambda: self.db.wa_choice_pages.find_one({"_id": key}))
