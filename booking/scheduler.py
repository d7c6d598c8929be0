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

import logging
from datetime import datetime, timedelta
from typing import Any, Callable, Optional

from pymongo import ASCENDING

from booking.contact_prefs import CustomerContact
from booking.db import with_retries
from booking.models import COMPLETED, CONFIRMED, Booking, Business
from booking.notices import PENDING, SENDING, NoticeQueue, whatsapp_conversation
from booking.reminders import (COMPLETE, FEEDBACK, NUDGE, OPTIONAL, after_visit, hours_of,
                               job_id, plan, quiet_span)

logger = logging.getLogger(__name__)
DROPPED = "DROPPED"  # not sent: the booking changed or ended, or it came too late
MOVED = "the booking moved"
HORIZON = timedelta(days=8)  # bookings this far ahead are planned (the longest reminder: 7 days)
ANSWERS = ("confirmed",)  # what a customer may answer to a reminder, recorded on it
NEEDS = {COMPLETE: CONFIRMED, FEEDBACK: COMPLETED, NUDGE: COMPLETED}  # the booking's status
# for a message of that kind to go (reminders: CONFIRMED)


class ScheduledMessages(NoticeQueue):
    """The ``scheduled_messages`` queue; ``next_at`` is when a message is due."""

    order = "next_at"

    def __init__(self, db: Any, catalog: Callable[[], Any],
                 clock: Callable[[], datetime]) -> None:
        super().__init__(db.scheduled_messages, clock)
        self.db = db
        self.catalog = catalog
        self.contact = CustomerContact(db, clock)

    @classmethod
    def of(cls, core: Any) -> "ScheduledMessages":
        """The scheduled messages on a booking core's database, catalog and clock."""
        return cls(core.db, lambda: core.catalog, core.clock)

    def plan(self, horizon: timedelta = HORIZON) -> int:
        """Record the messages still to come of every confirmed booking starting within
        ``horizon``; how many new ones were recorded."""
        now = self.clock()
        return self._plan(with_retries(lambda: list(self.db.bookings.find(
            {"status": CONFIRMED, "start": {"$gt": now, "$lte": now + horizon}}))), now)

    def _plan(self, docs: list[dict[str, Any]], now: datetime) -> int:
        if not docs:
            return 0
        recorded: dict[str, list[dict[str, Any]]] = {}
        for message in with_retries(lambda: list(self.collection.find(
                {"code": {"$in": [d["code"] for d in docs]}},
                {"code": 1, "state": 1, "start": 1, "version": 1, "error": 1}))):
            recorded.setdefault(message["code"], []).append(message)
        catalog = self.catalog()
        added = 0
        for doc in docs:
            try:
                booking = Booking.from_doc(doc)
                business = catalog.businesses.get(booking.business_id)
                if business is not None:
                    added += self.plan_booking(booking, business, now,
                                               recorded.get(booking.code, []),
                                               doc.get("updated_at") or booking.created_at)
            except (KeyError, TypeError, ValueError, ArithmeticError):  # one odd booking
                # stops no one else's
                logger.exception("cannot plan the messages of booking %s", doc.get("code"))
        return added

    def plan_booking(self, booking: Booking, business: Business, now: datetime,
                     recorded: list[dict[str, Any]], changed_at: datetime) -> int:
        """Record one confirmed booking's messages still to come (``recorded``: its messages
        so far; ``changed_at``: its last change, right after which no reminder comes). Its
        waiting messages planned for an earlier version at another start are dropped; those
        dropped because it moved come back when it moves back to their time."""
        conversation = whatsapp_conversation(booking, business)
        if conversation is None:  # (reached only when they write: REST, shell)
            return 0
        by_id = {m["_id"]: m for m in recorded}
        service = self.catalog().services.get(booking.service_id)
        items = plan(booking.start, changed_at, now, business.reminders, business.tz)
        items += after_visit(booking.end, business.reminders, business.tz,
                             service.rebook_days if service else None)
        added = 0
        for item in items:
            message_id = job_id(booking.code, item.kind, booking.start)
            known = by_id.get(message_id)
            if known is None:
                added += self.put(message_id, {
                    "kind": item.kind, "code": booking.code, "business_id": business.id,
                    "conversation": conversation, "version": booking.version,
                    "start": booking.start, "next_at": item.due, "due_at": item.due,
                    "expires_at": item.expires})
            elif known.get("state") == DROPPED and known.get("error") == MOVED:
                added += with_retries(lambda: self.collection.update_one(
                    {"_id": message_id, "state": DROPPED, "error": MOVED},
                    {"$set": {"state": PENDING, "version": booking.version, "next_at": item.due,
                              "expires_at": item.expires, "error": ""},
                     "$unset": {"sent_early_at": "", "attempts": "", "claimed_at": ""}}
                )).modified_count
        stale = [m["_id"] for m in recorded if m.get("state") == PENDING
                 and m.get("start") != booking.start
                 and (m.get("version") or 0) < booking.version]
        if stale:  # (only older versions: a planner that read the booking late drops nothing new)
            with_retries(lambda: self.collection.update_many(
                {"_id": {"$in": stale}, "state": PENDING},
                {"$set": {"state": DROPPED, "error": MOVED}}))
        return added

    def still_due(self, message: dict[str, Any], booking: Booking) -> Optional[str]:
        """``None`` when ``message`` is still worth sending for ``booking`` as it is now;
        otherwise why not (the message is then dropped)."""
        if booking.start != message.get("start"):
            return MOVED
        if booking.status != NEEDS.get(message["kind"], CONFIRMED):
            return f"the booking is {booking.status.lower().replace('_', ' ')}"
        if self.clock() >= message["expires_at"]:
            return "too late to send"
        hours = hours_of(message["kind"])
        business = self.catalog().businesses.get(booking.business_id)
        if hours is not None and business is not None and (
                hours not in business.reminders.hours_before):
            return "the business no longer sends this reminder"
        if not self.contact.allows(booking.business_id, booking.customer_id, message["kind"]):
            return "the customer said STOP"
        return None

    def use_allowance(self, message: dict[str, Any]) -> bool:
        """For feedback and offers, take the customer's one optional message of the week (a
        retry of the same message keeps it); True for every other kind."""
        if message["kind"] not in OPTIONAL or message.get("sent_early_at"):
            return True  # (one a person sent now on purpose is theirs to decide)
        conversation = message.get("conversation") or {}
        return self.contact.take_allowance(message["business_id"],
                                           conversation.get("sender_id", ""), message["_id"])

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

    def current(self, booking: Booking) -> list[dict[str, Any]]:
        """A booking's scheduled messages, with what is still to come planned now (the senders
        plan every minute; the console shows a booking made a moment ago as it will be)."""
        messages = self.of_booking(booking.code)
        if booking.status == CONFIRMED and booking.start > self.clock():
            doc = with_retries(lambda: self.db.bookings.find_one({"code": booking.code}))
            if doc and doc.get("status") == CONFIRMED and self._plan([doc], self.clock()):
                messages = self.of_booking(booking.code)
        return messages

    def send_now(self, code: str) -> Optional[dict[str, Any]]:
        """Make the booking's next waiting message that can go now due now (the console's
        "send now": a reminder of an upcoming visit, the feedback question or the offer of a
        completed one; never the completion itself); the message, or ``None`` when none can."""
        now = self.clock()
        booking = with_retries(lambda: self.db.bookings.find_one({"code": code}, {"status": 1}))
        waiting = next((m for m in with_retries(lambda: list(self.collection.find(
            {"code": code, "state": PENDING, "kind": {"$ne": COMPLETE}}).sort(
                "next_at", ASCENDING).limit(20)))
            if booking and NEEDS.get(m["kind"], CONFIRMED) == booking["status"]), None)
        if waiting is None:
            return None
        changed = with_retries(lambda: self.collection.update_one(
            {"_id": waiting["_id"], "state": PENDING},
            {"$set": {"next_at": now, "sent_early_at": now,
                      "expires_at": max(waiting["expires_at"], now + timedelta(minutes=10))}}))
        return waiting if changed.modified_count else None  # (else a sender took it meanwhile)

    def quiet_until(self, message: dict[str, Any], business: Business) -> Optional[datetime]:
        """When a message claimed in the business's quiet hours (it came late: retries, every
        server down) goes instead: the end of the quiet hours; ``None`` outside them, or for
        one a person asked to send now. A reminder whose visit starts before that is dropped
        by ``still_due`` once it comes too late."""
        now = self.clock()
        span = quiet_span(now, business.reminders, business.tz)
        if span is None or message.get("sent_early_at"):
            return None
        return max(span[1], now + timedelta(minutes=1))  # (never a time already past: a loop)

    def postpone(self, message_id: str, until: datetime) -> None:
        """Send a claimed message at ``until`` instead (back to waiting)."""
        with_retries(lambda: self.collection.update_one(
            {"_id": message_id, "state": SENDING},
            {"$set": {"state": PENDING, "next_at": until}}))


def waiting(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages still to send (pending or being sent)."""
    return [m for m in messages if m.get("state") in (PENDING, SENDING)]
