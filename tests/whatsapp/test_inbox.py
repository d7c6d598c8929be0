"""The inbox on a real mongod: arrival order across servers, one lease per customer, retries
that never run a finished turn twice, claims fenced by owner and attempt, the flood limit
counted in the database, and retention as TTL indexes."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

from channels.whatsapp import inbox as inbox_module
from channels.whatsapp.inbox import (DONE, LOST, NEWER, PROCESSING, RECEIVED, REFUSED, RELEASED,
                                     SLOW_DOWN, THROTTLED, Inbox)
from channels.whatsapp.parse import Inbound


def message(n: int, sender: str = "62811") -> Inbound:
    return Inbound(f"wamid.{sender}.{n}", sender, "110", "text", f"message {n}")


def test_two_servers_recording_one_customer_keep_arrival_order(db):
    server_a, server_b = Inbox(db), Inbox(db)  # two processes sharing one database
    for n in range(10):
        assert (server_a if n % 2 else server_b).record(message(n), "spa")
    assert not server_a.record(message(3), "spa")  # a repeated delivery is not stored twice
    order = []
    while (doc := server_a.claim_next("62811")) is not None:
        order.append(doc["text"])
        assert server_a.finish(doc)
    assert order == [f"message {n}" for n in range(10)]


def test_first_messages_of_one_customer_at_once_get_distinct_numbers(db):
    inboxes = [Inbox(db) for _ in range(8)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: inboxes[n].record(message(n, "62899"), "spa"), range(8)))
    seqs = sorted(d["seq"] for d in db.wa_inbox.find({"sender": "62899"}))
    assert seqs == list(range(1, 9))


def test_one_server_at_a_time_holds_a_customer(db):
    inbox = Inbox(db)
    inbox.record(message(1), "spa")
    assert inbox.acquire("62811", "a")
    assert inbox.acquire("62811", "a")  # renewing
    assert not inbox.acquire("62811", "b")
    inbox.release("62811", "b")  # not b's to give back
    assert not inbox.acquire("62811", "b")
    inbox.release("62811", "a")
    assert inbox.acquire("62811", "b")
    assert not inbox.acquire("62811", "a")


def test_a_lease_left_by_a_dead_server_runs_out(db):
    inbox = Inbox(db)
    assert inbox.acquire("62877", "dead")  # a customer without a stored message yet
    db.wa_senders.update_one({"_id": "62877"},
                             {"$set": {"lease_until": db.wa_senders.find_one()["lease_until"]
                                       - timedelta(minutes=5)}})
    assert inbox.acquire("62877", "alive")


def test_racing_servers_get_one_lease(db):
    inbox = Inbox(db)
    inbox.record(message(1), "spa")
    with ThreadPoolExecutor(8) as pool:
        won = list(pool.map(lambda n: inbox.acquire("62811", f"server{n}"), range(8)))
    assert sum(until is not None for until in won) == 1


def test_an_interrupted_message_goes_back_and_a_finished_turn_is_recognised(db):
    inbox = Inbox(db)
    inbox.record(message(1), "spa")
    inbox.record(message(2), "spa")
    first = inbox.claim_next("62811")
    assert inbox.put_back(first, "AutoReconnect")
    assert db.wa_inbox.find_one({"_id": first["_id"]})["status"] == RECEIVED
    again = inbox.claim_next("62811")
    assert (again["_id"], again["attempts"], again["status"]) == (first["_id"], 2, PROCESSING)
    assert not inbox.in_conversation(again["_id"])
    db.trackers_events.insert_one({"sender_id": "62811", "seq": 0, "event": {
        "event": "user", "text": "message 1", "message_id": again["_id"]}})
    assert inbox.in_conversation(again["_id"])
    assert inbox.finish(again)
    assert db.wa_inbox.find_one({"_id": again["_id"]})["status"] == DONE
    assert inbox.has_work("62811") and inbox.senders_with_work() == ["62811"]


def test_a_reply_graph_would_not_take_waits_then_is_sent_or_given_up(db):
    inbox = Inbox(db)
    message = {"type": "text", "text": {"body": "Booked"}}
    inbox.defer_outbound("62811", "110", message, "HTTP 503", timedelta(0))
    inbox.defer_outbound("62822", "110", message, "HTTP 429", timedelta(hours=1))  # not due
    first = inbox.claim_deferred()
    assert (first["to"], first["message"], first["status"]) == ("62811", message, "resending")
    assert inbox.claim_deferred() is None  # leased, and the other is not due yet
    inbox.deferred_again(first["_id"], "HTTP 503 again", timedelta(0))
    again = inbox.claim_deferred()
    assert (again["_id"], again["attempts"]) == (first["_id"], 2)
    inbox.deferred_sent(again["_id"], "wamid.out1")
    assert db.wa_outbox.find_one({"_id": first["_id"]})["status"] == "sent"
    assert inbox.claim_deferred() is None
    later = db.wa_outbox.find_one({"to": "62822"})
    inbox.deferred_again(later["_id"], "too old", None)
    assert db.wa_outbox.find_one({"_id": later["_id"]})["status"] == "failed"


def expire(db, sender: str, message_id: str) -> None:
    """What a lease running out looks like (its server stopped renewing it)."""
    past = datetime.now(timezone.utc) - timedelta(seconds=1)
    db.wa_senders.update_one({"_id": sender}, {"$set": {"lease_until": past}})
    db.wa_inbox.update_one({"_id": message_id}, {"$set": {"lease_until": past}})


def test_a_server_that_lost_the_lease_changes_nothing(db):
    server_a, server_b = Inbox(db), Inbox(db)
    server_a.record(message(1), "spa")
    assert server_a.acquire("62811", "a")
    claim_a = server_a.claim_next("62811", "a")
    expire(db, "62811", claim_a["_id"])  # a's turn outlived its lease
    assert server_b.acquire("62811", "b")
    claim_b = server_b.claim_next("62811", "b")
    assert (claim_b["_id"], claim_b["attempts"]) == (claim_a["_id"], 2)
    assert not server_a.renew(claim_a)
    assert not server_a.finish(claim_a, False, "late")
    assert not server_a.put_back(claim_a, "late")
    stored = db.wa_inbox.find_one({"_id": claim_a["_id"]})
    assert (stored["status"], stored["owner"], stored["attempts"]) == (PROCESSING, "b", 2)
    assert server_b.finish(claim_b)
    assert db.wa_inbox.find_one({"_id": claim_a["_id"]})["status"] == DONE
    assert not server_a.finish(claim_a)  # and not afterwards either


def test_renewing_keeps_a_slow_turn_from_another_server(db):
    lease = timedelta(milliseconds=600)
    server_a, server_b = Inbox(db, lease=lease), Inbox(db, lease=lease)
    server_a.record(message(1), "spa")
    assert server_a.acquire("62811", "a")
    claim = server_a.claim_next("62811", "a")
    first_lease = claim["lease_until"].replace(tzinfo=timezone.utc)
    while datetime.now(timezone.utc) <= first_lease:  # the turn runs past its first lease...
        assert server_a.renew(claim)  # ...renewed as it goes
    assert not server_b.acquire("62811", "b")
    assert server_b.claim_next("62811", "b") is None
    assert server_b.senders_with_work() == [] and not server_b.has_work("62811")
    assert server_a.finish(claim)


def two_messages_on_a_clock(db, monkeypatch) -> list[datetime]:
    """Two messages of one customer recorded, and the inbox's clock: ``clock[0]`` is now."""
    clock = [datetime(2026, 12, 4, 10, 0, tzinfo=timezone.utc)]
    monkeypatch.setattr(inbox_module, "_now", lambda: clock[0])
    Inbox(db).record(message(1), "spa")
    Inbox(db).record(message(2), "spa")
    return clock


