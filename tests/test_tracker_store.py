"""The bounded tracker store on a real mongod: what Rasa stores comes back, per-turn loading
stays bounded, slots survive the cut, sessions start fresh, and two writers never collide."""
from __future__ import annotations

import asyncio

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (ActionExecuted, BotUttered, SessionStarted, SlotSet,
                                     UserUttered)

from channels.tracker_store import BoundedMongoTrackerStore, serialised_events
from tests.conftest import ROOT

DOMAIN = Domain.load(str(ROOT / "domain.yml"))


@pytest.fixture
def store(mongo_url, db_name, db):
    yield BoundedMongoTrackerStore(DOMAIN, host=mongo_url, db=db_name, window=30)


def turn(i: int) -> list:
    return [UserUttered(f"message {i}", {"name": "greet", "confidence": 1.0}),
            ActionExecuted("utter_greet"), BotUttered(f"answer {i}"),
            ActionExecuted("action_listen")]


async def converse(store: BoundedMongoTrackerStore, sender: str, turns: int, start: int = 0):
    tracker = await store.get_or_create_tracker(sender)
    for i in range(start, start + turns):
        tracker = await store.retrieve(sender) or tracker
        for event in turn(i):
            tracker.update(event)
        await store.save(tracker)
    return await store.retrieve(sender)


def test_what_is_saved_comes_back_and_only_new_events_are_appended(store, db):
    async def run():
        tracker = await converse(store, "ayu", 3)
        assert [e.text for e in tracker.events if isinstance(e, UserUttered)] == [
            "message 0", "message 1", "message 2"]
        events = serialised_events(db, "ayu")
        assert len(events) == db.trackers.find_one({"_id": "ayu"})["count"] == 13
        assert [d["seq"] for d in db.trackers_events.find().sort("seq", 1)] == list(range(13))
    asyncio.run(run())


def test_a_long_session_loads_a_bounded_window_and_keeps_slot_values(store, db):
    async def run():
        tracker = await store.get_or_create_tracker("made")
        tracker.update(SlotSet("customer_name", "Made"))
        tracker.update(SlotSet("service", "balinese-massage"))
        await store.save(tracker)
        tracker = await converse(store, "made", 100)
        assert len(tracker.events) <= 30 + 2
        assert tracker.get_slot("customer_name") == "Made"
        assert tracker.get_slot("service") == "balinese-massage"
        first_real = next(e for e in tracker.events if not isinstance(e, SlotSet))
        assert isinstance(first_real, ActionExecuted) and first_real.action_name == "action_listen"
        assert tracker.latest_message.text == "message 99"
        assert len(serialised_events(db, "made")) == 1 + 2 + 400  # nothing lost in storage
        full = await store.retrieve_full_tracker("made")
        assert len([e for e in full.events if isinstance(e, UserUttered)]) == 100
    asyncio.run(run())


def test_retrieve_starts_at_the_latest_session(store):
    async def run():
        await converse(store, "ketut", 2)
        tracker = await store.retrieve("ketut")
        for event in (ActionExecuted("action_session_start"), SessionStarted(),
                      ActionExecuted("action_listen")):
            tracker.update(event)
        await store.save(tracker)
        tracker = await converse(store, "ketut", 1, start=10)
        assert [e.text for e in tracker.events if isinstance(e, UserUttered)] == ["message 10"]
        assert isinstance(tracker.events[0], SessionStarted)
    asyncio.run(run())


def test_two_writers_of_one_conversation_never_reuse_a_sequence_number(store, mongo_url,
                                                                       db_name, db):
    other = BoundedMongoTrackerStore(DOMAIN, host=mongo_url, db=db_name, window=30)

    async def run():
        await converse(store, "putu", 1)
        a, b = await store.retrieve("putu"), await other.retrieve("putu")
        for event in turn(1):
            a.update(event)
        for event in turn(2):
            b.update(event)
        await asyncio.gather(store.save(a), other.save(b))
        seqs = [d["seq"] for d in db.trackers_events.find({"sender_id": "putu"})]
        assert sorted(seqs) == list(range(len(seqs))) and len(seqs) == 5 + 8
    asyncio.run(run())


def test_unknown_conversations_and_keys(store):
    async def run():
        assert await store.retrieve("nobody") is None
        await converse(store, "wayan", 1)
        assert await store.keys() == ["wayan"]
        assert await store.exists("wayan")
    asyncio.run(run())


def test_conversations_are_kept_for_the_retention_period_only(store, db, monkeypatch):
    """Conversations hold message texts and names: removed DATA_RETENTION_DAYS after they were
    written (TTL indexes on a date every event and head carries)."""
    monkeypatch.setenv("DATA_RETENTION_DAYS", "30")
    asyncio.run(converse(store, "ketut", 1))
    ttl = {name: info["expireAfterSeconds"] for coll in (db.trackers, db.trackers_events)
           for name, info in coll.index_information().items() if "expireAfterSeconds" in info}
    assert sorted(ttl.values()) == [30 * 86400, 30 * 86400]
    assert all(e.get("at") for e in db.trackers_events.find({"sender_id": "ketut"}))
    assert db.trackers.find_one({"_id": "ketut"})["updated_at"]


def test_a_save_or_load_that_fails_is_raised_not_kept_in_memory(mongo_url, db_name):
    """Rasa's agent would wrap the store in FailSafeTrackerStore, which swallows both: a turn
    would 'succeed' while MongoDB is down and its message be lost from the conversation."""
    from rasa.core.agent import Agent
    from rasa.shared.core.trackers import DialogueStateTracker

    down = BoundedMongoTrackerStore(DOMAIN, host="mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=200",
                                    db=db_name)
    used = Agent._create_tracker_store(down, DOMAIN)
    assert used is down  # not wrapped
    tracker = DialogueStateTracker.from_events("someone", turn(1))
    with pytest.raises(Exception) as saving:
        asyncio.run(used.save(tracker))
    assert "ServerSelectionTimeout" in type(saving.value).__name__
    with pytest.raises(Exception):
        asyncio.run(used.retrieve("someone"))
