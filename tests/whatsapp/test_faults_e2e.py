"""Breaking things on purpose while customers chat: MongoDB killed and restarted, the action
server down, Graph answering 429/5xx, Xendit unreachable. A stack of its own (its own mongod,
so killing it disturbs no other test), driven with signed WhatsApp webhooks."""
from __future__ import annotations

import os
import threading
import time
from collections import Counter
from typing import Iterator

import pytest
from pymongo import MongoClient

from channels.tracker_store import serialised_events
from tests.conftest import ROOT
from tests.whatsapp.conftest import SECRET, SPA, VERIFY, Stack, _ids, text
from tests.whatsapp.graph_stub import GraphStub
from tests.whatsapp.test_payments_e2e import Customer, body_text, eventually, pay_link
from tests.xendit_stub import CALLBACK_TOKEN, SECRET_KEY, XenditStub
from tools.cluster import Cluster
from tools.mongod import LocalMongod, free_port

pytestmark = pytest.mark.e2e
DB = "faults_e2e"


class Faulty:
    """The stack under test and handles on its parts."""

    def __init__(self, nodes: Cluster, mongod: LocalMongod, graph: GraphStub,
                 xendit: XenditStub) -> None:
        self.nodes, self.mongod, self.graph, self.xendit = nodes, mongod, graph, xendit
        self.stack = Stack({"RASA_PORT": str(nodes.port)})
        self.client = MongoClient(mongod.url, serverSelectionTimeoutMS=60000)
        self.db = self.client[DB]


@pytest.fixture(scope="module")
def faulty(tmp_path_factory) -> Iterator[Faulty]:
    if not (ROOT / "models" / "assistant.tar.gz").exists():
        pytest.fail("no trained model: run through `make test`, which trains first")
    mongod = LocalMongod(data_dir=tmp_path_factory.mktemp("faults-mongo"), port=free_port())
    mongod.start()
    graph, xendit = GraphStub(), XenditStub()
    env = dict(os.environ, MONGODB_URL=mongod.url, MONGODB_DB=DB,
               WHATSAPP_APP_SECRET=SECRET, WHATSAPP_VERIFY_TOKEN=VERIFY,
               WHATSAPP_ACCESS_TOKEN="test-token", WHATSAPP_API_URL=graph.url,
               WHATSAPP_PHONE_NUMBER_ID=SPA, WHATSAPP_RETRY_BASE_SECONDS="0.05",
               WHATSAPP_SWEEP_SECONDS="1", WHATSAPP_DB_TIMEOUT_MS="1000",
               WHATSAPP_RESEND_SECONDS="1",
               XENDIT_SECRET_KEY=SECRET_KEY, XENDIT_CALLBACK_TOKEN=CALLBACK_TOKEN,
               XENDIT_API_URL=xendit.url, XENDIT_RETRY_BASE_SECONDS="0.01",
               XENDIT_RECONCILE_SECONDS="1", XENDIT_CREATE_GRACE_SECONDS="2")
    nodes = Cluster(env, rasa=1, actions=1, nginx=False, redis=False,
                    workdir=tmp_path_factory.mktemp("faults"))
    nodes.start()
    env["PUBLIC_BASE_URL"] = nodes.url
    parts = Faulty(nodes, mongod, graph, xendit)
    try:
        yield parts
    finally:
        nodes.stop()
        parts.client.close()
        mongod.stop()
        graph.close()
        xendit.close()


def wamid_of(payload: dict) -> str:
    return payload["entry"][0]["changes"][0]["value"]["messages"][0]["id"]


def test_mongodb_killed_and_restarted_while_messages_flow(faulty):
    stack, db, graph = faulty.stack, faulty.db, faulty.graph
    people = [f"6285{next(_ids):08d}" for _ in range(10)]
    acked: dict[str, str] = {}  # wamid -> customer, for every message answered 200
    refused: list[dict] = []  # answered 503: Meta would send them again
    lock = threading.Lock()
    stop = threading.Event()

    def customer_traffic(who: str) -> None:
        while not stop.is_set():
            payload = text(who, "hi")
            status = stack.post(payload)
            with lock:
                if status == 200:
                    acked[wamid_of(payload)] = who
                else:
                    assert status == 503, status
                    refused.append(payload)
            time.sleep(0.1)  # a customer typing, not synchronisation

    threads = [threading.Thread(target=customer_traffic, args=(who,)) for who in people]
    for thread in threads:
        thread.start()
    graph.wait_for(lambda: len(acked) >= 20)
    faulty.mongod.kill()
    eventually(lambda: len(refused) >= 5, "503 answers while MongoDB is down")
    faulty.mongod.start()
    seen = len(acked)
    eventually(lambda: len(acked) >= seen + 20, "200 answers again")
    stop.set()
    for thread in threads:
        thread.join()
    for payload in refused:  # Meta's retry of each refused delivery
        assert stack.post(payload) == 200
        acked[wamid_of(payload)] = payload["entry"][0]["changes"][0]["value"]["messages"][0]["from"]

    eventually(lambda: db.wa_inbox.count_documents(
        {"_id": {"$in": list(acked)}, "status": "done"}) == len(acked),
        "every acknowledged message processed", timeout=120)
    assert db.wa_inbox.count_documents({"sender": {"$in": people}}) == len(acked)
    in_tracker: Counter = Counter()
    for who in people:
        for event in serialised_events(db, who, "trackers"):
            if event["event"] == "user":
                in_tracker[event["message_id"]] += 1
    assert in_tracker == Counter({wamid: 1 for wamid in acked})  # each exactly once
    retried = db.wa_inbox.count_documents({"_id": {"$in": list(acked)}, "attempts": {"$gt": 1}})
    for who in people:
        mine = sum(1 for w, p in acked.items() if p == who)
        assert len(graph.sent_to(who)) >= mine  # everyone got an answer to every message
    replies = sum(len(graph.sent_to(who)) for who in people)
    print(f"\nmongod killed: {len(acked)} messages acknowledged, {len(refused)} answered 503 "
          f"and accepted when sent again, {retried} run again after the outage, {replies} replies")
    # A reply can repeat only for a turn the outage cut off after it had answered.
    assert len(acked) <= replies <= len(acked) + retried


