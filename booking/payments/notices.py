"""Customer news about payments: one ``payment_notices`` document per payment and kind (a
``booking.notices.NoticeQueue``: PENDING → SENDING → SENT | FAILED)."""
from __future__ import annotations

from datetime import timedelta
from typing import Any, Optional

from booking.notices import NoticeQueue
from booking.payments.common import Context


class Notices:
    """Writes, claims and finishes payment notices."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.queue = NoticeQueue(ctx.db.payment_notices, ctx.now)

    def notify(self, doc: dict[str, Any], kind: str, reason: str = "") -> None:
        """Tell the customer of payment ``doc`` about ``kind`` (once per payment and kind)."""
        fields = {"kind": kind, "payment_id": doc["_id"], "code": doc["code"],
                  "conversation": doc.get("conversation") or {}}
        if reason:
            fields["reason"] = reason
        self.queue.put(f"{doc['_id']}:{kind}", fields)

    def notice(self, payment_id: str, kind: str) -> Optional[dict[str, Any]]:
        """The news ``kind`` of a payment, if the server wrote it (``None`` otherwise)."""
        return self.queue.get(f"{payment_id}:{kind}")

    def claim(self, stale_after: timedelta = timedelta(minutes=5)) -> Optional[dict[str, Any]]:
        """The next notice to send (claimed)."""
        return self.queue.claim(stale_after)

    def finish(self, notice_id: str, ok: bool = True, error: str = "") -> None:
        """Record that a notice was sent (or failed for good)."""
        self.queue.finish(notice_id, ok, error)