def test_after_a_crash_the_customer_s_next_server_runs_the_interrupted_message_first(
        db, monkeypatch):
    clock = two_messages_on_a_clock(db, monkeypatch)
    server_a, server_b = Inbox(db), Inbox(db)
    until = server_a.acquire("62811", "a")
    clock[0] += inbox_module.LEASE / 4  # a's lease is renewed only a third of the way through
    claim = server_a.claim_next("62811", "a", until)
    assert claim["lease_until"].replace(tzinfo=timezone.utc) <= until
    clock[0] = until + timedelta(milliseconds=1)  # a died mid-turn: its lease ran out
    assert server_b.acquire("62811", "b")
    again = server_b.claim_next("62811", "b")
    assert (again["_id"], again["attempts"]) == (claim["_id"], 2)  # not message 2 before it


def test_no_later_message_is_claimed_while_an_earlier_one_is_still_leased_elsewhere(
        db, monkeypatch):
    clock = two_messages_on_a_clock(db, monkeypatch)
    stalled, server_b = Inbox(db), Inbox(db)
    claim = stalled.claim_next("62811", "a")  # a stalls mid-turn with a live message lease
    db.wa_senders.update_one({"_id": "62811"}, {"$set": {"owner": "b"}})  # b took the customer
    assert server_b.claim_next("62811", "b") is None and not server_b.has_work("62811")
    assert db.wa_inbox.find_one({"_id": "wamid.62811.2"})["status"] == RECEIVED
    assert stalled.renew(claim) is None  # a's renewal sees the customer gone...
    assert db.wa_inbox.find_one({"_id": claim["_id"]})["lease_until"].replace(
        tzinfo=timezone.utc) == claim["lease_until"].replace(tzinfo=timezone.utc)  # ...left alone
    clock[0] += inbox_module.LEASE + timedelta(seconds=1)  # a's message lease ran out
    assert server_b.has_work("62811")
    again = server_b.claim_next("62811", "b")
    assert (again["_id"], again["attempts"]) == (claim["_id"], 2)