def test_action_server_down_gets_an_apology_then_the_conversation_continues(faulty):
    stack, graph = faulty.stack, faulty.graph
    who = f"6284{next(_ids):08d}"
    faulty.nodes.kill("actions0")
    try:
        assert stack.post(text(who, "what services do you have")) == 200
        [apology] = graph.wait_for_messages(who, 1)
        assert body_text(apology) == ("Sorry, something went wrong on our side. Please try again "
                                      "in a moment, or type \"help\".")
    finally:
        faulty.nodes.start_actions(0)
    assert stack.post(text(who, "what services do you have")) == 200
    answer = graph.wait_for_messages(who, 2)[1]
    assert body_text(answer).startswith("At Ubud Serenity Spa we offer:")


def test_graph_429_and_5xx_for_a_while_are_retried_and_nothing_is_sent_twice(faulty):
    stack, graph, db = faulty.stack, faulty.graph, faulty.db
    who = f"6283{next(_ids):08d}"
    failures = [(429, 130429), (503, None), (500, 2), (429, None)]
    said = ["hi", "what services do you have", "where are you"]
    for words in said:
        with graph._changed:
            graph.fail_with[:] = list(failures)  # the next calls fail (read receipt included)
        payload = text(who, words)
        assert stack.post(payload) == 200
        eventually(lambda: db.wa_inbox.find_one({"_id": wamid_of(payload),
                                                 "status": "done"}), "processed")
    sent = graph.sent_to(who)
    assert len(sent) == len(said)  # each answer once, none lost, none doubled
    assert body_text(sent[1]).startswith("At Ubud Serenity Spa we offer:")
    answered_errors = [c for p, b, c in graph.calls if b.get("to") == who and c is not None]
    assert answered_errors  # the failures really hit this customer's sends
    assert db.wa_outbox.count_documents({"to": who, "status": "failed"}) == 0


def test_graph_refusing_past_the_retries_keeps_the_reply_and_sends_it_once_later(faulty):
    stack, graph, db = faulty.stack, faulty.graph, faulty.db
    who = f"6282{next(_ids):08d}"
    with graph._changed:  # the read receipt, all 4 attempts of the reply, then 2 more
        graph.fail_with[:] = [(503, None)] * 7
    payload = text(who, "what services do you have")
    assert stack.post(payload) == 200
    [answer] = graph.wait_for_messages(who, 1)  # sent by the sweep, after Graph recovered
    assert body_text(answer).startswith("At Ubud Serenity Spa we offer:")
    kept = eventually(lambda: db.wa_outbox.find_one({"to": who, "status": "sent",
                                                     "message": {"$exists": True}}), "resent")
    assert kept["wamid"] and not graph.fail_with
    assert len(graph.sent_to(who)) == 1 and db.wa_inbox.find_one(
        {"_id": wamid_of(payload)})["status"] == "done"


def test_xendit_unreachable_invoice_and_payouts_caught_up_by_reconciliation(faulty):
    stack, graph, db, xendit = faulty.stack, faulty.graph, faulty.db, faulty.xendit
    ayu = Customer(stack, graph)
    xendit.go_down()
    try:
        code, held = ayu.book("in villa massage next wednesday at 11am",
                              villa="Villa Sawah Ubud")
        assert body_text(held) == "Your time is held. The payment link follows in a few minutes."
        assert db.bookings.find_one({"code": code})["status"] == "PENDING_PAYMENT"
        assert not xendit.invoices_for(code)
    finally:
        xendit.come_back()
    link = ayu.next()  # reconciliation created the invoice and sent the link
    [invoice] = xendit.invoices_for(code)
    assert pay_link(link) == invoice["invoice_url"]

    xendit.fail["create_payout"] = [503] * 12  # payouts fail past their retries at first
    xendit.set_status(invoice["id"], "PAID")
    assert xendit.send_callback(f"{faulty.nodes.url}/webhooks/xendit/webhook",
                                xendit.callback_body(invoice["id"])) == 200
    assert body_text(ayu.next()).startswith("Payment received, thank you! ✅")
    eventually(lambda: db.payouts.count_documents(
        {"code": code, "state": {"$in": ["REQUESTED", "SUCCEEDED"]}}) == 2,
        "both payouts made once Xendit answers", timeout=60)
    assert not xendit.fail["create_payout"]  # every queued failure was met
    made = [p for p in xendit.payouts.values() if p["reference_id"].startswith(code)]
    assert sorted(p["amount"] for p in made) == [90000, 450000]  # one each, never two
    assert len(xendit.invoices_for(code)) == 1
    assert db.bookings.find_one({"code": code})["status"] == "CONFIRMED"
