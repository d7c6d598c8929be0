"""Each customer's language at a business, kept across sessions and read by whatever speaks to
them outside a conversation turn (the console's booking card, the template fallback).

One document per (business, customer): ``language`` (en, id) and ``chosen`` (the customer
switched on purpose: detection leaves it alone). It names a customer, so it goes after
``DATA_RETENTION_DAYS`` without an update, like the conversations it came from.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Optional

from pymongo.database import Database

from booking.db import ensure_ttl_index, with_retries
from booking.i18n import LANGUAGES


@dataclass(frozen=True)
class LanguageChoice:
    """A customer's language, and whether they chose it."""

    language: str
    chosen: bool = False


class CustomerLanguages:
    """The ``customer_languages`` collection."""

    def __init__(self, db: Database, clock: Callable[[], datetime] = lambda: datetime.now(
            timezone.utc)) -> None:
        self.docs = db.customer_languages
        self.clock = clock

    def ensure_indexes(self) -> None:
        """The retention index (``DATA_RETENTION_DAYS``, 90 by default)."""
        days = float(os.environ.get("DATA_RETENTION_DAYS") or 90)
        ensure_ttl_index(self.docs, "updated_at", int(days * 86400))

    @staticmethod
    def _id(business_id: str, customer_id: str) -> str:
        return f"{business_id}|{customer_id}"

    def get(self, business_id: str, customer_id: str) -> Optional[LanguageChoice]:
        """The customer's language at this business; None when never set."""
        doc = with_retries(lambda: self.docs.find_one({"_id": self._id(business_id,
                                                                           customer_id)}))
        if not doc or doc.get("language") not in LANGUAGES:
            return None
        return LanguageChoice(doc["language"], bool(doc.get("chosen")))

    def language_of(self, business_id: str, customer_id: str, default: str) -> str:
        """The language to speak to the customer outside a turn: theirs, else ``default``
        (the business's)."""
        kept = self.get(business_id, customer_id)
        return kept.language if kept else default

    def set(self, business_id: str, customer_id: str, choice: LanguageChoice) -> None:
        """Keep the customer's language (idempotent)."""
        if choice.language not in LANGUAGES:
            raise ValueError(f"unknown language {choice.language!r}")
        with_retries(lambda: self.docs.update_one(
            {"_id": self._id(business_id, customer_id)},
            {"$set": {"language": choice.language, "chosen": choice.chosen,
                      "business_id": business_id, "updated_at": self.clock()}}, upsert=True))
