"""The cluster (`make run-cluster`): two Rasa servers and two action servers behind nginx,
sharing MongoDB and a Redis lock store, and Prometheus scraping every server; driven through
nginx with signed WhatsApp webhooks."""
from __future__ import annotations

import os
from collections import Counter
import threading
import urllib.request
from datetime import datetime, timedelta, timezone
from typing import Iterator

import pytest
from pymongo import MongoClient

from booking.db import connect
from booking.runtime import CachedCatalog, rules_from
from booking.bookings import BookingService
from booking.settings import Settings
from channels.tracker_store import serialised_events
from tests.conftest import ROOT
from tests.whatsapp.conftest import SALON, SECRET, SPA, VERIFY, Stack, _ids, envelope, text
from tests.whatsapp.graph_stub import GraphStub
from tests.whatsapp.test_payments_e2e import body_text, choices
from tests.xendit_stub import CALLBACK_TOKEN, SECRET_KEY, XenditStub
from tools.cluster import Cluster

pytestmark = pytest.mark.e2e
DB = "cluster_e2e"


@pytest.fixture(scope="module")
def cluster(mongo_url: str, graph: GraphStub, xendit: XenditStub,
            tmp_path_factory) -> Iterator[tuple[Cluster, Stack, object]]:
    if not (ROOT / "models" / "assistant.tar.gz").exists():
        pytest.fail("no trained model: run through `make test`, which trains first")
    env = dict(os.environ, MONGODB_URL=mongo_url, MONGODB_DB=DB,
               WHATSAPP_APP_SECRET=SECRET, WHATSAPP_VERIFY_TOKEN=VERIFY,
               WHATSAPP_ACCESS_TOKEN="test-token", WHATSAPP_API_URL=graph.url,
               WHATSAPP_PHONE_NUMBER_ID=SPA, WHATSAPP_RETRY_BASE_SECONDS="0.01",
               XENDIT_SECRET_KEY=SECRET_KEY, XENDIT_CALLBACK_TOKEN=CALLBACK_TOKEN,
               XENDIT_API_URL=xendit.url, XENDIT_RETRY_BASE_SECONDS="0.01",
               XENDIT_RECONCILE_SECONDS="3600")
    client = MongoClient(mongo_url)
    client.drop_database(DB)
    nodes = Cluster(env, rasa=2, actions=2, workdir=tmp_path_factory.mktemp("cluster"),
                    prometheus=True)
    nodes.start()
    try:
        yield nodes, Stack({"RASA_PORT": str(nodes.port)}), client[DB]
    finally:
        nodes.stop()
        client.drop_database(DB)
        client.close()


def upstream_of(stack: Stack) -> str:
    """Which Rasa server nginx handed the next request to (its X-Upstream header)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{stack.port}/webhooks/whatsapp/") as answer:
        return answer.headers["x-upstream"]


def webhook_upstreams(nodes: Cluster) -> list[str]:
    """The Rasa server of every WhatsApp webhook so far, from nginx's access log."""
    return [line.split()[-2] for line in (nodes.workdir / "access.log").read_text().splitlines()
            if "/webhooks/whatsapp/webhook" in line]


def alternating(nodes: Cluster) -> list[str]:
    return [f"127.0.0.1:{p}" for p in nodes.rasa_ports]


def salon_tap(who: str, reply_id: str, title: str, kind: str = "button_reply") -> dict:
    return envelope(who, {"type": "interactive", "interactive": {
        "type": kind, kind: {"id": reply_id, "title": title}}}, phone_number_id=SALON)


def test_one_conversation_alternating_between_servers_stays_in_order(cluster, graph):
    nodes, stack, db = cluster
    assert {upstream_of(stack) for _ in range(4)} == {
        f"127.0.0.1:{p}" for p in nodes.rasa_ports}  # nginx really spreads requests
    who = f"6287{next(_ids):08d}"
    before = len(webhook_upstreams(nodes))
    said = ["hi", "what services do you have", "how much is a balinese massage",
            "where are you", "hello", "what do you offer", "thanks", "hi again"]
    for words in said:  # each acknowledged before the next is sent; nginx alternates
        assert stack.post(text(who, words)) == 200
    assert len(graph.wait_for_messages(who, len(said))) >= len(said)

    def turns_done() -> bool:
        return db.wa_inbox.count_documents({"sender": who, "status": "done"}) == len(said)
    graph.wait_for(turns_done)
    events = serialised_events(db, who, "trackers")
    users = [e for e in events if e["event"] == "user"]
    assert [e["text"] for e in users] == said  # in order, each once
    assert len({e["message_id"] for e in users}) == len(said)
    # Turns never interleave: every user message follows an action_listen (the end of the
    # previous turn), and the stored sequence numbers have no gaps or repeats.
    for i, event in enumerate(events):
        if event["event"] == "user" and i:
            assert events[i - 1]["event"] == "action" and events[i - 1]["name"] == "action_listen"
    seqs = [d["seq"] for d in db.trackers_events.find({"sender_id": who}).sort("seq", 1)]
    assert seqs == list(range(len(seqs)))
    served = webhook_upstreams(nodes)[before:]
    assert len(served) == len(said) and set(served) == set(alternating(nodes))
    assert all(a != b for a, b in zip(served, served[1:]))  # alternating between the two


