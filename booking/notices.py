"""News for customers that the server writes and a sender delivers later, on the customer's
own channel: one document per piece of news, so a retry or a second server never tells twice.

States (one field, ``state``): PENDING → SENDING (claimed by a sender) → SENT | FAILED; a claim
left by a crashed sender is taken again after ``stale_after``; a try that did not reach the
customer goes back to PENDING with a growing wait (``again``). The dialogue marks a booking
notice ``told_at`` when it tells it, once, so a retry after a crash never tells it twice. Payment news
(``payment_notices``) and the business's changes to a booking (``booking_notices``, written by
the console) are two queues of this one kind.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Callable, Optional

from pymongo import ASCENDING, ReturnDocument
from pymongo.collection import Collection

from booking.db import with_retries
from booking.models import Booking, Business

PENDING, SENDING, SENT, FAILED = "PENDING", "SENDING", "SENT", "FAILED"
ATTEMPTS = 6  # tries of one notice before it is FAILED (about 16 minutes of retrying)

# What the business changed, as told to the customer (``booking_notices`` kinds).
MOVED = "moved"  # rescheduled by the business
CANCELLED_BY_BUSINESS = "cancelled"
BOOKED_BY_DESK = "booked"  # made at the desk or on the phone, confirmed on WhatsApp
BOOKING_NEWS = (MOVED, CANCELLED_BY_BUSINESS, BOOKED_BY_DESK)


class NoticeQueue:
    """Writes, claims and finishes the notices of one collection."""

    order = "created_at"  # which waiting notice goes first

    def __init__(self, collection: Collection, clock: Callable[[], datetime]) -> None:
        self.collection = collection
        self.clock = clock

    def ensure_indexes(self) -> None:
        """The index the senders' claim query uses."""
        self.collection.create_index([("state", ASCENDING), (self.order, ASCENDING)])

    def put(self, notice_id: str, fields: dict[str, Any]) -> bool:
        """Record the notice once (a second call with the same id changes nothing); True
        when this call wrote it."""
        doc = {**fields, "state": PENDING, "created_at": self.clock()}
        result = with_retries(lambda: self.collection.update_one(
            {"_id": notice_id}, {"$setOnInsert": doc}, upsert=True))
        return result.upserted_id is not None

    def get(self, notice_id: str) -> Optional[dict[str, Any]]:
        """The notice, if the server wrote it (``None`` otherwise)."""
        return with_retries(lambda: self.collection.find_one({"_id": notice_id}))

    def claim(self, stale_after: timedelta = timedelta(minutes=5)) -> Optional[dict[str, Any]]:
        """The oldest notice to send, claimed by the caller (``None`` when there is none)."""
        now = self.clock()
        return with_retries(lambda: self.collection.find_one_and_update(
            {"$or": [{"state": PENDING, "next_at": {"$not": {"$gt": now}}},
                     {"state": SENDING, "claimed_at": {"$lt": now - stale_after}}]},
            {"$set": {"state": SENDING, "claimed_at": now}}, sort=[(self.order, 1)],
            return_document=ReturnDocument.AFTER))

    def mark_told(self, notice_id: str) -> bool:
        """The dialogue told the customer (once: False when it was told already)."""
        return with_retries(lambda: self.collection.update_one(
            {"_id": notice_id, "told_at": {"$exists": False}},
            {"$set": {"told_at": self.clock()}})).modified_count == 1

    def again(self, notice_id: str, error: str, attempts: int = ATTEMPTS) -> None:
        """A try that did not tell the customer: try again later (30 s, 1, 2, 4 … minutes),
        or give up after ``attempts`` tries (FAILED, with the reason)."""
        doc = with_retries(lambda: self.collection.find_one_and_update(
            {"_id": notice_id}, {"$inc": {"attempts": 1}}, return_document=ReturnDocument.AFTER))
        if doc is None:
            return
        if doc["attempts"] >= attempts:
            self.finish(notice_id, ok=False, error=error)
            return
        wait = timedelta(seconds=30 * 2 ** (doc["attempts"] - 1))
        with_retries(lambda: self.collection.update_one({"_id": notice_id}, {"$set": {
            "state": PENDING, "next_at": self.clock() + wait, "error": error[:500]}}))

    def finish(self, notice_id: str, ok: bool = True, error: str = "") -> None:
        """Record that a notice was sent (or failed for good)."""
        with_retries(lambda: self.collection.update_one(
            {"_id": notice_id}, {"$set": {"state": SENT if ok else FAILED, "error": error[:500],
                                          "sent_at": self.clock()}}))


def whatsapp_conversation(booking: Booking, business: Business) -> Optional[dict[str, Any]]:
    """The WhatsApp conversation of the booking's customer, from the business's number;
    ``None`` for a customer of another channel (REST, shell), whom the server cannot reach
    first. Only the WhatsApp channel speaks for a phone number (``actions.base.customer_of``):
    a customer id of digits is a WhatsApp number."""
    if not booking.whatsapp_number:
        return None
    return {"sender_id": booking.customer_id, "channel": "whatsapp",
            "business_id": business.id, "phone_number_id": business.phone_number_id}


class BookingNotices(NoticeQueue):
    """What the business changed about a booking, for its customer (``booking_notices``)."""

    def __init__(self, db: Any, clock: Callable[[], datetime]) -> None:
        super().__init__(db.booking_notices, clock)

    def tell(self, booking: Booking, business: Business, kind: str,
             **details: Any) -> Optional[str]:
        """Tell the booking's customer about ``kind`` (once per booking version and kind);
        the notice id, or ``None`` when the customer cannot be reached first."""
        if kind not in BOOKING_NEWS:
            raise ValueError(f"unknown booking news {kind!r}")
        conversation = whatsapp_conversation(booking, business)
        if conversation is None:
            return None
        notice_id = f"{booking.code}:{kind}:{booking.version}"
        self.put(notice_id, {"kind": kind, "code": booking.code, "conversation": conversation,
                             "version": booking.version, "details": details})
        return notice_id

    def superseded(self, notice: dict[str, Any]) -> bool:
        """Whether the business changed the booking again since (its own news tells the
        customer where it stands: "moved" then "cancelled" is told as "cancelled")."""
        return with_retries(lambda: self.collection.count_documents(
            {"code": notice["code"], "version": {"$gt": notice.get("version") or 0}},
            limit=1)) > 0
