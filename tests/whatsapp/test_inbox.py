"""The inbox on a real mongod: arrival order across servers, one lease per customer, retries
that never run a finished turn twice."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from channels.whatsapp.inbox import DONE, PROCESSING, RECEIVED, Inbox
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
        server_a.finish(doc["_id"])
    assert order == [f"message {n}" for n in range(10)]


def test_first_messages_of_one_customer_at_once_get_distinct_numbers(db):
    inboxes = [Inbox(db) for _ in range(8)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: inboxes[n].record(message(n, "62899"), None), range(8)))
    seqs = sorted(d["seq"] for d in db.wa_inbox.find({"sender": "62899"}))
    assert seqs == list(range(1, 9))


def test_one_server_at_a_time_holds_a_customer(db):
    inbox = Inbox(db)
    inbox.record(message(1), None)
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
    inbox.record(message(1), None)
    with ThreadPoolExecutor(8) as pool:
        won = list(pool.map(lambda n: inbox.acquire("62811", f"server{n}"), range(8)))
    assert won.count(True) == 1


def test_an_interrupted_message_goes_back_and_a_finished_turn_is_recognised(db):
    inbox = Inbox(db)
    inbox.record(message(1), None)
    inbox.record(message(2), None)
    first = inbox.claim_next("62811")
    inbox.put_back(first["_id"], "AutoReconnect")
    assert db.wa_inbox.find_one({"_id": first["_id"]})["status"] == RECEIVED
    again = inbox.claim_next("62811")
    assert (again["_id"], again["attempts"], again["status"]) == (first["_id"], 2, PROCESSING)
    assert not inbox.in_conversation(again["_id"])
    db.trackers_events.insert_one({"sender_id": "62811", "seq": 0, "event": {
        "event": "user", "text": "message 1", "message_id": again["_id"]}})
    assert inbox.in_conversation(again["_id"])
    inbox.finish(again["_id"])
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