def test_fifty_customers_racing_for_one_slot_across_both_servers(cluster, graph):
    nodes, stack, db = cluster
    settings = Settings.from_env()
    core_db = connect(nodes.env["MONGODB_URL"], DB)
    core = BookingService(core_db, CachedCatalog(core_db), rules_from(settings))
    tomorrow = datetime.now(timezone.utc) + timedelta(days=1)
    [slot] = core.next_free("haircut-blowdry", tomorrow, 1)  # only Putu does haircuts
    choose = '/choose_slot{"service":"haircut-blowdry","slot_time":"%s"}' % slot.start.isoformat()
    people = [f"6286{next(_ids):08d}" for _ in range(50)]
    for who in people:
        assert stack.post(salon_tap(who, choose, "Time", "list_reply")) == 200
    cards = {who: graph.wait_for_messages(who, 1)[0] for who in people}
    assert all(body_text(c).startswith("Please confirm your booking:") for c in cards.values())

    codes: list[int] = []
    start = threading.Barrier(len(people))

    def confirm(who: str) -> None:
        payload = salon_tap(who, choices(cards[who])["Confirm"], "Confirm")
        start.wait()
        codes.append(stack.post(payload))

    racers = [threading.Thread(target=confirm, args=(who,)) for who in people]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join()
    assert codes == [200] * len(people)
    try:
        answers = [body_text(graph.wait_for_messages(who, 2)[1]) for who in people]
    except AssertionError:  # say whose answer is missing and where their message stands
        missing = [w for w in people if len(graph.sent_to(w)) < 2]
        raise AssertionError([(w, list(db.wa_inbox.find({"sender": w}, {
            "status": 1, "attempts": 1, "error": 1})), db.wa_senders.find_one({"_id": w}))
            for w in missing]) from None
    booked = [a for a in answers if a.startswith("Booked ✅")]
    taken = [a for a in answers if "was just taken" in a]
    assert (len(booked), len(taken)) == (1, 49), Counter(a[:60] for a in answers)
    for who, answer in zip(people, answers):
        if "was just taken" in answer:  # alternatives offered as buttons
            offered = choices(graph.sent_to(who)[1])
            assert 1 <= len(offered) <= 3 and all(v.startswith("/choose_slot") for v in offered.values())
    active = db.bookings.count_documents({"service_id": "haircut-blowdry", "start": slot.start,
                                          "status": {"$in": ["CONFIRMED", "PENDING_PAYMENT"]}})
    assert active == 1
    assert set(webhook_upstreams(nodes)[-len(people):]) == set(alternating(nodes))
    core_db.client.close()


def test_the_bot_is_silent_on_both_servers_while_a_person_has_the_chat(cluster, graph):
    from booking.conversations import Conversations
    from booking.handoff import TeamDesk
    from channels.whatsapp.inbox import Inbox

    nodes, stack, db = cluster
    who = f"6285{next(_ids):08d}"
    assert stack.post(text(who, "I want to talk to a person")) == 200
    assert body_text(graph.wait_for_messages(who, 1)[0]).startswith("I've asked the")
    conversations, inbox = Conversations(db), Inbox(db)
    desk = TeamDesk(conversations, inbox.post_for, conversations.clock)
    waiting = conversations.of_customer("ubud-serenity-spa", who)
    desk.take("ubud-serenity-spa", waiting.id, "made", waiting.version)
    before = len(webhook_upstreams(nodes))
    said = ["hello?", "what services do you have", "book a massage tomorrow at 3pm", "hi",
            "my bookings", "how much is a facial"]
    for words in said:  # nginx alternates: half of them reach each Rasa server
        assert stack.post(text(who, words)) == 200

    def all_done() -> bool:
        return db.wa_inbox.count_documents({"sender": who, "status": "done"}) == 1 + len(said)
    graph.wait_for(all_done)
    served = webhook_upstreams(nodes)[before:]
    assert set(served) == set(alternating(nodes))
    assert len(graph.sent_to(who)) == 1  # only the handoff answer: nothing from either server
    to_staff = [e for e in serialised_events(db, who, "trackers") if e["event"] == "user"
                and e["parse_data"]["intent"]["name"] == "message_to_staff"]
    assert [e["text"] for e in to_staff] == said

    sent = desk.reply("ubud-serenity-spa", waiting.id, "made", "Made here, one moment")
    assert graph.wait_for_messages(who, 2)[1]["text"]["body"] == "Made here, one moment"
    desk.hand_back("ubud-serenity-spa", waiting.id, "made")
    assert body_text(graph.wait_for_messages(who, 3)[2]).startswith("I'm back")
    assert db.wa_outbox.count_documents({"ref": sent.item_id}) == 1  # sent once


def test_prometheus_scrapes_every_server_and_evaluates_the_alert_rules(cluster, graph):
    """Prometheus has every server up, sums the turns the Rasa servers counted, and evaluates
    the six alert rules on them; nginx's public port refuses /metrics."""
    import json
    from urllib.parse import quote

    from tests.whatsapp.test_payments_e2e import eventually

    nodes, stack, _ = cluster
    who = "62813300009901"
    assert stack.post(text(who, "hi")) == 200
    graph.wait_for_messages(who, 1)

    def query(expr: str) -> list:
        with urllib.request.urlopen(f"{nodes.prometheus_url}/api/v1/query?query={quote(expr)}",
                                    timeout=10) as answer:
            return json.load(answer)["data"]["result"]

    up = eventually(lambda: len(found := query("up == 1")) == 4
                    and query("sum(whatsapp_turn_seconds_count) >= 1") and found,
                    "Prometheus scraped all four servers after the turn", timeout=60)
    assert {r["metric"]["job"] for r in up} == {"rasa", "actions"}
    with urllib.request.urlopen(f"{nodes.prometheus_url}/api/v1/rules", timeout=10) as answer:
        rules = [r for g in json.load(answer)["data"]["groups"] for r in g["rules"]]
    assert len(rules) == 8 and {r["health"] for r in rules} <= {"ok", "unknown"}
    status, _ = stack.request_bytes("GET", "/metrics")
    assert status == 404
