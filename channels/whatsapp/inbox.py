"""The durable inbox: every inbound message is stored under its WhatsApp id before the webhook
answers 200, then processed in arrival order per customer, once, by whichever server holds that
customer's lease (so several Rasa servers can share one database).

Per customer, ``wa_senders`` holds the next sequence number (taken with ``$inc`` when a message
is recorded, so arrival order holds across servers) and the lease: which server is draining the
customer's messages, until when (renewed while a turn runs). Every write about a claimed
message is fenced by the claim (owner and attempt): a server that lost the lease changes nothing.
It also counts the customer's messages per flood window (``flood``): past the limit, one
message gets a "please slow down" reply and the rest are kept as ``throttled``, not run.

Records are kept ``retention`` (TTL indexes, ``DATA_RETENTION_DAYS``). Blocking pymongo calls;
the channel runs them in worker threads.

Every write is majority (journaled), the sequence number and the lease included: with w:1, a
primary that steps down could lose a number (or a lease) while the message insert (or claim)
that followed, retried by the driver, lands on the new primary, which hands the number out
again: the customer's order breaks (or two servers run their turns).
"""
from __future__ import annotations

import logging
import uuid
from dataclasses import asdict
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

from pymongo import ASCENDING, ReturnDocument
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from booking.db import ensure_ttl_index, with_retries
from booking.handoff import KINDS
from channels.whatsapp.parse import Inbound, Status

logger = logging.getLogger(__name__)

