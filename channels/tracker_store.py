"""A MongoDB tracker store for Rasa that stays fast however long a conversation gets.

Rasa's own ``MongoTrackerStore`` keeps every event of a conversation in one document, reads
that whole document twice per turn, and does it with blocking pymongo calls on the event loop.
This store (``endpoints.yml``: ``type: channels.tracker_store.BoundedMongoTrackerStore``):

- keeps one document per event in ``<collection>_events`` (unique ``sender_id`` + ``seq``) and a
  small head document per conversation in the configured collection (event count, where the latest
  session starts, the current slot values, latest message);
- loads at most ``window`` events per turn: the latest session, or its last ``window`` events
  starting at a turn boundary, preceded by the current slot values (so nothing the dialogue
  needs is lost);
- appends only the new events of a turn (sequence numbers reserved atomically with ``$inc``, so
  two servers never collide);
- runs every database call in a worker thread, never on the event loop.
"""
from __future__ import annotations

import channels.rasa_patches  # noqa: F401  (Rasa fix, see the module)
import asyncio
import logging
import os
from datetime import datetime, timezone
from typing import Any, Dict, Iterable, List, Optional, Text

from pymongo import ASCENDING, MongoClient, ReturnDocument
from pymongo.write_concern import WriteConcern
from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import TrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SessionStarted, SlotSet
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity

from booking.db import ensure_ttl_index

logger = logging.getLogger(__name__)

DEFAULT_WINDOW = 200
_LOADED = "_bounded_store_loaded"  # tracker attribute: how many of its events are stored


def retention_seconds() -> int:
    """``DATA_RETENTION_DAYS`` (default 90) in seconds."""
    return int(float(os.environ.get("DATA_RETENTION_DAYS") or 90) * 86400)


