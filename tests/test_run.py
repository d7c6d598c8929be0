"""The running system, started as `make run` starts it (embedded MongoDB replica set, seed,
action server, Rasa server), driven through the REST channel like a customer would."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from channels.tracker_store import serialised_events
from pymongo import MongoClient

from tests.conftest import ROOT
from tools.mongod import free_port

pytestmark = pytest.mark.e2e


@dataclass
class Stack:
    process: subprocess.Popen
    startup: str
    rasa_port: int
    action_port: int
    mongo_port: int
    db: object
    pid_file: object
    sandbox_port: int

    def say(self, sender: str, text: str) -> list[dict]:
        body = json.dumps({"sender": sender, "message": text}).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{self.rasa_port}/webhooks/rest/webhook",
                                     body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as response:
            return json.loads(response.read())


def payload_of(messages: list[dict], title_starts: str = "") -> str:
    """The payload of the first button (whose title starts with ``title_starts``)."""
    for message in messages:
        for b in message.get("buttons", []):
            if b["title"].startswith(title_starts):
                return b["payload"]
    raise AssertionError(f"no button {title_starts!r} in {messages}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    if not (ROOT / "models" / "assistant.tar.gz").exists():
        pytest.fail("no trained model: run through `make test`, which trains first")
    data = tmp_path_factory.mktemp("run") / "mongo"
    rasa_port, action_port, mongo_port = free_port(), free_port(), free_port()
    sandbox_port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k != "MONGODB_URL" and not k.startswith(("WHATSAPP_", "XENDIT_", "SANDBOX"))}
    env.update(LOCAL_MONGODB_DIR=str(data), MONGODB_PORT=str(mongo_port),
               RASA_PORT=str(rasa_port), ACTION_SERVER_PORT=str(action_port),
               MONGODB_DB="run_test", SANDBOX_PORT=str(sandbox_port),
               CONSOLE_PORT=str(free_port()),
               SANDBOX_DATA_DIR=str(data.parent / "sandbox"))
    proc = subprocess.Popen([sys.executable, "-m", "tools.run"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if "Ready." in line or proc.poll() is not None:
            break
    client = MongoClient(f"mongodb://127.0.0.1:{mongo_port}/?replicaSet=rs0")
    running = Stack(proc, "".join(lines), rasa_port, action_port, mongo_port, client.run_test,
                    data / "mongod.pid", sandbox_port)
    try:
        yield running
    finally:
        client.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.communicate(timeout=60)


def test_startup_prints_where_everything_listens(stack):
    assert "Ready." in stack.startup, stack.startup
    assert f"Rasa server:   http://127.0.0.1:{stack.rasa_port}" in stack.startup
    assert f"Action server: http://127.0.0.1:{stack.action_port}/webhook" in stack.startup
    assert f"mongodb://127.0.0.1:{stack.mongo_port}/?replicaSet=rs0" in stack.startup
    assert stack.db.client.admin.command("hello")["setName"] == "rs0"
    # no credentials in the environment: the sandbox stands in for WhatsApp and Xendit
    assert f"Open http://127.0.0.1:{stack.sandbox_port} to chat as a customer" in stack.startup


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and int(
                    (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
        except (OSError, ValueError):
            continue
    return found


def test_the_rasa_server_runs_a_worker_process_per_core(stack):
    from tools.run import rasa_workers

    workers = rasa_workers({})
    assert f"{workers} worker process" in stack.startup, stack.startup
    rasa = [p for p in children(stack.process.pid)
            if "rasa run" in Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode()]
    assert len(rasa) == 1
    assert len(children(rasa[0])) == (workers if workers > 1 else 0)  # Sanic's forked workers


def test_greeting_and_catalog_answer_are_stored_in_mongodb(stack):
    assert "booking assistant" in stack.say("greeter", "hello")[0]["text"]
    services = stack.say("greeter", "what services do you have")[0]["text"]
    assert "Ubud Serenity Spa" in services and "Balinese Massage — 60 min, Rp350.000" in services
    # a REST visitor is a customer of their own: conversation "rest:<sender>"
    events = serialised_events(stack.db, "rest:greeter", "trackers")  # the bounded tracker store's layout
    assert [e.get("text") for e in events if e["event"] == "user"] == [
        "hello", "what services do you have"]
    assert stack.db.trackers.find_one({"_id": "rest:greeter"})["count"] == len(events)


def book_by_tapping(stack: Stack, sender: str) -> dict:
    stack.say(sender, "hi")
    msgs = stack.say(sender, '/book_service{"service":"balinese-massage"}')
    assert msgs[0]["text"] == "Which day would you like?"
    msgs = stack.say(sender, payload_of(msgs, "Tomorrow"))
    assert msgs[0]["text"].startswith("Free times for Balinese Massage on ")
    msgs = stack.say(sender, payload_of(msgs))
    assert msgs[0]["text"].startswith("Please confirm your booking:")
    msgs = stack.say(sender, payload_of(msgs, "Confirm"))
    assert msgs[0]["text"].startswith("Booked ✅\nBK")
    # the spa takes payment: the link comes at once, from the sandbox's Xendit side
    assert f"Pay now: http://127.0.0.1:{stack.sandbox_port}/xendit/checkout/" in msgs[-1]["text"]
    code = msgs[0]["text"].split("\n")[1].split(":")[0]
    return stack.db.bookings.find_one({"code": code})


def test_full_booking_then_cancellation(stack):
    booking = book_by_tapping(stack, "628100000001")
    assert booking["customer_id"] == "rest:628100000001" and booking["status"] == "PENDING_PAYMENT"
    assert booking["service_id"] == "balinese-massage"

    msgs = stack.say("628100000001", "i need to cancel my booking")
    assert msgs[0]["text"].startswith(f"Cancel this booking?\n{booking['code']}")
    msgs = stack.say("628100000001", "yes")
    assert msgs[0]["text"] == f"Booking {booking['code']} is cancelled. Hope to see you another time 🌺"
    stored = stack.db.bookings.find_one({"code": booking["code"]})
    assert stored["status"] == "CANCELLED" and "cells" not in stored


def test_reschedule_moves_the_stored_booking(stack):
    booking = book_by_tapping(stack, "628100000002")
    msgs = stack.say("628100000002", "reschedule my booking")
    assert msgs[0]["text"] == "Which day would you like?"
    msgs = stack.say("628100000002", payload_of(msgs, "Tomorrow"))
    later = [b for b in msgs[0]["buttons"] if "slot_time" in b["payload"]][-1]  # a later time
    msgs = stack.say("628100000002", later["payload"])
    assert msgs[0]["text"].startswith(f"Move booking {booking['code']} to:")
    msgs = stack.say("628100000002", "yes")
    assert msgs[0]["text"].startswith(f"Done, your booking is moved ✅\n{booking['code']}")
    stored = stack.db.bookings.find_one({"code": booking["code"]})
    assert stored["start"] != booking["start"] and stored["version"] == 2
    assert stack.db.bookings.count_documents({"customer_id": "rest:628100000002"}) == 1


def test_ctrl_c_stops_everything_including_mongodb(stack):
    mongod_pid = int(stack.pid_file.read_text())
    stack.process.send_signal(signal.SIGINT)
    rest = stack.process.communicate(timeout=60)[0]
    assert stack.process.returncode == 0, rest
    assert "Stopping" in rest
    deadline = time.monotonic() + 30
    while True:
        try:
            os.kill(mongod_pid, 0)  # signal 0 probes without killing
        except ProcessLookupError:
            break
        assert time.monotonic() < deadline, "mongod still running after Ctrl-C"
        time.sleep(0.2)
