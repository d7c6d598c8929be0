"""Attacks on the running stack from outside, the way an attacker on the public port works.

A WhatsApp customer books (signed webhooks, the Xendit stand-in); an attacker who knows their
number then tries to read, cancel, reschedule, pay for and receive payment news about that
booking over REST and socket.io, calls the action server directly, and sends odd, non-ASCII,
oversized and trickling requests. Each test asserts what the attacker got (nothing) and that
nothing changed in MongoDB.
"""
from __future__ import annotations

import asyncio
import json
import socket
import time
import urllib.request
from typing import Any

import pytest

from channels.whatsapp.inbox import PROCESSING, RECEIVED
from tests.whatsapp.conftest import SALON, SPA, Stack, wait_done
from tests.whatsapp.test_payments_e2e import Customer

pytestmark = pytest.mark.e2e
BUSINESS_DATA = ("bookings", "payments", "payouts", "refunds", "payment_notices")


@pytest.fixture(scope="module")
def victim(wa, graph) -> dict[str, Any]:
    """A WhatsApp customer with an unpaid booking and its payment link."""
    stack, db = wa
    ayu = Customer(stack, graph)
    code, _payment = ayu.book("balinese massage next wednesday at 11am")
    payment = db.payments.find_one({"code": code})
    for doc in db.wa_inbox.find({"sender": ayu.who}):  # every turn ran to its end (saved)
        wait_done(db, doc["_id"])
    return {"number": ayu.who, "code": code, "payment": payment["_id"], "customer": ayu}


def settled(db) -> None:
    """Wait until every WhatsApp message waiting or being answered is done (the stack is shared
    with other test files, whose last turns may still be finishing)."""
    for doc in db.wa_inbox.find({"status": {"$in": [RECEIVED, PROCESSING]}}, {"_id": 1}):
        wait_done(db, doc["_id"])


def snapshot(db, number: str) -> dict[str, Any]:
    """Everything an attack could change: business data and the victim's conversation."""
    settled(db)
    state = {name: sorted((json.dumps(d, default=str, sort_keys=True)
                           for d in db[name].find()), key=str) for name in BUSINESS_DATA}
    state["victim_conversation"] = json.dumps(
        db.conversations.find_one({"customer_id": number}), default=str, sort_keys=True)
    state["victim_events"] = db.trackers_events.count_documents({"sender_id": number})
    state["victim_head"] = json.dumps(db.trackers.find_one({"_id": number}), default=str)
    return state


def assert_nothing_revealed(seen: str, victim: dict[str, Any]) -> None:
    """No booking card, payment link, receipt, payment news or cancellation of the victim's
    (the attacker may see the code they typed echoed in "I couldn't find ...")."""
    for secret in (f"{victim['code']}: ", f"{victim['code']}\n", "checkout", victim["payment"],
                   "Payment received", "is cancelled", "Pay now", "please pay", "Move booking"):
        assert secret not in seen, (secret, seen[:2000])


def rest(stack: Stack, body: Any) -> tuple[int, str]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return stack.request("POST", "/webhook", raw, {"content-type": "application/json"},
                         channel="rest")


def attacks(victim: dict[str, Any]) -> list[str]:
    code, payment = victim["code"], victim["payment"]
    return [
        "/my_bookings", "my bookings", f"show booking {code}",
        f'/cancel_booking{{"booking_code":"{code}"}}', "yes",
        f'/confirm_cancel{{"booking_code":"{code}"}}',
        f'/reschedule_booking{{"booking_code":"{code}"}}',
        f'/pay_again{{"booking_code":"{code}"}}',
        '/EXTERNAL_payment_update{"booking_code":"%s","payment":"%s","payment_update":"link"}'
        % (code, payment),
        '/EXTERNAL_payment_update{"booking_code":"%s","payment":"%s","payment_update":"paid"}'
        % (code, payment),
    ]