class BoundedMongoTrackerStore(TrackerStore):
    """See the module docstring."""

    durable = True  # used unwrapped: a failed save or load is raised (channels.rasa_patches 5.)

    def __init__(self, domain: Domain, host: Optional[Text] = "mongodb://localhost:27017",
                 db: Optional[Text] = "rasa", collection: Text = "trackers",
                 window: int = DEFAULT_WINDOW, event_broker: Optional[EventBroker] = None,
                 **kwargs: Any) -> None:
        super().__init__(domain, event_broker, **kwargs)
        self.client: MongoClient = MongoClient(host, connect=False, tz_aware=False,
                                               serverSelectionTimeoutMS=5000)
        # Journaled majority writes, like the core's (booking.db.connect): the channel marks a
        # message done once its turn is saved, so a save acknowledged but not yet on disk when
        # mongod dies would lose the turn of a message the inbox calls done.
        database = self.client.get_database(db or "rasa",
                                            write_concern=WriteConcern("majority", j=True))
        self.heads = database[collection]
        self.events = database[f"{collection}_events"]
        self.window = int(window)
        self._indexed = False

    def _ensure_indexes(self) -> None:
        if not self._indexed:
            self.events.create_index([("sender_id", ASCENDING), ("seq", ASCENDING)], unique=True)
            # Channels ask whether a message's turn already ran (a retry after an outage).
            self.events.create_index("event.message_id", partialFilterExpression={
                "event.event": "user"})
            # The WhatsApp channel asks whether a staff message is already written.
            self.events.create_index([("sender_id", ASCENDING), ("event.metadata.item",
                                                                  ASCENDING)],
                                     partialFilterExpression={"event.event": "bot"})
            # Retention (DATA_RETENTION_DAYS): conversations hold message texts and names. An
            # event outlives the inbox record of its message, which is written before it.
            keep = retention_seconds()
            ensure_ttl_index(self.events, "at", keep)
            ensure_ttl_index(self.heads, "updated_at", keep)
            self._indexed = True

    # ------------------------------------------------------------------ save
    async def save(self, tracker: DialogueStateTracker) -> None:
        """Append the tracker's new events and refresh its head document."""
        if self.event_broker:
            await self.stream_events(tracker)
        events = list(tracker.events)
        loaded = getattr(tracker, _LOADED, None)
        state = tracker.current_state(EventVerbosity.NONE)
        head = {"slots": tracker.current_slot_values(),
                "latest_message": state.get("latest_message"),
                "latest_event_time": state.get("latest_event_time"),
                "latest_input_channel": state.get("latest_input_channel"),
                "latest_action_name": state.get("latest_action_name")}
        await asyncio.to_thread(self._append, tracker.sender_id, events, loaded, head)
        setattr(tracker, _LOADED, len(events))

    def _append(self, sender_id: str, events: list, loaded: Optional[int], head: dict) -> None:
        self._ensure_indexes()
        if loaded is None:  # a tracker this store did not load: taken as the whole history,
            stored = self.heads.find_one({"_id": sender_id}, {"count": 1}) or {}  # append the rest
            loaded = min(stored.get("count", 0), len(events))
        new = [e.as_dict() for e in events[loaded:]]
        now = datetime.now(timezone.utc)
        head = {**head, "updated_at": now}
        if not new:
            self.heads.update_one({"_id": sender_id}, {"$set": head}, upsert=True)
            return
        before = self.heads.find_one_and_update(
            {"_id": sender_id}, {"$inc": {"count": len(new)}, "$set": head},
            upsert=True, return_document=ReturnDocument.BEFORE)
        first = (before or {}).get("count", 0)
        starts = [first + i for i, e in enumerate(new) if e.get("event") == SessionStarted.type_name]
        if starts:
            self.heads.update_one({"_id": sender_id}, {"$max": {"session_start": starts[-1]}})
        self.events.insert_many([{"sender_id": sender_id, "seq": first + i, "event": e,
                                  "at": now} for i, e in enumerate(new)], ordered=True)

    # ------------------------------------------------------------------ retrieve
    async def retrieve(self, sender_id: Text) -> Optional[DialogueStateTracker]:
        """The latest session, bounded to ``window`` events (see the module docstring)."""
        loaded = await asyncio.to_thread(self._load, sender_id, False)
        return self._tracker(sender_id, loaded)

    async def retrieve_full_tracker(self, conversation_id: Text) -> Optional[DialogueStateTracker]:
        """Every event of every session (exports, ``rasa test`` style inspection)."""
        loaded = await asyncio.to_thread(self._load, conversation_id, True)
        return self._tracker(conversation_id, loaded)

    def _load(self, sender_id: str, everything: bool) -> Optional[tuple[list, list]]:
        head = self.heads.find_one({"_id": sender_id})
        if not head or not head.get("count"):
            return None
        first = 0 if everything else max(head.get("session_start", 0),
                                          head["count"] - self.window)
        docs = list(self.events.find({"sender_id": sender_id, "seq": {"$gte": first}},
                                     {"_id": 0, "event": 1}).sort("seq", 1))
        events = [d["event"] for d in docs]
        prefix: list = []
        if not everything and first > head.get("session_start", 0):
            # Cut at a turn boundary (the action_listen before a user message) and carry the
            # slot values set before the cut.
            cut = next((i for i, e in enumerate(events) if e.get("event") == "action"
                        and e.get("name") == "action_listen"), 0)
            events = events[cut:]
            prefix = [SlotSet(name, value).as_dict()
                      for name, value in (head.get("slots") or {}).items() if value is not None]
        return prefix, events

    def _tracker(self, sender_id: str, loaded: Optional[tuple[list, list]]) -> Optional[DialogueStateTracker]:
        if loaded is None:
            return None
        prefix, events = loaded
        if not events:
            return None
        tracker = DialogueStateTracker.from_dict(sender_id, prefix + events, self.domain.slots)
        setattr(tracker, _LOADED, len(tracker.events))
        return tracker

    async def keys(self) -> Iterable[Text]:
        """Every conversation id."""
        return await asyncio.to_thread(lambda: [d["_id"] for d in self.heads.find({}, {"_id": 1})])

    async def delete(self, sender_id: Text) -> None:
        """Forget a conversation (used by tests and data requests)."""
        await asyncio.to_thread(self._delete, sender_id)

    def _delete(self, sender_id: str) -> None:
        self.events.delete_many({"sender_id": sender_id})
        self.heads.delete_one({"_id": sender_id})


def serialised_events(store_db: Any, sender_id: str, collection: str = "trackers") -> List[Dict]:
    """Every stored event of a conversation, oldest first (for tests and tools)."""
    return [d["event"] for d in store_db[f"{collection}_events"].find(
        {"sender_id": sender_id}).sort("seq", 1)]
