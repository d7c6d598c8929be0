"""The durable scheduler of messages the server sends at a time (``scheduled_messages``):
reminders before a visit today, in one queue with the notices' states and claims
(``booking.notices.NoticeQueue``).

- **Planning is derived from the bookings**, not hooked into the writes that change them:
  ``plan()`` looks at the confirmed bookings of the next days and records each message that
  ``booking.reminders.plan`` says is still to come, once (its id is the booking, the kind and
  the start time: ``reminders.job_id``). A crash, a restart or a second server planning the
  same booking changes nothing. A booking moved to another time gets new messages and its old
  ones are dropped.
- **Each message is claimed by one sender** (atomic claim; a claim left by a crashed sender is
  taken again after the lease), told once (``mark_told``), tried again with a growing wait when
  it did not go, and **checked when it runs** (``still_due``): a message whose booking was
  cancelled, moved, or is no longer the one it was planned for is dropped, not sent.
- Times come from the injected clock, so tests move time by hand.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Callable, Optional

from pymongo import ASCENDING

from booking.db import with_retries
from booking.models import CONFIRMED, Booking, Business
from booking.notices import PENDING, SENDING, NoticeQueue, whatsapp_conversation
from booking.reminders import job_id, plan

DROPPED = "DROPPED"  # not sent: the booking changed or ended, or it came too late
HORIZON = timedelta(days=8)  # bookings this far ahead are planned (the longest reminder: 7 days)
ANSWERS = ("confirmed",)  # what a customer may answer to a reminder, recorded on it


class ScheduledMessages(NoticeQueue):
    """The ``scheduled_messages`` queue; ``next_at`` is when a message is due."""

    order = "next_at"

    def __init__(self, db: Any, catalog: Callable[[], Any],
                 clock: Callable[[], datetime]) -> None:
        super().__init__(db.scheduled_messages, clock)
        self.db = db
        self.catalog = catalog

    @classmethod
    def of(cls, core: Any) -> "ScheduledMessages":
        """The scheduled messages on a booking core's database, catalog and clock."""
        return cls(core.db, lambda: core.catalog, core.clock)

    def ensure_indexes(self) -> None:
        """The senders' claim (state, due time) and a booking's messages (console)."""
        super().ensure_indexes()
        self.collection.create_index([("code", ASCENDING), ("next_at", ASCENDING)])
        self.db.bookings.create_index([("status", ASCENDING), ("start", ASCENDING)])

    def plan(self, horizon: timedelta = HORIZON) -> int:
        """Record the messages still to come of every confirmed booking starting within
        ``horizon``; how many new ones were recorded."""
        now = self.clock()
        docs = with_retries(lambda: list(self.db.bookings.find(
            {"status": CONFIRMED, "start": {"$gt": now, "$lte": now + horizon}})))
        if not docs:
            return 0
        codes = [d["code"] for d in docs]
        known = {d["_id"] for d in with_retries(lambda: list(self.collection.find(
            {"code": {"$in": codes}}, {"_id": 1})))}
        catalog = self.catalog()
        added = 0
        for doc in docs:
            booking = Booking.from_doc(doc)
            business = catalog.businesses.get(booking.business_id)
            if business is None:
                continue
            added += self.plan_booking(booking, business, now, known)
        return added

    def plan_booking(self, booking: Booking, business: Business, now: datetime,
                     known: frozenset[str] | set[str] = frozenset()) -> int:
        """Record one confirmed booking's messages still to come (``known``: ids already
        recorded, skipped without a write); drop its pending ones planned for another start."""
        conversation = whatsapp_conversation(booking, business)
        if conversation is None:  # (reached only when they write: REST, shell)
            return 0
        added = 0
        for item in plan(booking.start, booking.created_at, now, business.reminders,
                         business.tz):
            message_id = job_id(booking.code, item.kind, booking.start)
            if message_id in known:
                continue
            added += self.put(message_id, {
                "kind": item.kind, "code": booking.code, "business_id": business.id,
                "conversation": conversation, "version": booking.version,
                "start": booking.start, "next_at": item.due, "due_at": item.due,
                "expires_at": item.expires})
        if added:
            with_retries(lambda: self.collection.update_many(
                {"code": booking.code, "state": PENDING, "start": {"$ne": booking.start}},
                {"$set": {"state": DROPPED, "error": "the booking moved"}}))
        return added

    def still_due(self, message: dict[str, Any], booking: Booking) -> Optional[str]:
        """``None`` when ``message`` is still worth sending for ``booking`` as it is now;
        otherwise why not (the message is then dropped)."""
        if booking.status != CONFIRMED:
            return f"the booking is {booking.status.lower()}"
        if booking.start != message.get("start"):
            return "the booking moved"
        if self.clock() >= message["expires_at"]:
            return "too late to send"
        return None

    def drop(self, message_id: str, reason: str) -> None:
        """Never send this message (``reason`` is kept for the console)."""
        with_retries(lambda: self.collection.update_one(
            {"_id": message_id, "state": {"$in": [PENDING, SENDING]}},
            {"$set": {"state": DROPPED, "error": reason[:500], "dropped_at": self.clock()}}))

    def answer(self, code: str, answer: str) -> bool:
        """Record the customer's answer to the latest message told about booking ``code``
        (the first answer counts); False when none was told or it was answered already."""
        if answer not in ANSWERS:
            raise ValueError(f"unknown answer {answer!r}")
        return with_retries(lambda: self.collection.find_one_and_update(
            {"code": code, "told_at": {"$exists": True}, "answer": {"$exists": False}},
            {"$set": {"answer": answer, "answered_at": self.clock()}},
            sort=[("told_at", -1)])) is not None

    def of_booking(self, code: str) -> list[dict[str, Any]]:
        """A booking's scheduled messages, in due order (for the console)."""
        return with_retries(lambda: list(self.collection.find({"code": code})
                                         .sort("next_at", ASCENDING).limit(50)))

    def current(self, booking: Booking, business: Business) -> list[dict[str, Any]]:
        """A booking's scheduled messages, with what is still to come planned now (the senders
        plan every minute; the console shows a booking made a moment ago as it will be)."""
        messages = self.of_booking(booking.code)
        if booking.status == CONFIRMED and booking.start > self.clock() and self.plan_booking(
                booking, business, self.clock(), {m["_id"] for m in messages}):
            messages = self.of_booking(booking.code)
        return messages

    def send_now(self, code: str) -> Optional[dict[str, Any]]:
        """Make the booking's next waiting message due now (the console's "send now"); the
        message, or ``None`` when none is waiting."""
        now = self.clock()
        waiting = with_retries(lambda: self.collection.find_one(
            {"code": code, "state": PENDING}, sort=[("next_at", ASCENDING)]))
        if waiting is None:
            return None
        with_retries(lambda: self.collection.update_one(
            {"_id": waiting["_id"], "state": PENDING},
            {"$set": {"next_at": now, "sent_early_at": now,
                      "expires_at": max(waiting["expires_at"], now + timedelta(minutes=10))}}))
        return waiting


def waiting(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages still to send (pending or being sent)."""
    return [m for m in messages if m.get("state") in (PENDING, SENDING)]
