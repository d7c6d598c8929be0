"""Customer news about payments: one ``payment_notices`` document per payment and kind.

States: PENDING → SENDING (claimed by a sender) → SENT | FAILED; a claim left by a crashed
sender is taken again after ``stale_after``.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any, Optional

from pymongo import ReturnDocument

from booking.db import with_retries
from booking.payments.common import Context


class Notices:
    """Writes, claims and finishes payment notices."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def notify(self, doc: dict[str, Any], kind: str, reason: str = "") -> None:
        """Tell the customer of payment ``doc`` about ``kind`` (once per payment and kind)."""
        conversation = doc.get("conversation") or {}
        fields = {"kind": kind, "payment_id": doc["_id"], "code": doc["code"],
                  "conversation": conversation, "state": "PENDING",
                  "created_at": self.ctx.now()}
        if reason:
            fields["reason"] = reason
        with_retries(lambda: self.ctx.db.payment_notices.update_one(
            {"_id": f"{doc['_id']}:{kind}"}, {"$setOnInsert": fields}, upsert=True))

    def notice(self, payment_id: str, kind: str) -> Optional[dict[str, Any]]:
        """The news ``kind`` of a payment, if the server wrote it (``None`` otherwise)."""
        return with_retries(lambda: self.ctx.db.payment_notices.find_one(
            {"_id": f"{payment_id}:{kind}"}))

    def claim(self, stale_after: timedelta = timedelta(minutes=5)) -> Optional[dict[str, Any]]:
        """The next notice to send (claimed)."""
        now = self.ctx.now()
        return with_retries(lambda: self.ctx.db.payment_notices.find_one_and_update(
            {"$or": [{"state": "PENDING"},
                     {"state": "SENDING", "claimed_at": {"$lt": now - stale_after}}]},
            {"$set": {"state": "SENDING", "claimed_at": now}}, sort=[("created_at", 1)],
            return_document=ReturnDocument.AFTER))

    def finish(self, notice_id: str, ok: bool = True, error: str = "") -> None:
        """Record that a notice was sent (or failed for good)."""
        with_retries(lambda: self.ctx.db.payment_notices.update_one(
            {"_id": notice_id}, {"$set": {"state": "SENT" if ok else "FAILED", "error": error,
                                          "sent_at": self.ctx.now()}}))