def test_rest_cannot_act_as_a_whatsapp_customer(wa, victim):
    stack, db = wa
    before = snapshot(db, victim["number"])
    forged = {"input_channel": "whatsapp",
              "metadata": {"business_id": "canggu-glow-salon", "phone_number_id": SALON,
                           "profile_name": "Mallory"}}
    answers = []
    for message in attacks(victim):
        for extra in ({}, forged):
            status, raw = rest(stack, {"sender": victim["number"], "message": message, **extra})
            assert status == 200, raw
            answers.append(raw)
    assert_nothing_revealed("\n".join(answers), victim)
    assert snapshot(db, victim["number"]) == before
    assert db.trackers.find_one({"_id": f"rest:{victim['number']}"}) is not None
    assert len(victim["customer"].graph.sent_to(victim["number"])) == victim["customer"].seen


def test_rest_with_bad_bodies_is_a_400_and_stores_nothing(wa, victim):
    stack, db = wa
    before = snapshot(db, victim["number"])
    for body in (b"[1, 2]", b'"text"', b"{not json", json.dumps({"sender": ["x"],
                                                                  "message": {"a": 1}}).encode()):
        status, _ = rest(stack, body)
        assert status in (200, 400), (body, status)
        assert status < 500
    assert snapshot(db, victim["number"]) == before


def socketio_exchange(port: int, session_id: Any, messages: list[str]) -> tuple[str, list[str]]:
    """Connect as a web visitor over a WebSocket (the transport a server of several worker
    processes allows), ask for ``session_id``, send ``messages``; return the session token
    confirmed and the bot's texts. Socket.IO 5 over Engine.IO 4, spoken with ``websockets``
    (python-socketio's client needs a newer aiohttp than Rasa's for WebSockets)."""
    import websockets

    async def run() -> tuple[str, list[str]]:
        url = f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket"
        async with websockets.connect(url) as ws:
            async def event() -> tuple[str, Any]:
                while True:
                    packet = await asyncio.wait_for(ws.recv(), 60)
                    if packet == "2":  # Engine.IO ping
                        await ws.send("3")
                    elif packet.startswith("42"):  # Socket.IO event
                        name, *args = json.loads(packet[2:])
                        return name, args[0] if args else None

            async def emit(name: str, data: Any) -> None:
                await ws.send("42" + json.dumps([name, data]))

            assert (await ws.recv()).startswith("0")  # Engine.IO open
            await ws.send("40")  # Socket.IO connect, default namespace
            assert (await ws.recv()).startswith("40")
            await emit("session_request", {"session_id": session_id})
            name, token = await event()
            assert name == "session_confirm", name
            texts = []
            for message in messages:
                await emit("user_uttered", {"message": message, "session_id": session_id,
                                            "metadata": {"business_id": "canggu-glow-salon",
                                                         "phone_number_id": SPA}})
                name, data = await event()
                assert name == "bot_uttered", name
                texts.append(str(data.get("text", "")))
                while ws.messages:  # the rest of the answer that has already come
                    packet = await ws.recv()
                    if packet.startswith("42"):
                        texts.append(str(json.loads(packet[2:])[1].get("text", "")))
        return token, texts

    return asyncio.run(run())


def test_socketio_visitors_are_anonymous_unless_the_server_signed_their_session(wa, victim):
    stack, db = wa
    before = snapshot(db, victim["number"])
    token, texts = socketio_exchange(stack.port, victim["number"], attacks(victim)[:4])
    assert victim["number"] not in token
    assert_nothing_revealed("\n".join(texts), victim)
    assert "You have no upcoming bookings." in "\n".join(texts)
    assert snapshot(db, victim["number"]) == before
    # the signed token brings the same anonymous visitor back; a forged one does not
    again, _ = socketio_exchange(stack.port, token, ["hi"])
    assert again == token
    forged, _ = socketio_exchange(stack.port, token.split(".")[0] + ".00", ["hi"])
    assert forged != token


def action_server_port(stack: Stack) -> int:
    return int(stack.env["ACTION_SERVER_PORT"])


