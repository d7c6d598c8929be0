"""Who answers a customer: the bot, or a person of the business. One state per conversation
(a customer of one business), its transitions in this module only.

    bot ──flag──► waiting ──take──► human ──hand_back / idle──► bot
     └──────────────take / echo──────┘

- ``flag``: the customer asked for a person, or the bot gave up (two fallbacks in a row, a
  technical failure, a low feedback score). The bot keeps answering while ``waiting``.
- ``take``: a staff member takes the conversation; the bot is silent while ``human``. It is a
  compare-and-swap on the conversation's ``version``, which every transition increments: of
  two people taking the same conversation at once, one wins and the other is told who has it.
- ``echo``: the owner answered from the WhatsApp Business app on the same number (coexistence):
  a person is talking, so the bot goes quiet (``human``, assignee ``ECHO_AGENT``).
- ``hand_back``: back to the bot; also when the person wrote nothing for ``idle``
  (``HANDOFF_IDLE_HOURS``, measured from the team's last move, not the customer's), applied
  when the customer next writes and by the channel's sweep.

Every customer message passes through ``customer_wrote`` (one upsert: the state the message is
handled in, its time for the 24-hour window, a preview for the inbox). Blocking pymongo calls.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Optional

from bson import ObjectId
from bson.errors import InvalidId
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from booking.db import ensure_ttl_index, with_retries
from booking.errors import BookingError, UnknownEntityError

BOT, WAITING, HUMAN = "bot", "waiting", "human"
STATES = (BOT, WAITING, HUMAN)
ASKED, FALLBACKS, FAILURE, FEEDBACK, ECHO, IDLE = (
    "asked", "fallbacks", "failure", "feedback", "echo", "idle")
FLAG_REASONS = (ASKED, FALLBACKS, FAILURE, FEEDBACK)
ECHO_AGENT = "WhatsApp Business app"
WINDOW = timedelta(hours=24)  # WhatsApp's customer service window
TO_STAFF_INTENT = "message_to_staff"  # a customer message the bot left to the person
PREVIEW = 160


class HandoffError(BookingError):
    """A conversation change that cannot be made now."""


class AlreadyTakenError(HandoffError):
    """Someone else took the conversation first."""

    def __init__(self, by: str) -> None:
        super().__init__(f"{by} has taken this conversation")
        self.by = by


class ChangedError(HandoffError):
    """The conversation changed since the page was shown (handed back, taken and released)."""


class NotYoursError(HandoffError):
    """Only the person who has the conversation replies in it."""


def _utc(moment: Optional[datetime]) -> Optional[datetime]:
    if moment is not None and moment.tzinfo is None:  # pymongo returns naive UTC datetimes
        return moment.replace(tzinfo=timezone.utc)
    return moment


@dataclass(frozen=True)
class Conversation:
    """One customer of one business, as the inbox shows it."""

    id: str
    business_id: str
    customer_id: str
    channel: str
    phone_number_id: str
    customer_name: str
    state: str
    version: int
    reason: str
    assignee: str
    waiting_since: Optional[datetime]
    taken_at: Optional[datetime]
    last_customer_at: Optional[datetime]
    last_activity_at: Optional[datetime]
    last_text: str

    @classmethod
    def of(cls, doc: dict[str, Any]) -> "Conversation":
        """From its MongoDB document."""
        return cls(str(doc["_id"]), doc["business_id"], doc["customer_id"],
                   doc.get("channel") or "", doc.get("phone_number_id") or "",
                   doc.get("customer_name") or "", doc.get("state") or BOT,
                   int(doc.get("version") or 0), doc.get("reason") or "",
                   doc.get("assignee") or "", _utc(doc.get("waiting_since")),
                   _utc(doc.get("taken_at")), _utc(doc.get("last_customer_at")),
                   _utc(doc.get("last_activity_at")), doc.get("last_text") or "")

    def window_open(self, now: datetime) -> bool:
        """Whether a free-form message may be sent: the customer wrote within 24 hours."""
        return self.last_customer_at is not None and now - self.last_customer_at < WINDOW

    def waited(self, now: datetime) -> Optional[timedelta]:
        """How long the customer has waited for a person (None unless ``waiting``)."""
        if self.state != WAITING or self.waiting_since is None:
            return None
        return max(now - self.waiting_since, timedelta(0))


class Conversations:
    """The conversations of every business and their one state machine."""

    def __init__(self, db: Database, clock: Callable[[], datetime] = lambda: datetime.now(
            timezone.utc), idle: timedelta = timedelta(hours=12),
                 retention: Optional[timedelta] = None) -> None:
        self.db, self.clock, self.idle = db, clock, idle
        self.retention = retention or timedelta(
            days=float(os.environ.get("DATA_RETENTION_DAYS") or 90))
        self.docs = db.conversations

    def ensure_indexes(self) -> None:
        """One conversation per customer and business; the inbox's orderings."""
        self.docs.create_index([("business_id", ASCENDING), ("customer_id", ASCENDING)],
                               unique=True)
        self.docs.create_index([("business_id", ASCENDING), ("state", ASCENDING),
                                ("waiting_since", ASCENDING)])
        self.docs.create_index([("business_id", ASCENDING), ("last_activity_at", DESCENDING)])
        self.docs.create_index([("state", ASCENDING), ("team_activity_at", ASCENDING)])
        # Retention (DATA_RETENTION_DAYS): a conversation holds a name and a message preview.
        ensure_ttl_index(self.docs, "last_activity_at", int(self.retention.total_seconds()))

    # ------------------------------------------------------------------ reads
    def get(self, business_id: str, conversation_id: str) -> Conversation:
        """A conversation of this business by id; ``UnknownEntityError`` for anything else."""
        doc = with_retries(lambda: self.docs.find_one({"_id": _oid(conversation_id),
                                                       "business_id": business_id}))
        if doc is None:
            raise UnknownEntityError("conversation", conversation_id)
        return Conversation.of(doc)

    def of_customer(self, business_id: str, customer_id: str) -> Optional[Conversation]:
        """The conversation of a customer with a business, if they ever wrote."""
        doc = with_retries(lambda: self.docs.find_one({"business_id": business_id,
                                                       "customer_id": customer_id}))
        return Conversation.of(doc) if doc else None

    def inbox(self, business_id: str, recent: int = 50) -> list[Conversation]:
        """Waiting conversations (longest wait first), then those with a person, then the
        most recent ones with the bot."""
        def find(query: dict[str, Any], order: list, limit: int = 0) -> list[Conversation]:
            docs = with_retries(lambda: list(self.docs.find(
                {"business_id": business_id, **query}).sort(order).limit(limit)))
            return [Conversation.of(d) for d in docs]
        return (find({"state": WAITING}, [("waiting_since", ASCENDING)], 200)
                + find({"state": HUMAN}, [("last_activity_at", DESCENDING)], 200)
                + find({"state": BOT}, [("last_activity_at", DESCENDING)], recent))

    def waiting_count(self, business_id: str) -> int:
        """How many customers wait for a person."""
        return with_retries(lambda: self.docs.count_documents(
            {"business_id": business_id, "state": WAITING}))

    # ------------------------------------------------------------------ the customer side
    def customer_wrote(self, business_id: str, customer_id: str, channel: str,
                       phone_number_id: str, customer_name: str, text: str) -> Conversation:
        """Record a customer message; the conversation's state to handle it in. A person's
        conversation nobody wrote in for ``idle`` goes back to the bot first."""
        now = self.clock()
        stale = {"$and": [{"$eq": ["$state", HUMAN]},
                          {"$lt": ["$team_activity_at", {"$literal": now - self.idle}]}]}
        pipeline = [
            {"$set": {"_idle": stale}},
            {"$set": {"state": {"$cond": ["$_idle", BOT, {"$ifNull": ["$state", BOT]}]},
                      "reason": {"$cond": ["$_idle", IDLE, "$reason"]},
                      "assignee": {"$cond": ["$_idle", "", "$assignee"]},
                      "version": {"$add": [{"$ifNull": ["$version", 0]},
                                           {"$cond": ["$_idle", 1, 0]}]},
                      "channel": {"$literal": channel},
                      "phone_number_id": {"$literal": phone_number_id},
                      "customer_name": {"$cond": [{"$literal": bool(customer_name)},
                                                  {"$literal": customer_name[:200]},
                                                  "$customer_name"]},
                      "last_text": {"$literal": text[:PREVIEW]},
                      "last_customer_at": {"$literal": now},
                      "last_activity_at": {"$literal": now}}},
            {"$unset": "_idle"}]
        return self._upsert(business_id, customer_id, pipeline)

    def flag(self, business_id: str, customer_id: str, reason: str, *, channel: str = "",
             phone_number_id: str = "", customer_name: str = "") -> Conversation:
        """The customer needs a person (``reason`` one of ``FLAG_REASONS``): ``bot`` →
        ``waiting``. Already waiting or with a person: unchanged."""
        if reason not in FLAG_REASONS:
            raise ValueError(f"unknown handoff reason {reason!r}")
        now = self.clock()
        to_wait = {"$eq": [{"$ifNull": ["$state", BOT]}, BOT]}
        pipeline = [
            {"$set": {"_flag": to_wait}},
            {"$set": {"state": {"$cond": ["$_flag", WAITING, "$state"]},
                      "reason": {"$cond": ["$_flag", reason, "$reason"]},
                      "waiting_since": {"$cond": ["$_flag", {"$literal": now},
                                                  "$waiting_since"]},
                      "version": {"$add": [{"$ifNull": ["$version", 0]},
                                           {"$cond": ["$_flag", 1, 0]}]},
                      "channel": {"$ifNull": ["$channel", {"$literal": channel}]},
                      "phone_number_id": {"$ifNull": ["$phone_number_id",
                                                      {"$literal": phone_number_id}]},
                      "customer_name": {"$ifNull": ["$customer_name",
                                                    {"$literal": customer_name[:200]}]},
                      "last_activity_at": {"$ifNull": ["$last_activity_at", {"$literal": now}]}}},
            {"$unset": "_flag"}]
        return self._upsert(business_id, customer_id, pipeline)

    def echoed(self, business_id: str, customer_id: str, phone_number_id: str) -> Conversation:
        """The owner wrote to the customer from the WhatsApp Business app: a person has the
        conversation (unless a staff member of the console already has it)."""
        now = self.clock()
        pipeline = [
            {"$set": {"_take": {"$ne": [{"$ifNull": ["$state", BOT]}, HUMAN]}}},
            {"$set": {"state": HUMAN, "team_activity_at": {"$literal": now},
                      "assignee": {"$cond": ["$_take", ECHO_AGENT, "$assignee"]},
                      "reason": {"$cond": ["$_take", ECHO, "$reason"]},
                      "taken_at": {"$cond": ["$_take", {"$literal": now}, "$taken_at"]},
                      "version": {"$add": [{"$ifNull": ["$version", 0]},
                                           {"$cond": ["$_take", 1, 0]}]},
                      "channel": {"$ifNull": ["$channel", "whatsapp"]},
                      "phone_number_id": {"$ifNull": ["$phone_number_id",
                                                      {"$literal": phone_number_id}]},
                      "last_activity_at": {"$literal": now}}},
            {"$unset": "_take"}]
        return self._upsert(business_id, customer_id, pipeline)

    def _upsert(self, business_id: str, customer_id: str, pipeline: list) -> Conversation:
        for _ in range(2):
            try:
                doc = with_retries(lambda: self.docs.find_one_and_update(
                    {"business_id": business_id, "customer_id": customer_id}, pipeline,
                    upsert=True, return_document=ReturnDocument.AFTER))
                return Conversation.of(doc)
            except DuplicateKeyError:  # two first messages at once: the other upsert won
                continue
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------ the business side
    def take(self, business_id: str, conversation_id: str, who: str,
             version: int) -> Conversation:
        """``who`` takes the conversation as it was shown (``version``): → ``human``.

        Raises ``AlreadyTakenError`` when someone else took it since, ``ChangedError`` when
        it changed otherwise (the page is stale)."""
        now = self.clock()
        doc = with_retries(lambda: self.docs.find_one_and_update(
            {"_id": _oid(conversation_id), "business_id": business_id, "version": version},
            {"$set": {"state": HUMAN, "assignee": who, "taken_at": now,
                      "last_activity_at": now, "team_activity_at": now},
             "$inc": {"version": 1}}, return_document=ReturnDocument.AFTER))
        if doc is not None:
            return Conversation.of(doc)
        current = self.get(business_id, conversation_id)
        if current.state == HUMAN and current.assignee == who:
            return current  # a double click
        if current.state == HUMAN:
            raise AlreadyTakenError(current.assignee)
        raise ChangedError("the conversation changed meanwhile")

    def hand_back(self, business_id: str, conversation_id: str, who: str) -> Conversation:
        """Back to the bot, from ``human`` (by the person who has it) or ``waiting`` (a
        request settled without a reply). ``NotYoursError`` when someone else has it."""
        current = self.get(business_id, conversation_id)
        if current.state == BOT:
            raise ChangedError("the bot already has this conversation")
        if current.state == HUMAN and current.assignee not in (who, ECHO_AGENT):
            raise NotYoursError(f"{current.assignee} has this conversation")
        doc = with_retries(lambda: self.docs.find_one_and_update(
            {"_id": _oid(conversation_id), "business_id": business_id,
             "version": current.version},
            {"$set": {"state": BOT, "assignee": "", "reason": "", "handed_back_by": who,
                      "last_activity_at": self.clock()},
             "$unset": {"waiting_since": ""}, "$inc": {"version": 1}},
            return_document=ReturnDocument.AFTER))
        if doc is None:
            raise ChangedError("the conversation changed meanwhile")
        return Conversation.of(doc)

    def release_idle(self) -> int:
        """Every person's conversation nobody wrote in for ``idle`` goes back to the bot; how
        many did (the channel runs this with its sweep, so the inbox stays true)."""
        now = self.clock()
        return with_retries(lambda: self.docs.update_many(
            {"state": HUMAN, "team_activity_at": {"$lt": now - self.idle}},
            {"$set": {"state": BOT, "reason": IDLE, "assignee": ""},
             "$inc": {"version": 1}})).modified_count

    def replying(self, business_id: str, conversation_id: str, who: str) -> Conversation:
        """Check that ``who`` has the conversation before a reply, and keep it from going
        idle. ``NotYoursError`` otherwise."""
        doc = with_retries(lambda: self.docs.find_one_and_update(
            {"_id": _oid(conversation_id), "business_id": business_id, "state": HUMAN,
             "assignee": who}, {"$set": {"last_activity_at": self.clock(),
                                         "team_activity_at": self.clock()}},
            return_document=ReturnDocument.AFTER))
        if doc is None:
            current = self.get(business_id, conversation_id)
            raise NotYoursError("take the conversation first" if current.state != HUMAN
                                else f"{current.assignee} has this conversation")
        return Conversation.of(doc)


def _oid(conversation_id: str) -> ObjectId:
    try:
        return ObjectId(conversation_id[:24])
    except (InvalidId, TypeError):
        raise UnknownEntityError("conversation", conversation_id[:40]) from None