RECEIVED, PROCESSING, DONE, FAILED = "received", "processing", "done", "failed"
INTERNAL = KINDS  # what ``post`` queues: the business's items, never a customer's message
THROTTLED, REFUSED = "throttled", "refused"  # kept, never run: a flood, an unknown number
SLOW_DOWN = "slow_down"  # the ``notice`` of the one message answered "please slow down"
RELEASED, NEWER, LOST = "released", "newer", "lost"  # ``release_if_latest``
LEASE = timedelta(minutes=2)
RETENTION = timedelta(days=90)
CHOICE_PAGES_RETENTION = timedelta(days=7)


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Inbox:
    """Inbound messages, delivery statuses and outbound records of the WhatsApp channel."""

    def __init__(self, db: Database, tracker_events: str = "trackers_events",
                 record_attempts: int = 3, lease: timedelta = LEASE,
                 flood: tuple[int, timedelta] = (20, timedelta(seconds=60)),
                 retention: timedelta = RETENTION) -> None:
        self.db = db
        self.tracker_events = tracker_events
        self.record_attempts = record_attempts
        self.lease = lease
        self.flood_messages, self.flood_window = flood
        self.retention = retention

    def backlog(self) -> tuple[int, float]:
        """Messages received and not yet processed, and the oldest one's wait in seconds."""
        waiting = {"status": {"$in": [RECEIVED, PROCESSING]}}
        count = self.db.wa_inbox.count_documents(waiting)
        oldest = self.db.wa_inbox.find_one(waiting, {"received_at": 1},
                                           sort=[("received_at", ASCENDING)]) if count else None
        if not oldest or not oldest.get("received_at"):
            return count, 0.0
        arrived = oldest["received_at"].replace(tzinfo=timezone.utc)
        return count, max(0.0, (_now() - arrived).total_seconds())

    def ensure_indexes(self) -> None:
        """Indexes for ordered claiming and recovery, and the retention of every record."""
        self.db.wa_inbox.create_index([("sender", ASCENDING), ("status", ASCENDING),
                                       ("seq", ASCENDING)])
        self.db.wa_inbox.create_index([("status", ASCENDING), ("lease_until", ASCENDING)])
        self.db.wa_inbox.create_index([("kind", ASCENDING), ("status", ASCENDING)])
        self.db.wa_outbox.create_index([("status", ASCENDING), ("next_at", ASCENDING)])
        self.db.wa_outbox.create_index("ref", sparse=True)
        self.db.wa_outbox.create_index(  # a message's own template, if refused later
            "wamid", partialFilterExpression={"instead": {"$exists": True}})
        keep = int(self.retention.total_seconds())
        ensure_ttl_index(self.db.wa_choice_pages, "created_at",
                         int(CHOICE_PAGES_RETENTION.total_seconds()))
        ensure_ttl_index(self.db.wa_inbox, "received_at", keep)
        ensure_ttl_index(self.db.wa_statuses, "received_at", keep)
        ensure_ttl_index(self.db.wa_outbox, "at", keep)
        ensure_ttl_index(self.db.wa_senders, "last_at", keep)  # the number, after its messages

    def record(self, message: Inbound, business_id: Optional[str]) -> Optional[str]:
        """Store a message; its status (``received``, or ``throttled`` past the flood limit,
        ``refused`` without a business), or None when this id was already stored.

        Two writes: the sender's sequence number and flood count, then the message, whose id
        is unique. A repeated delivery fails the second one; its flood count is given back
        (a third write, only then), and the sequence number it took stays unused: order only
        needs the numbers to grow."""
        doc = {"_id": message.message_id, **asdict(message), "business_id": business_id,
               "status": RECEIVED, "received_at": _now(), "seq": 0, "attempts": 0}
        del doc["message_id"]
        if business_id is None:
            doc["status"] = REFUSED
        else:
            doc["seq"], count = with_retries(lambda: self._next_seq(message.sender),
                                             self.record_attempts)
            if count == self.flood_messages + 1:
                doc["notice"] = SLOW_DOWN  # answered once, in order, instead of a turn
            elif count > self.flood_messages:
                doc["status"] = THROTTLED
        try:
            with_retries(lambda: self.db.wa_inbox.insert_one(doc), self.record_attempts)
            return doc["status"]
        except DuplicateKeyError:  # a repeated delivery: not counted in the flood
            if business_id is not None:
                with_retries(lambda: self.db.wa_senders.update_one(
                    {"_id": message.sender, "flood_count": {"$gt": 0}},
                    {"$inc": {"flood_count": -1}}), self.record_attempts)
            return None

    def post(self, sender: str, business_id: str, phone_number_id: str, kind: str, text: str,
             extra: dict[str, Any], item_id: Optional[str] = None) -> Optional[str]:
        """Queue what the business sends a customer (``INTERNAL`` kinds: a staff reply, a
        template, the hand back to the bot, an echo of the owner's own reply) in the
        customer's order, behind the messages they already sent; processed once, by the
        server holding their lease, like their own messages. Its id, or None when ``item_id``
        was already queued (a repeated echo). Not counted as the customer's flood."""
        if kind not in INTERNAL:
            raise ValueError(f"not an internal kind: {kind!r}")
        named = item_id is not None
        item_id = item_id or f"{kind}:{uuid.uuid4().hex}"
        seq = with_retries(lambda: self._next_seq(sender, customer=False), self.record_attempts)[0]
        doc = {"_id": item_id, "sender": sender, "phone_number_id": phone_number_id,
               "kind": kind, "text": text[:4096], "timestamp": 0, "profile_name": "",
               "extra": extra, "business_id": business_id, "status": RECEIVED,
               "received_at": _now(), "seq": seq, "attempts": 0}
        try:
            with_retries(lambda: self.db.wa_inbox.insert_one(doc), self.record_attempts)
            return item_id
        except DuplicateKeyError:  # named: queued before; ours: an earlier try of this insert
            return None if named else item_id

    def post_for(self, conversation: Any, kind: str, text: str, extra: dict[str, Any],
                 item_id: Optional[str] = None) -> Optional[str]:
        """``post`` to a conversation's customer from its business number (the console's
        ``booking.handoff.Post``)."""
        return self.post(conversation.customer_id, conversation.business_id,
                         conversation.phone_number_id, kind, text, extra, item_id)

    def _next_seq(self, sender: str, customer: bool = True) -> tuple[int, int]:
        """The customer's next sequence number (shared by every server) and how many messages
        they sent in the current flood window, this one included (one atomic update; items
        the business sends (``customer=False``) count in neither the flood nor ``last_at``)."""
        now = _now()
        if not customer:
            doc = self.db.wa_senders.find_one_and_update(
                {"_id": sender}, {"$inc": {"seq": 1}, "$setOnInsert": {"last_at": now}},
                projection={"seq": 1}, upsert=True, return_document=ReturnDocument.AFTER)
            return doc["seq"], 0
        fresh = {"$or": [{"$eq": [{"$type": "$flood_since"}, "missing"]},
                         {"$lte": ["$flood_since", now - self.flood_window]}]}
        pipeline = [
            {"$set": {"seq": {"$add": [{"$ifNull": ["$seq", 0]}, 1]}, "_fresh": fresh}},
            {"$set": {"flood_since": {"$cond": ["$_fresh", {"$literal": now}, "$flood_since"]},
                      "flood_count": {"$cond": ["$_fresh", 1, {"$add": ["$flood_count", 1]}]}}},
            {"$unset": "_fresh"},
            {"$set": {"last_at": {"$literal": now}}}]  # retention: kept while the number writes
        for _ in range(2):
            try:
                doc = self.db.wa_senders.find_one_and_update(
                    {"_id": sender}, pipeline, projection={"seq": 1, "flood_count": 1},
                    upsert=True, return_document=ReturnDocument.AFTER)
                return doc["seq"], doc["flood_count"]
            except DuplicateKeyError:  # two first messages at once: the other upsert won
                continue
        raise AssertionError("unreachable")

    def record_status(self, status: Status) -> bool:
        """Store a delivery receipt once (per message id and status); False for a replay."""
        try:
            with_retries(lambda: self.db.wa_statuses.insert_one(
                {"_id": f"{status.message_id}:{status.status}", **asdict(status),
                 "received_at": _now()}))
            return True
        except DuplicateKeyError:
            return False

    def claim_next(self, sender: str, owner: str = "",
                   until: Optional[datetime] = None) -> Optional[dict[str, Any]]:
        """The customer's oldest unfinished message, leased to ``owner``; None when there is
        none, or while it is still leased elsewhere (a server that stalled past its lease on
        the customer may still be running it: no later message runs before it ends or its
        lease runs out). One atomic update of that message only.

        A message stays claimed until ``finish``; one whose lease ran out (its process died
        mid-way) can be claimed again, as a new attempt. One worker per customer calls this,
        so a customer's messages are handled one at a time in arrival order. ``until``: the
        end of the caller's lease on the customer (from ``acquire``): the message's lease never
        outlives it, so a server that takes the customer over after a crash finds the message
        claimable and runs it first. The returned document is the claim that ``renew``,
        ``finish`` and ``put_back`` are fenced by.
        """
        now = _now()
        lease_until = min(now + self.lease, until) if until is not None else now + self.lease
        token = uuid.uuid4().hex
        claimable = {"$or": [{"$eq": ["$status", RECEIVED]}, {"$lt": ["$lease_until", now]}]}

        def claimed(value: Any, field: str) -> dict[str, Any]:
            return {"$cond": [claimable, value, f"${field}"]}

        doc = with_retries(lambda: self.db.wa_inbox.find_one_and_update(
            self._unfinished(sender),
            [{"$set": {"status": claimed({"$literal": PROCESSING}, "status"),
                       "lease_until": claimed({"$literal": lease_until}, "lease_until"),
                       "owner": claimed({"$literal": owner}, "owner"),
                       "claim": claimed({"$literal": token}, "claim"),
                       "attempts": claimed({"$add": ["$attempts", 1]}, "attempts")}}],
            sort=[("seq", ASCENDING)], return_document=ReturnDocument.AFTER))
        return doc if doc is not None and doc.get("claim") == token else None

    @staticmethod
    def _unfinished(sender: str) -> dict[str, Any]:
        """The filter matching the customer's messages not yet finished (the oldest first by
        ``seq``: the one ``claim_next`` and ``has_work`` look at)."""
        return {"sender": sender, "status": {"$in": [RECEIVED, PROCESSING]}}

    @staticmethod
    def _claimed(claim: dict[str, Any]) -> dict[str, Any]:
        """The filter matching a message only while it is still this claim."""
        return {"_id": claim["_id"], "status": PROCESSING, "owner": claim.get("owner", ""),
                "attempts": claim["attempts"]}

    def renew(self, claim: dict[str, Any]) -> Optional[datetime]:
        """Extend its owner's lease on the customer, then the claim's (a long turn): until when;
        None when the customer went to another server meanwhile (then the message's lease is
        left alone: it never outlives the customer's)."""
        until = _now() + self.lease
        sender = with_retries(lambda: self.db.wa_senders.update_one(
            {"_id": claim["sender"], "owner": claim.get("owner", "")},
            {"$set": {"lease_until": until}}))
        if sender.matched_count != 1:
            return None
        with_retries(lambda: self.db.wa_inbox.update_one(  # (nothing if it finished meanwhile)
            self._claimed(claim), {"$set": {"lease_until": until}}))
        return until

    def acquire(self, sender: str, owner: str) -> Optional[datetime]:
        """Take (or renew) the lease on a customer's messages: until when it is ours; None
        while another server holds it. A lease left by a process that died runs out after
        ``LEASE``."""
        now = _now()
        until = now + self.lease
        try:
            with_retries(lambda: self.db.wa_senders.update_one(
                {"_id": sender, "$or": [{"owner": None}, {"owner": owner},
                                        {"lease_until": {"$lt": now}}]},
                {"$set": {"owner": owner, "lease_until": until}}, upsert=True))
            return until
        except DuplicateKeyError:  # the customer exists and the filter did not match: held
            return None

    def release(self, sender: str, owner: str) -> None:
        """Give the lease back (only if still ours)."""
        with_retries(lambda: self.db.wa_senders.update_one(
            {"_id": sender, "owner": owner}, {"$set": {"owner": None},
                                              "$unset": {"lease_until": ""}}))

    def release_if_latest(self, sender: str, owner: str, seq: int) -> str:
        """Give the lease back if ``seq`` is still the customer's latest sequence number
        (nothing was recorded or queued for them since), in one write: ``RELEASED``;
        ``NEWER`` (the lease is kept) when something newer may be waiting; ``LOST`` when the
        lease is no longer ours."""
        latest = {"$eq": ["$seq", seq]}
        done = with_retries(lambda: self.db.wa_senders.update_one(
            {"_id": sender, "owner": owner},
            [{"$set": {"owner": {"$cond": [latest, None, "$owner"]},
                       "lease_until": {"$cond": [latest, "$$REMOVE", "$lease_until"]}}}]))
        if not done.matched_count:
            return LOST
        return RELEASED if done.modified_count else NEWER

    def has_work(self, sender: str) -> bool:
        """Whether the customer's oldest unfinished message can be claimed now (waiting, or
        its lease ran out): what ``claim_next`` would take."""
        now = _now()
        oldest = with_retries(lambda: self.db.wa_inbox.find_one(
            self._unfinished(sender), {"status": 1, "lease_until": 1},
            sort=[("seq", ASCENDING)]))
        if oldest is None:
            return False
        lease = oldest.get("lease_until")
        return oldest["status"] == RECEIVED or lease is None or \
            lease.replace(tzinfo=timezone.utc) < now

    def in_conversation(self, message_id: str) -> bool:
        """Whether Rasa's tracker already holds this message: its turn ran to the end (the
        tracker is saved last), so a retried message must not run again."""
        return with_retries(lambda: self.db[self.tracker_events].find_one(
            {"event.event": "user", "event.message_id": message_id}, {"_id": 1})) is not None

    def put_back(self, claim: dict[str, Any], error: str) -> bool:
        """Return a claimed message to the queue (its turn hit an outage; it runs again);
        False (nothing changed) when the claim is no longer the caller's."""
        return with_retries(lambda: self.db.wa_inbox.update_one(
            self._claimed(claim),
            {"$set": {"status": RECEIVED, "error": error[:500]},
             "$unset": {"lease_until": ""}})).modified_count == 1

    def finish(self, claim: dict[str, Any], ok: bool = True, error: str = "") -> bool:
        """Mark a claimed message processed (or failed, with the reason); False (nothing
        changed) when the claim is no longer the caller's."""
        return with_retries(lambda: self.db.wa_inbox.update_one(
            self._claimed(claim), {"$set": {"status": DONE if ok else FAILED,
                                            "finished_at": _now(), "error": error[:500]},
                                   "$unset": {"lease_until": ""}})).modified_count == 1

    def senders_with_items(self) -> list[str]:
        """Customers with an item of the business waiting (a staff reply, a hand back)."""
        return with_retries(lambda: self.db.wa_inbox.distinct(
            "sender", {"kind": {"$in": list(INTERNAL)}, "status": RECEIVED}))

    def senders_with_work(self) -> list[str]:
        """Customers with recorded but unprocessed messages (for recovery after a restart)."""
        now = _now()
        return with_retries(lambda: self.db.wa_inbox.distinct("sender", {"$or": [
            {"status": RECEIVED}, {"status": PROCESSING, "lease_until": {"$lt": now}}]}))

    def record_outbound(self, wamid: Optional[str], to: str, kind: str, status: str,
                        error: str = "", ref: Optional[str] = None,
                        instead: Optional[dict[str, Any]] = None) -> None:
        """Keep what was sent (or why it was not); ``ref``: the queued item it came from;
        ``instead``: the template to send if Meta refuses it later as outside the window."""
        doc = {"wamid": wamid, "to": to, "type": kind, "status": status, "error": error[:500],
               "at": _now()}
        if ref:
            doc["ref"] = ref
        if instead:
            doc["instead"] = instead
        with_retries(lambda: self.db.wa_outbox.insert_one(doc))

    def template_instead(self, wamid: str) -> Optional[dict[str, Any]]:
        """The template kept for a sent message, to go if it is refused later (131047)."""
        doc = with_retries(lambda: self.db.wa_outbox.find_one(
            {"wamid": wamid, "instead": {"$exists": True}}, {"instead": 1}))
        return doc["instead"] if doc else None

    def defer_outbound(self, to: str, phone_number_id: str, message: dict[str, Any],
                       error: str, wait: timedelta, ref: Optional[str] = None) -> None:
        """Keep a reply Graph would not take yet (429/5xx past the retries) to send later."""
        now = _now()
        doc = {"wamid": None, "to": to, "phone_number_id": phone_number_id,
               "type": message["type"], "message": message, "status": "retrying",
               "error": error[:500], "at": now, "attempts": 1, "next_at": now + wait}
        if ref:
            doc["ref"] = ref
        with_retries(lambda: self.db.wa_outbox.insert_one(doc))

    def outbound_of(self, ref: str) -> list[dict[str, Any]]:
        """The outbound records of a queued item (what Graph was asked to send for it)."""
        return with_retries(lambda: list(self.db.wa_outbox.find({"ref": ref})))

    def mark_sending(self, claim: dict[str, Any]) -> bool:
        """Note on a claimed item that its sending starts (a retry after a crash must not
        send it again); False when the claim is no longer the caller's."""
        return with_retries(lambda: self.db.wa_inbox.update_one(
            self._claimed(claim), {"$set": {"sending_at": _now()}})).modified_count == 1

    def claim_deferred(self) -> Optional[dict[str, Any]]:
        """The oldest reply due to be sent again, leased to the caller (None when none)."""
        now = _now()
        return with_retries(lambda: self.db.wa_outbox.find_one_and_update(
            {"$or": [{"status": "retrying", "next_at": {"$lte": now}},
                     {"status": "resending", "lease_until": {"$lt": now}}]},
            {"$set": {"status": "resending", "lease_until": now + self.lease}},
            sort=[("at", ASCENDING)], return_document=ReturnDocument.AFTER))

    def deferred_sent(self, doc_id: Any, wamid: str) -> None:
        """A kept reply Graph has now taken."""
        with_retries(lambda: self.db.wa_outbox.update_one(
            {"_id": doc_id}, {"$set": {"status": "sent", "wamid": wamid, "sent_at": _now()},
                              "$unset": {"lease_until": "", "next_at": ""}}))

    def deferred_again(self, doc_id: Any, error: str, wait: Optional[timedelta]) -> None:
        """Try once more after ``wait``; ``None``: give up (recorded as failed)."""
        update: dict[str, Any] = {"$set": {"status": "failed" if wait is None else "retrying",
                                           "error": error[:500]},
                                  "$inc": {"attempts": 1}, "$unset": {"lease_until": ""}}
        if wait is not None:
            update["$set"]["next_at"] = _now() + wait
        with_retries(lambda: self.db.wa_outbox.update_one({"_id": doc_id}, update))

    def save_choices(self, key: str, text: str, choices: list[dict[str, str]],
                     language: str = "en") -> None:
        """Keep a long list of choices (and its language) so "More…" can page through it."""
        with_retries(lambda: self.db.wa_choice_pages.replace_one(
            {"_id": key}, {"text": text, "choices": choices, "language": language,
                           "created_at": _now()}, upsert=True))

    def load_choices(self, key: str) -> Optional[dict[str, Any]]:
        """A saved list of choices."""
        return with_retries(lambda: self.db.wa_choice_pages.find_one({"_id": key}))