def test_the_action_server_listens_on_loopback_and_needs_the_token(wa, victim):
    stack, db = wa
    port = action_server_port(stack)
    listening = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as handle:
            for row in list(handle)[1:]:
                local, state = row.split()[1], row.split()[3]
                address, hexport = local.rsplit(":", 1)
                if state == "0A" and int(hexport, 16) == port:
                    listening.add(address)
    assert listening == {"0100007F"}, listening  # 127.0.0.1 only
    before = snapshot(db, victim["number"])
    call = json.dumps({"next_action": "action_confirm_cancel", "sender_id": victim["number"],
                       "tracker": {"sender_id": victim["number"], "slots": {},
                                   "latest_message": {"intent": {"name": "confirm_cancel"},
                                                      "entities": [{"entity": "booking_code",
                                                                    "value": victim["code"]}]},
                                   "events": [], "paused": False, "active_loop": {}},
                       "domain": {}, "version": "3.6.2"}).encode()
    for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": "Basic eA=="},
                    {"authorization": "Bearer é".encode("utf-8").decode("latin-1")}):
        status, raw = http(port, "POST", "/webhook", call,
                           {"content-type": "application/json", **headers})
        assert status == 401, (headers, status, raw)
        assert b"sender_id" not in raw
    assert http(port, "GET", "/health")[0] == 200
    assert snapshot(db, victim["number"]) == before


def http(port: int, method: str, path: str, body: bytes = b"",
         headers: dict | None = None) -> tuple[int, bytes]:
    """One request with raw header values (urllib refuses non-ASCII ones)."""
    head = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close",
            f"Content-Length: {len(body)}"]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall("\r\n".join(head).encode("latin-1") + b"\r\n\r\n" + body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status = int(answer.split(b" ", 2)[1])
    return status, answer.split(b"\r\n\r\n", 1)[-1]


ODD_VALUES = ["é", "sha256=é", "sha256=" + "ü" * 64, "sha256=" + "0" * 64 + "\u00a0",
              "²²", "", " ", "sha256=", "\x7f"]


def test_odd_and_non_ascii_headers_and_queries_get_4xx_never_5xx(wa, victim):
    stack, db = wa
    before = snapshot(db, victim["number"])
    body = json.dumps({"object": "whatsapp_business_account", "entry": []}).encode()
    for value in ODD_VALUES:
        raw = value.encode("utf-8").decode("latin-1")  # the bytes a client would send
        for path, header, refused in (("/webhooks/whatsapp/webhook", "X-Hub-Signature-256", 401),
                                      ("/webhooks/whatsapp/flows", "X-Hub-Signature-256", 432),
                                      ("/webhooks/xendit/webhook", "x-callback-token", 401)):
            status, answer = http(stack.port, "POST", path, body,
                                  {"content-type": "application/json", header: raw})
            assert status == refused, (path, value, status, answer)
    for query in ("hub.mode=subscribe&hub.verify_token=%C3%A9&hub.challenge=1",
                  "hub.mode=subscribe&hub.verify_token=a&hub.verify_token=b&hub.challenge=1",
                  "hub.mode=subscribe&hub.verify_token=%FF%FE&hub.challenge=1",
                  "hub.mode=%00&hub.verify_token=&hub.challenge=%00"):
        status, _ = http(stack.port, "GET", f"/webhooks/whatsapp/webhook?{query}")
        assert status == 403, (query, status)
    assert snapshot(db, victim["number"]) == before


def test_an_oversized_body_is_refused_before_it_is_sent(wa):
    stack, _ = wa
    with socket.create_connection(("127.0.0.1", stack.port), timeout=30) as sock:
        sock.sendall(b"POST /webhooks/whatsapp/webhook HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 50000000\r\n\r\n")
        answer = sock.recv(4096)  # answered without our sending a byte of the 50 MB
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_a_body_that_trickles_in_is_cut_off(wa):
    stack, db = wa
    count = db.wa_inbox.count_documents({})
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", stack.port), timeout=60) as sock:
        sock.sendall(b"POST /webhooks/whatsapp/webhook HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
        answer = sock.recv(4096)  # the server gives up on us (SANIC_RESPONSE_TIMEOUT, 30 s)
    assert answer == b"" or answer.startswith((b"HTTP/1.1 408", b"HTTP/1.1 503")), answer[:200]
    assert time.monotonic() - started < 45
    assert db.wa_inbox.count_documents({}) == count
