"""What a customer lets a business send them unasked (``customer_contact``, one document per
business and customer): STOP turns off feedback questions and "book again?" offers, and, if they
say so, reminders too; START turns everything back on. And the weekly allowance: at most one
optional message (feedback or an offer) per customer and business in ``OPTIONAL_EVERY``, taken
atomically by the message that uses it (two servers never both send one). Blocking pymongo.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Optional

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from booking.db import with_retries
from booking.reminders import OPTIONAL, OPTIONAL_EVERY, is_reminder


class CustomerContact:
    """Opt-outs and the weekly allowance of optional messages."""

    def __init__(self, db: Database, clock: Callable[[], datetime]) -> None:
        self.collection = db.customer_contact
        self.clock = clock

    @staticmethod
    def _id(business_id: str, customer_id: str) -> str:
        return f"{business_id}:{customer_id}"

    def get(self, business_id: str, customer_id: str) -> dict[str, Any]:
        """The customer's choices (empty: everything allowed)."""
        return with_retries(lambda: self.collection.find_one(
            {"_id": self._id(business_id, customer_id)})) or {}

    def stop(self, business_id: str, customer_id: str, reminders: bool = False) -> None:
        """STOP: no more feedback questions or offers (``reminders``: nor reminders)."""
        changes: dict[str, Any] = {"optional_off": True, "changed_at": self.clock()}
        if reminders:
            changes["reminders_off"] = True
        with_retries(lambda: self.collection.update_one(
            {"_id": self._id(business_id, customer_id)}, {"$set": changes}, upsert=True))

    def start(self, business_id: str, customer_id: str) -> None:
        """START: everything is welcome again."""
        with_retries(lambda: self.collection.update_one(
            {"_id": self._id(business_id, customer_id)},
            {"$set": {"optional_off": False, "reminders_off": False,
                      "changed_at": self.clock()}}, upsert=True))

    def allows(self, business_id: str, customer_id: str, kind: str) -> bool:
        """Whether the customer lets the business send a message of ``kind``."""
        if kind not in OPTIONAL and not is_reminder(kind):
            return True
        choices = self.get(business_id, customer_id)
        return not choices.get("reminders_off" if is_reminder(kind) else "optional_off")

    def allowance_free_at(self, business_id: str, customer_id: str) -> Optional[datetime]:
        """When the week's optional message is free again (``None``: it is free now)."""
        used = self.get(business_id, customer_id).get("optional_at")
        return used + OPTIONAL_EVERY if used and used + OPTIONAL_EVERY > self.clock() else None

    def take_allowance(self, business_id: str, customer_id: str, message_id: str) -> bool:
        """Take this week's optional message for ``message_id`` (again for the same message:
        a retry after a failed try keeps it); False when another used it within the week."""
        now = self.clock()
        try:
            with_retries(lambda: self.collection.update_one(
                {"_id": self._id(business_id, customer_id),
                 "$or": [{"optional_at": {"$not": {"$gt": now - OPTIONAL_EVERY}}},
                         {"optional_id": message_id}]},
                {"$set": {"optional_at": now, "optional_id": message_id}}, upsert=True))
        except DuplicateKeyError:  # the document exists and the week's message went already
            return False
        return True