def test_the_lease_goes_back_with_the_latest_message_only(db):
    inbox, other = Inbox(db), Inbox(db)
    inbox.record(message(1), "spa")
    assert inbox.acquire("62811", "a")
    claim = inbox.claim_next("62811", "a")
    other.record(message(2), "spa")  # recorded during the turn: the lease stays
    assert inbox.release_if_latest("62811", "a", claim["seq"]) == NEWER
    assert db.wa_senders.find_one({"_id": "62811"})["owner"] == "a"
    assert inbox.finish(claim)
    latest = inbox.claim_next("62811", "a")
    assert inbox.release_if_latest("62811", "b", latest["seq"]) == LOST  # not b's
    assert inbox.release_if_latest("62811", "a", latest["seq"]) == RELEASED
    lease = db.wa_senders.find_one({"_id": "62811"})
    assert lease["owner"] is None and "lease_until" not in lease
    assert inbox.release_if_latest("62811", "a", latest["seq"]) == LOST  # given back already


def test_a_flood_from_one_customer_is_counted_across_servers(db):
    servers = [Inbox(db, flood=(5, timedelta(seconds=60))) for _ in range(2)]
    statuses = [servers[n % 2].record(message(n), "spa") for n in range(9)]
    assert statuses == [RECEIVED] * 6 + [THROTTLED] * 3
    notices = [d["_id"] for d in db.wa_inbox.find({"notice": SLOW_DOWN})]
    assert notices == ["wamid.62811.5"]  # the 6th, once: answered "please slow down"
    assert servers[0].record(message(1, "62822"), "spa") == RECEIVED  # someone else
    assert servers[0].record(message(8), "spa") is None  # a repeat counts for nothing
    assert db.wa_senders.find_one({"_id": "62811"})["flood_count"] == 9


def test_the_flood_window_starts_again(db):
    inbox = Inbox(db, flood=(2, timedelta(seconds=60)))
    assert [inbox.record(message(n), "spa") for n in range(3)] == [RECEIVED] * 3
    db.wa_senders.update_one({"_id": "62811"}, {"$set": {
        "flood_since": datetime.now(timezone.utc) - timedelta(seconds=61)}})
    assert [inbox.record(message(n), "spa") for n in range(3, 7)] == [
        RECEIVED, RECEIVED, RECEIVED, THROTTLED]
    assert db.wa_inbox.count_documents({"notice": SLOW_DOWN}) == 2  # one per window


def test_a_message_for_no_business_is_kept_refused_and_never_claimed(db):
    inbox = Inbox(db)
    assert inbox.record(message(1), None) == REFUSED
    assert inbox.claim_next("62811") is None and inbox.senders_with_work() == []
    assert db.wa_senders.find_one({"_id": "62811"}) is None  # nor counted


def ttl_of(collection, field: str):
    return next((i["expireAfterSeconds"] for i in collection.list_indexes()
                 if dict(i["key"]) == {field: 1} and "expireAfterSeconds" in i), None)


def test_records_are_kept_for_the_configured_retention(db):
    from booking.flow_tokens import FlowTokens

    Inbox(db, retention=timedelta(days=90)).ensure_indexes()
    expected = {("wa_inbox", "received_at"): 90 * 86400, ("wa_statuses", "received_at"): 90 * 86400,
                ("wa_outbox", "at"): 90 * 86400, ("wa_choice_pages", "created_at"): 7 * 86400}
    assert {key: ttl_of(db[key[0]], key[1]) for key in expected} == expected
    Inbox(db, retention=timedelta(days=30)).ensure_indexes()  # changed: collMod, not an error
    assert [ttl_of(db[c], f) for c, f in expected][:3] == [30 * 86400] * 3
    FlowTokens(db).issue("62811", "spa", datetime.now(timezone.utc))
    assert ttl_of(db.flow_tokens, "expires_at") == 0  # each token removed when it expires
