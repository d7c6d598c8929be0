"""The per-customer worker on a real mongod, sending over real HTTP to a Graph stand-in that
holds one customer's replies at a gate: the turn cap bounds CPU work only (a reply stuck at
Graph does not stop another customer's turn), a slow turn keeps its lease, finished workers
are dropped. Rasa is stood in for by an echo (the worker's contract is ``on_new_message``)."""
from __future__ import annotations

import asyncio
import json
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest
from rasa.core.channels.channel import UserMessage

from channels.whatsapp.config import WhatsAppConfig
from channels.whatsapp.graph import GraphClient, GraphConfig
from channels.whatsapp.inbox import DONE, Inbox
from channels.whatsapp.output import WhatsAppOutput
from channels.whatsapp.parse import Inbound
from channels.whatsapp.worker import CustomerWorkers

SLOW, QUICK = "62811000001", "62811000002"


class GatedGraph:
    """Answers like Graph; the calls ``held`` picks (messages to ``SLOW``) wait at ``gate``
    (``arrived`` set on the first). ``sent``: recipients of accepted messages, in order;
    ``log``: ("read answered") and ("message", recipient) as they happen."""

    def __init__(self, held: Any = lambda body: body.get("to") == SLOW) -> None:
        self.gate, self.arrived = threading.Event(), threading.Event()
        self.sent: list[str] = []
        self.log: list[tuple[str, ...]] = []
        self.changed = threading.Condition()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                if held(body):
                    stub.arrived.set()
                    stub.gate.wait(30)
                with stub.changed:
                    if body.get("status") != "read":
                        stub.sent.append(body["to"])
                        stub.log.append(("message", body["to"]))
                    else:
                        stub.log.append(("read answered",))
                    stub.changed.notify_all()
                raw = json.dumps({"messages": [{"id": f"wamid.out{len(stub.sent)}"}]}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_sent_to(self, recipient: str, timeout: float = 10) -> bool:
        """Whether a message to ``recipient`` was accepted within ``timeout``."""
        with self.changed:
            return self.changed.wait_for(lambda: recipient in self.sent, timeout)

    def close(self) -> None:
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def graph_stub() -> Iterator[GatedGraph]:
    stub = GatedGraph()
    yield stub
    stub.close()


def setup(db, url: str, lease: timedelta = timedelta(minutes=2)):
    config = WhatsAppConfig("v", "s", "111", "booking_follow_up", "en", max_turns=1)
    inbox = Inbox(db, lease=lease)
    graph = GraphClient(GraphConfig(api_url=url, access_token="t", retry_base_seconds=0.001))
    workers = CustomerWorkers(lambda: inbox, lambda number: WhatsAppOutput(
        graph, inbox, config, number or "111"), graph, config, "server-a")
    return inbox, graph, workers


def record(inbox: Inbox, sender: str, n: int = 1) -> str:
    inbox.record(Inbound(f"wamid.{sender}.{n}", sender, "111", "text", "hello"), "spa")
    return f"wamid.{sender}.{n}"


async def echo(message: UserMessage) -> None:
    """Rasa's part, stood in: the turn answers."""
    await message.output_channel.send_text_message(message.sender_id, "echo " + message.text)


def drain(workers: CustomerWorkers, graph: GraphClient, turn: Any, sender: str = QUICK) -> None:
    """Kick ``sender``'s worker with ``turn`` as Rasa's part and wait until it ends."""
    async def scenario() -> None:
        try:
            workers.kick(sender, turn)
            await workers._workers[sender]
        finally:
            await graph.close()

    asyncio.run(scenario())


def test_a_reply_stuck_at_graph_does_not_hold_the_only_turn_slot(db, graph_stub):
    inbox, graph, workers = setup(db, graph_stub.url)
    slow_id, quick_id = record(inbox, SLOW), record(inbox, QUICK)

    async def scenario() -> bool:
        try:
            workers.kick(SLOW, echo)
            await asyncio.to_thread(graph_stub.arrived.wait, 10)  # SLOW's reply held by Graph
            tasks = [workers._workers[SLOW]]
            workers.kick(QUICK, echo)
            tasks.append(workers._workers[QUICK])
            quick_answered = await asyncio.to_thread(graph_stub.wait_sent_to, QUICK)
            graph_stub.gate.set()
            await asyncio.gather(*tasks)
            assert workers._workers == {}  # finished workers are dropped
            return quick_answered
        finally:
            graph_stub.gate.set()
            await graph.close()

    assert asyncio.run(scenario()), "the other customer's turn waited for a Graph send"
    assert graph_stub.sent == [QUICK, SLOW]
    assert [db.wa_inbox.find_one({"_id": i})["status"] for i in (slow_id, quick_id)] == [DONE] * 2


def test_a_turn_longer_than_the_lease_is_not_taken_over(db, graph_stub):
    lease = timedelta(milliseconds=600)
    inbox, graph, workers = setup(db, graph_stub.url, lease)
    other_server = Inbox(db, lease=lease)
    wamid = record(inbox, QUICK)
    seen: dict[str, Any] = {}

    async def slow_turn(message: UserMessage) -> None:
        began = datetime.now(timezone.utc)
        while datetime.now(timezone.utc) <= began + lease:  # the turn outlives its lease
            await asyncio.sleep(0.05)
        seen["acquired"] = await asyncio.to_thread(other_server.acquire, QUICK, "server-b")
        seen["claimed"] = await asyncio.to_thread(other_server.claim_next, QUICK, "server-b")
        seen["swept"] = await asyncio.to_thread(other_server.senders_with_work)
        await echo(message)

    drain(workers, graph, slow_turn)
    assert seen == {"acquired": None, "claimed": None, "swept": []}
    stored = db.wa_inbox.find_one({"_id": wamid})
    assert (stored["status"], stored["attempts"], stored["owner"]) == (DONE, 1, workers.owner)
    assert graph_stub.sent == [QUICK]


def test_messages_recorded_during_a_turn_are_drained_and_the_lease_then_given_back(db, graph_stub):
    inbox, graph, workers = setup(db, graph_stub.url)
    other_server = Inbox(db)
    first = record(inbox, QUICK, 1)
    turns: list[str] = []

    async def turn(message: UserMessage) -> None:
        turns.append(message.message_id)
        if len(turns) == 1:  # another server records two more while the first turn runs
            await asyncio.to_thread(record, other_server, QUICK, 2)
            await asyncio.to_thread(record, other_server, QUICK, 3)
        await echo(message)

    drain(workers, graph, turn)
    assert turns == [first, f"wamid.{QUICK}.2", f"wamid.{QUICK}.3"]
    lease = db.wa_senders.find_one({"_id": QUICK})
    assert lease["owner"] is None and "lease_until" not in lease  # free for any server


def test_each_forked_worker_process_holds_leases_under_its_own_name(db, graph_stub):
    import multiprocessing

    _, graph, workers = setup(db, graph_stub.url)
    parent, child = multiprocessing.get_context("fork").Pipe()
    process = multiprocessing.get_context("fork").Process(
        target=lambda: child.send(workers.owner))  # Sanic forks after channels are built
    process.start()
    forked = parent.recv()
    process.join(10)
    assert forked != workers.owner
    assert forked.rsplit(":", 1)[0] == workers.owner.rsplit(":", 1)[0] == "server-a"


def test_a_worker_that_lost_the_customer_during_a_turn_leaves_the_rest_to_the_new_owner(
        db, graph_stub):
    inbox, graph, workers = setup(db, graph_stub.url)
    first, second = record(inbox, QUICK, 1), record(inbox, QUICK, 2)
    turns: list[str] = []

    async def turn(message: UserMessage) -> None:
        turns.append(message.message_id)
        await asyncio.to_thread(db.wa_senders.update_one, {"_id": QUICK}, {"$set": {
            "owner": "server-b", "lease_until": datetime.now(timezone.utc) + timedelta(minutes=5)}})
        await echo(message)  # (this process stalled past its lease; server-b took over)

    drain(workers, graph, turn)
    assert turns == [first]  # the second is server-b's now: never run by both
    assert db.wa_inbox.find_one({"_id": second})["status"] == "received"
    assert db.wa_senders.find_one({"_id": QUICK})["owner"] == "server-b"


class LateInsert(Inbox):
    """Another process recording a message: its sequence number is taken (``took``), then its
    insert waits for ``go``."""

    def __init__(self, db) -> None:
        super().__init__(db)
        self.took, self.go = threading.Event(), threading.Event()

    def _next_seq(self, sender: str, customer: bool = True) -> tuple[int, int]:
        numbers = super()._next_seq(sender, customer)
        self.took.set()
        self.go.wait(10)
        return numbers


def test_a_message_numbered_before_the_latest_but_stored_after_it_is_not_left_waiting(
        db, graph_stub):
    inbox, graph, workers = setup(db, graph_stub.url)
    other_process = LateInsert(db)
    late = threading.Thread(target=record, args=(other_process, QUICK, 1))
    late.start()
    assert other_process.took.wait(10)
    latest = record(inbox, QUICK, 2)  # numbered after the late one, stored before it
    turns: list[str] = []

    async def turn(message: UserMessage) -> None:
        turns.append(message.message_id)
        if len(turns) == 1:  # the late one is stored now; its process's kick found us holding
            other_process.go.set()  # the lease, so only this worker can run it
            await asyncio.to_thread(late.join, 10)
        await echo(message)

    drain(workers, graph, turn)
    assert turns == [latest, f"wamid.{QUICK}.1"]


class Counted(Inbox):
    """Counts the inbox calls a worker makes."""

    def __init__(self, db) -> None:
        super().__init__(db)
        self.calls: list[str] = []

    def __getattribute__(self, name: str) -> Any:
        if name in {"acquire", "claim_next", "finish", "release_if_latest", "release",
                    "has_work", "renew"}:
            object.__getattribute__(self, "calls").append(name)
        return object.__getattribute__(self, name)


def test_a_single_message_costs_four_writes_and_one_read_of_the_inbox(db, graph_stub):
    _, graph, _ = setup(db, graph_stub.url)
    inbox = Counted(db)
    config = WhatsAppConfig("v", "s", "111", "booking_follow_up", "en", max_turns=1)
    workers = CustomerWorkers(lambda: inbox, lambda number: WhatsAppOutput(
        graph, inbox, config, number or "111"), graph, config, "server-a")
    record(inbox, QUICK)

    drain(workers, graph, echo)
    assert inbox.calls == ["acquire", "claim_next", "finish", "release_if_latest", "has_work"]


def test_a_turn_that_could_not_get_its_conversation_s_lock_runs_again_later(db, graph_stub):
    from rasa.core.lock_store import LockError

    inbox, graph, workers = setup(db, graph_stub.url)
    wamid = record(inbox, QUICK)

    async def locked_out(message: UserMessage) -> None:
        raise LockError("Could not acquire lock for conversation_id '62811'.")

    drain(workers, graph, locked_out)
    stored = db.wa_inbox.find_one({"_id": wamid})
    assert (stored["status"], stored["attempts"]) == ("received", 1)  # back in the queue
    assert "LockError" in stored["error"] and graph_stub.sent == []
    assert db.wa_senders.find_one({"_id": QUICK})["owner"] is None  # for the sweep to resume


def test_the_turn_runs_while_its_read_receipt_goes_and_its_reply_waits_for_the_receipt(db):
    stub = GatedGraph(held=lambda body: body.get("status") == "read")  # the receipt is slow
    inbox, graph, workers = setup(db, stub.url)
    record(inbox, QUICK)

    async def turn(message: UserMessage) -> None:
        # Rasa's part starts while the receipt is still held at Graph...
        assert await asyncio.to_thread(stub.arrived.wait, 10)
        reply = asyncio.create_task(echo(message))
        # ...and its reply does not overtake the receipt ("typing…" under an answer)
        assert not await asyncio.to_thread(stub.wait_sent_to, QUICK, 0.3)
        stub.gate.set()
        await reply

    try:
        drain(workers, graph, turn)
        assert stub.log == [("read answered",), ("message", QUICK)]
        assert db.wa_inbox.find_one({})["status"] == DONE
    finally:
        stub.close()


def test_a_stopping_server_answers_what_its_customers_send_in_the_grace_then_hands_over(
        db, graph_stub):
    inbox, graph, workers = setup(db, graph_stub.url)  # (10 s of grace)
    first = record(inbox, SLOW, 1)

    async def scenario() -> None:
        try:
            workers.kick(SLOW, echo)
            await asyncio.to_thread(graph_stub.arrived.wait, 10)  # the first turn is running
            stopping = asyncio.create_task(workers.stop())
            record(inbox, SLOW, 2)  # arrives at another server, whose kick finds SLOW held
            graph_stub.gate.set()
            await stopping  # returns once this server's workers are done
        finally:
            await graph.close()

    asyncio.run(scenario())
    assert [d["status"] for d in db.wa_inbox.find({}).sort("seq", 1)] == [DONE, DONE]
    assert db.wa_inbox.find_one({"_id": first})["attempts"] == 1
    assert db.wa_senders.find_one({"_id": SLOW})["owner"] is None  # handed over
    assert graph_stub.sent == [SLOW, SLOW]


def test_past_its_grace_a_stopping_server_cancels_its_turns_and_starts_none(db, graph_stub):
    inbox, graph, _ = setup(db, graph_stub.url)
    config = WhatsAppConfig("v", "s", "111", "booking_follow_up", "en", max_turns=1,
                            stop_grace_seconds=0)
    workers = CustomerWorkers(lambda: inbox, lambda number: WhatsAppOutput(
        graph, inbox, config, number or "111"), graph, config, "server-a")
    first, second = record(inbox, SLOW, 1), record(inbox, QUICK, 1)

    async def scenario() -> None:
        try:
            workers.kick(SLOW, echo)
            await asyncio.to_thread(graph_stub.arrived.wait, 10)  # held at Graph
            running = workers._workers[SLOW]
            await workers.stop()
            assert running.cancelled()
            workers.kick(QUICK, echo)  # after the grace: takes no lease, runs no turn
            await workers._workers[QUICK]
        finally:
            graph_stub.gate.set()
            await graph.close()

    asyncio.run(scenario())
    stuck = db.wa_inbox.find_one({"_id": first})  # runs again once its lease runs out
    assert (stuck["status"], stuck["attempts"]) == ("processing", 1)
    assert db.wa_inbox.find_one({"_id": second})["status"] == "received"
    assert db.wa_senders.find_one({"_id": QUICK}).get("owner") is None
    assert QUICK not in graph_stub.sent  # (SLOW's reply had reached Graph when cancelled)
