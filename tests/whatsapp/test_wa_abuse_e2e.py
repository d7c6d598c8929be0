"""The WhatsApp channel as an attacker (or a confused Meta set-up) meets it, through the running
stack: odd and non-ASCII headers and query values, repeated parameters, wrong types in bodies,
a message to a number that is no business, and a flood from one number."""
from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import socket
from datetime import datetime, timedelta, timezone
from typing import Optional

import pytest

from booking.flow_tokens import FlowTokens
from channels.whatsapp.worker import SLOW_DOWN_REPLY
from tests.whatsapp.conftest import SECRET, SPA, VERIFY, _ids, text, wait_done
from tests.whatsapp.test_channel_e2e import flow_call
from tests.xendit_stub import CALLBACK_TOKEN

pytestmark = pytest.mark.e2e
UNKNOWN = "110000000000999"  # a number Meta could route to us that no business of ours has


def raw_request(stack, method: str, target: bytes, headers: dict[bytes, bytes],
                body: bytes = b"") -> Optional[int]:
    """An HTTP request with header and target bytes exactly as given (no client encoding);
    its status, or None when the server's HTTP parser closed the connection unanswered."""
    lines = [method.encode() + b" " + target + b" HTTP/1.1", b"host: 127.0.0.1",
             b"content-length: " + str(len(body)).encode(), b"connection: close"]
    lines += [name + b": " + value for name, value in headers.items()]
    with socket.create_connection(("127.0.0.1", stack.port), timeout=30) as conn:
        conn.sendall(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return int(answer.split(b" ", 2)[1]) if answer else None


def signed_headers(body: bytes) -> dict[bytes, bytes]:
    sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {b"content-type": b"application/json", b"x-hub-signature-256": sig.encode()}


def test_non_ascii_signatures_and_tokens_are_refused_not_a_server_error(wa):
    stack, db = wa
    body = json.dumps(text("62800000101", "hi")).encode()
    hook = b"/webhooks/whatsapp/webhook"
    odd_signatures = ["sha256=é".encode(), b"sha256=\xff\xfe", "sha256=²".encode() * 10,
                      b"\xe2\x80\x8bsha256=" + signed_headers(body)[b"x-hub-signature-256"][7:]]
    for value in odd_signatures:
        headers = {b"content-type": b"application/json", b"x-hub-signature-256": value}
        assert raw_request(stack, "POST", hook, headers, body) == 401, value
        assert raw_request(stack, "POST", b"/webhooks/whatsapp/flows", headers, body) == 432
    assert raw_request(stack, "POST", b"/webhooks/xendit/webhook", {
        b"content-type": b"application/json", b"x-callback-token": "tökén".encode()},
        b"{}") == 401
    for query in (b"hub.mode=subscribe&hub.verify_token=%C3%A9&hub.challenge=1",
                  b"hub.mode=subscribe&hub.verify_token=%FF%FE&hub.challenge=1",
                  b"hub.mode=subscribe&hub.verify_token=\xc3\xa9&hub.challenge=1",
                  b"hub.mode=%C2%B2&hub.verify_token=" + VERIFY.encode() + b"&hub.challenge=1"):
        assert raw_request(stack, "GET", hook + b"?" + query, {}) in (None, 400, 403), query
    assert db.wa_inbox.count_documents({"sender": "62800000101"}) == 0


def test_repeated_headers_and_parameters_count_as_missing(wa):
    stack, db = wa
    verify = f"/webhook?hub.mode=subscribe&hub.verify_token={VERIFY}&hub.challenge=7"
    assert stack.request("GET", verify) == (200, "7")
    assert stack.request("GET", verify + "&hub.verify_token=x")[0] == 403
    assert stack.request("GET", verify + f"&hub.verify_token={VERIFY}")[0] == 403
    payload = text("62800000102", "hi")
    body = json.dumps(payload).encode()
    good = signed_headers(body)[b"x-hub-signature-256"].decode()
    conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=30)
    conn.putrequest("POST", "/webhooks/whatsapp/webhook")
    for name, value in (("content-type", "application/json"), ("x-hub-signature-256", good),
                        ("x-hub-signature-256", "sha256=00"), ("content-length", str(len(body)))):
        conn.putheader(name, value)
    conn.endheaders(body)
    assert conn.getresponse().status == 401
    conn.close()
    assert db.wa_inbox.count_documents({"sender": "62800000102"}) == 0


def test_lists_and_dates_where_strings_are_expected_in_a_flow_are_bad_input(wa, flows_key):
    stack, db = wa
    now = datetime.now(timezone.utc)
    tokens = FlowTokens(db)
    token = tokens.issue("62800000103", "ubud-serenity-spa", now, timedelta(hours=1))
    tokens.remember(token, service="balinese-massage",
                    slot=(now + timedelta(days=2)).replace(minute=0, second=0,
                                                           microsecond=0).isoformat())

    def step(screen: str, data: dict) -> tuple[int, dict]:
        return flow_call(stack, flows_key[0], {"action": "data_exchange", "screen": screen,
                                               "data": data, "flow_token": token})

    status, answer = step("DETAILS", {"villa": ["villa-sawah"], "name": {"a": 1}})
    assert status == 200 and answer["screen"] == "SUMMARY"
    for day in ("9999-12-31", "0001-01-01", "2026-02-30", ["2026-12-01"]):
        status, answer = step("DATE", {"date": day})
        assert (status, answer["screen"]) == (200, "DATE"), day
    for slot in ("0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59", {"x": 1}):
        status, answer = step("TIME", {"slot": slot})
        assert (status, answer["screen"]) == (200, "DATE"), slot


def test_a_message_to_a_number_of_no_business_is_refused_and_never_served(wa, graph):
    stack, db = wa
    who = f"6287{next(_ids):08d}"
    stray = text(who, "what services do you have", phone_number_id=UNKNOWN)
    stray_id = stray["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
    assert stack.post(stray) == 200  # Meta must not retry it forever
    assert stack.post(stray) == 200
    # The customer's next message (to a real business) is handled after the stray one would
    # have been: by then, anything the stray one caused has happened.
    follow_up = text(who, "hi")
    assert stack.post(follow_up) == 200
    wait_done(db, follow_up["entry"][0]["changes"][0]["value"]["messages"][0]["id"])
    assert [c for c in graph.calls if c[0].startswith(f"/{UNKNOWN}/")] == []  # not even read
    assert all(c[0] == f"/{SPA}/messages" for c in graph.calls if c[1].get("to") == who)
    assert db.trackers_events.count_documents({"event.message_id": stray_id}) == 0
    stored = db.wa_inbox.find_one({"_id": stray_id})
    assert stored["status"] == "refused" and stored["business_id"] is None


def test_a_flood_from_one_number_gets_one_slow_down_and_no_more_turns(wa, graph):
    stack, db = wa
    who, other = f"6287{next(_ids):08d}", f"6287{next(_ids):08d}"
    ids = []
    for n in range(30):
        payload = text(who, "hi")
        ids.append(payload["entry"][0]["changes"][0]["value"]["messages"][0]["id"])
        assert stack.post(payload) == 200
        if n == 25:  # someone else writes in the middle of it
            calm = text(other, "hi")
            assert stack.post(calm) == 200
    assert wait_done(db, calm["entry"][0]["changes"][0]["value"]["messages"][0]["id"])[
        "status"] == "done"
    assert len(graph.wait_for_messages(other, 1)) == 1
    statuses = {}
    for wamid in ids:
        doc = db.wa_inbox.find_one({"_id": wamid})
        statuses[wamid] = doc["status"] if doc["status"] == "throttled" else wait_done(
            db, wamid)["status"]
    assert list(statuses.values()) == ["done"] * 21 + ["throttled"] * 9
    turns = db.trackers_events.count_documents({"event.event": "user",
                                                "event.message_id": {"$in": ids}})
    assert turns == 20
    replies = graph.sent_to(who)
    slow_downs = [r for r in replies if r.get("text", {}).get("body") == SLOW_DOWN_REPLY]
    assert len(slow_downs) == 1 and replies[-1] == slow_downs[0]  # after the 20 answers
    assert len(replies) == 21
