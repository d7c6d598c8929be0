"""The WhatsApp channel end to end: real Rasa server, action server and mongod; signed webhook
payloads in, the outbound Graph calls recorded by a local stand-in (fixtures in conftest.py)."""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from datetime import timezone
from typing import Any

import pytest

from tests.conftest import ROOT
from booking.customer_prefs import CustomerLanguages, LanguageChoice
from channels.http_guard import LARGEST_BODY
from booking.flow_tokens import FlowTokens
from tests.whatsapp.conftest import (SALON, SECRET, SPA, VERIFY, Stack, _ids,
                                     assert_fits_meta_limits, envelope, tap, text, wait_done)
from tests.whatsapp.flows_client import FlowsClient
from tests.whatsapp.graph_stub import GraphStub

pytestmark = pytest.mark.e2e


def interactive(msg: dict) -> dict:
    assert msg["type"] == "interactive", msg
    return msg["interactive"]


def rows(msg: dict) -> list[dict]:
    return interactive(msg)["action"]["sections"][0]["rows"]


def test_verification_handshake(wa):
    stack, _ = wa
    ok = stack.request("GET", f"/webhook?hub.mode=subscribe&hub.verify_token={VERIFY}&hub.challenge=42")
    assert ok == (200, "42")
    assert stack.request("GET", "/webhook?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=42")[0] == 403


def test_bad_requests_get_precise_codes_and_store_nothing(wa):
    stack, db = wa
    payload = text("62800000001", "hi")
    wamid = payload["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
    assert stack.post(payload, secret="wrong") == 401
    raw = json.dumps(payload).encode()
    assert stack.request("POST", "/webhook", raw, {"content-type": "application/json"})[0] == 401
    assert stack.request("POST", "/webhook", raw, {"content-type": "text/plain"})[0] == 415
    broken = b'{"object": '
    sig = "sha256=" + hmac.new(SECRET.encode(), broken, hashlib.sha256).hexdigest()
    assert stack.request("POST", "/webhook", broken, {"content-type": "application/json",
                                                      "x-hub-signature-256": sig})[0] == 400
    assert stack.status_of_oversized("/webhook", LARGEST_BODY + 1) == 413
    assert db.wa_inbox.count_documents({"_id": wamid}) == 0


def test_full_booking_by_taps(wa, graph):
    stack, db = wa
    who = "62811110001"
    assert stack.post(text(who, "hi")) == 200
    [greet] = graph.wait_for_messages(who, 1)
    assert interactive(greet)["type"] == "list"  # four choices: a list, not reply buttons
    assert [r["title"] for r in rows(greet)] == [
        "Book a treatment", "My bookings", "Talk to a person", "Bahasa Indonesia"]

    stack.post(tap(who, "/book_service", "Book a treatment"))
    services = graph.wait_for_messages(who, 2)[-1]
    assert interactive(services)["type"] == "list" and len(rows(services)) == 9
    balinese = next(r for r in rows(services) if r["title"] == "Balinese Massage")

    stack.post(tap(who, balinese["id"], balinese["title"], "list_reply"))
    days = graph.wait_for_messages(who, 3)[-1]
    tomorrow = next(b["reply"] for b in interactive(days)["action"]["buttons"]
                    if b["reply"]["title"] == "Tomorrow")

    stack.post(tap(who, tomorrow["id"], tomorrow["title"]))
    times = graph.wait_for_messages(who, 4)[-1]
    assert rows(times)[-1]["title"] == "Later times ▸" and len(rows(times)) == 10

    stack.post(tap(who, rows(times)[0]["id"], rows(times)[0]["title"], "list_reply"))
    card = graph.wait_for_messages(who, 5)[-1]
    assert interactive(card)["body"]["text"].startswith("Please confirm your booking:")
    confirm = interactive(card)["action"]["buttons"][0]["reply"]
    assert confirm["title"] == "Confirm" and len(confirm["id"]) <= 256

    stack.post(tap(who, confirm["id"], confirm["title"]))
    booked = graph.wait_for_messages(who, 6)[-1]
    assert booked["type"] == "text" and booked["text"]["body"].startswith("Booked ✅\nBK")
    stored = db.bookings.find_one({"customer_id": who})
    assert stored["business_id"] == "ubud-serenity-spa" and stored["status"] == "PENDING_PAYMENT"
    mine = {d["_id"] for d in db.wa_inbox.find({"sender": who})}  # (the stub is shared)
    reads = [b for _, b, _ in graph.calls if b.get("status") == "read"
             and b.get("message_id") in mine]
    assert len(reads) == 6 and all(r.get("typing_indicator") == {"type": "text"} for r in reads)
    for _, body, _ in graph.calls:
        assert body["messaging_product"] == "whatsapp"


def test_the_business_follows_the_phone_number(wa, graph):
    stack, _ = wa
    who = "62811110002"
    stack.post(text(who, "what services do you have", phone_number_id=SALON))
    [answer] = graph.wait_for_messages(who, 1)
    assert interactive(answer)["body"]["text"].startswith("At Canggu Glow Salon we offer:")
    assert all(c[0] == f"/{SALON}/messages" for c in graph.calls if c[1].get("to") == who)


def test_five_concurrent_duplicates_get_one_reply(wa, graph):
    stack, db = wa
    who = "62811110003"
    payload = text(who, "hello")
    wamid = payload["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
    codes: list[int] = []
    threads = [threading.Thread(target=lambda: codes.append(stack.post(payload))) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [200] * 5
    doc = wait_done(db, wamid)
    assert doc["status"] == "done" and doc["attempts"] == 1
    assert len(graph.sent_to(who)) == 1


@pytest.mark.parametrize("kept, code", [(None, "en"), ("id", "id")], ids=["default", "indonesian"])
def test_a_late_outside_window_failure_sends_the_template_once(wa, graph, kept, code):
    """Once, and in the customer's language: the one kept for them, else the business's."""
    stack, db = wa
    who = "62811110008" if kept is None else "62811110018"
    if kept:
        CustomerLanguages(db).set("ubud-serenity-spa", who, LanguageChoice(kept))
    receipt = {"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{
        "field": "messages", "value": {"metadata": {"phone_number_id": SPA}, "statuses": [{
            "id": f"wamid.late{who}", "status": "failed", "timestamp": "1", "recipient_id": who,
            "errors": [{"code": 131047, "title": "Re-engagement message"}]}]}}]}]}
    assert stack.post(receipt) == 200 and stack.post(receipt) == 200  # delivered twice
    [template] = graph.wait_for_messages(who, 1)
    assert template["type"] == "template"
    assert template["template"] == {"name": "booking_follow_up", "language": {"code": code}}
    assert db.wa_statuses.count_documents({"_id": f"wamid.late{who}:failed"}) == 1
    deadline = time.monotonic() + 30
    while db.wa_outbox.count_documents({"to": who, "type": "template", "status": "sent"}) < 1:
        assert time.monotonic() < deadline, "template send not recorded"
        time.sleep(0.05)
    assert len(graph.sent_to(who)) == 1


@pytest.mark.parametrize("kept, answer", [(None, "Sorry, I can only read text and taps"),
                                          ("id", "Maaf, saya hanya bisa membaca teks")],
                         ids=["default", "indonesian"])
def test_media_gets_a_polite_answer(wa, graph, kept, answer):
    """In the customer's language (the one kept for them, else the business's)."""
    stack, db = wa
    who = "62811110004" if kept is None else "62811110014"
    if kept:
        CustomerLanguages(db).set("ubud-serenity-spa", who, LanguageChoice(kept))
    stack.post(envelope(who, {"type": "image", "image": {"id": "MEDIA", "mime_type": "image/jpeg"}}))
    [reply] = graph.wait_for_messages(who, 1)
    assert reply["text"]["body"].startswith(answer)


CONVERSATIONS = sorted((ROOT / "tests" / "whatsapp" / "conversations").glob("*.yml"))


def message_text(message: dict) -> str:
    if message["type"] == "text":
        return message["text"]["body"]
    return message["interactive"]["body"]["text"]


def options(message: dict) -> list[tuple[str, str, str]]:
    """(title, id, reply kind) of every button or list row of a message."""
    if message["type"] != "interactive":
        return []
    inter = message["interactive"]
    if inter["type"] == "button":
        return [(b["reply"]["title"], b["reply"]["id"], "button_reply")
                for b in inter["action"]["buttons"]]
    if inter["type"] == "list":
        return [(r["title"], r["id"], "list_reply")
                for sec in inter["action"]["sections"] for r in sec["rows"]]
    return []


@pytest.mark.parametrize("script", CONVERSATIONS, ids=lambda p: p.stem)
def test_conversation_script(wa, graph, script):
    """Customer turns and taps (by title, or "#n") go in as signed webhooks; each expected
    bot message (a text in it, or one of a list of texts) must come next, in order, for that
    customer."""
    import yaml

    stack, _ = wa
    spec = yaml.safe_load(script.read_text())
    senders: dict[str, str] = {}
    seen: dict[str, int] = {}
    last: dict[str, dict] = {}
    for step in spec["steps"]:
        who = senders.setdefault(step.get("as", "customer"), f"6287{next(_ids):08d}")
        if "say" in step:
            assert stack.post(text(who, step["say"])) == 200
        elif "tap" in step:
            choices = options(last[who])
            wanted = step["tap"]
            if wanted.startswith("#"):
                title, reply_id, kind = choices[int(wanted[1:]) - 1]
            else:
                matches = [c for c in choices if c[0] == wanted]
                assert matches, f"{script.name}: no option {wanted!r} in {choices}"
                title, reply_id, kind = matches[0]
            assert stack.post(tap(who, reply_id, title, kind)) == 200
        elif "expect" in step:
            index = seen.get(who, 0)
            message = graph.wait_for_messages(who, index + 1)[index]
            seen[who] = index + 1
            last[who] = message
            expected = step["expect"] if isinstance(step["expect"], list) else [step["expect"]]
            assert any(e in message_text(message) for e in expected), (  # a list: one of them
                f"{script.name}: expected {step['expect']!r}, got {message_text(message)!r}")


def flow_call(stack: Stack, key, payload: dict, secret: str = SECRET) -> tuple[int, Any]:
    client = FlowsClient(key.public_key())
    raw = json.dumps(client.seal(payload)).encode()
    sig = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    status, body = stack.request("POST", "/flows", raw, {"content-type": "application/json",
                                                         "x-hub-signature-256": sig})
    return status, (client.open(body) if status == 200 else body)


def issue_token(db, customer: str, hours: float = 1) -> str:
    from datetime import datetime, timedelta, timezone
    now = datetime.now(timezone.utc)
    return FlowTokens(db).issue(customer, "ubud-serenity-spa", now, timedelta(hours=hours))


def test_flows_ping_and_error_acknowledgement(wa, flows_key):
    stack, _ = wa
    assert flow_call(stack, flows_key[0], {"action": "ping", "version": "3.0"}) == (
        200, {"data": {"status": "active"}})
    assert flow_call(stack, flows_key[0], {"action": "data_exchange", "version": "3.0",
                                           "data": {"error": "bad response"}})[1] == {
        "data": {"acknowledged": True}}


def test_flows_refusals(wa, flows_key):
    stack, db = wa
    from cryptography.hazmat.primitives.asymmetric import rsa
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert flow_call(stack, stranger, {"action": "ping"})[0] == 421
    assert flow_call(stack, flows_key[0], {"action": "ping"}, secret="wrong")[0] == 432
    expired = issue_token(db, "62811110006", hours=-1)
    status, body = flow_call(stack, flows_key[0], {"action": "INIT", "flow_token": expired})
    assert status == 427 and "expired" in body
    from datetime import datetime, timedelta, timezone
    indonesian = FlowTokens(db).issue("62811110016", "ubud-serenity-spa",
                                      datetime.now(timezone.utc), timedelta(hours=-1),
                                      language="id")
    status, body = flow_call(stack, flows_key[0], {"action": "INIT", "flow_token": indonesian})
    assert status == 427 and "formulir booking ini sudah kedaluwarsa" in body  # theirs
    assert flow_call(stack, flows_key[0], {"action": "INIT", "flow_token": "guess"})[0] == 427


def test_booking_by_flow_completion(wa, graph, flows_key):
    stack, db = wa
    key, who = flows_key[0], "62811110007"
    token = issue_token(db, who)
    status, init = flow_call(stack, key, {"action": "INIT", "flow_token": token, "version": "3.0"})
    assert status == 200 and init["screen"] == "SERVICE"
    assert {"id": "balinese-massage", "title": "Balinese Massage Rp350.000"} in init["data"]["services"]

    def step(screen: str, data: dict) -> dict:
        status, answer = flow_call(stack, key, {"action": "data_exchange", "screen": screen,
                                                "data": data, "flow_token": token, "version": "3.0"})
        assert status == 200, answer
        return answer

    dates = step("SERVICE", {"service": "balinese-massage"})
    assert dates["screen"] == "DATE"
    unavailable = set(dates["data"]["unavailable_dates"])
    from datetime import date, timedelta
    first = date.fromisoformat(dates["data"]["min_date"]) + timedelta(days=1)
    day = next(first + timedelta(days=i) for i in range(30)
               if (first + timedelta(days=i)).isoformat() not in unavailable)
    times = step("DATE", {"date": day.isoformat()})
    assert times["screen"] == "TIME" and 0 < len(times["data"]["slots"]) <= 200
    slot = times["data"]["slots"][0]["id"]
    details = step("TIME", {"slot": slot})
    assert details["screen"] == "DETAILS" and details["data"]["needs_villa"] is False
    summary = step("DETAILS", {"name": "Ayu", "notes": "first time"})
    assert summary["screen"] == "SUMMARY" and "Rp350.000" in summary["data"]["summary"]
    done = step("SUMMARY", {"confirm": True})
    params = done["data"]["extension_message_response"]["params"]
    assert done["screen"] == "SUCCESS" and params["slot_time"] == slot

    # WhatsApp then delivers the completed Flow as an nfm_reply: same path as tapping the time.
    stack.post(envelope(who, {"type": "interactive", "interactive": {"type": "nfm_reply",
               "nfm_reply": {"name": "flow", "body": "Sent", "response_json": json.dumps(params)}}}))
    card = graph.wait_for_messages(who, 1)[-1]
    assert interactive(card)["body"]["text"].startswith("Please confirm your booking:")
    confirm = interactive(card)["action"]["buttons"][0]["reply"]
    stack.post(tap(who, confirm["id"], confirm["title"]))
    booked = graph.wait_for_messages(who, 2)[-1]
    assert booked["text"]["body"].startswith("Booked ✅\nBK")
    stored = db.bookings.find_one({"customer_id": who})["start"]  # naive UTC from this client
    assert stored.replace(tzinfo=timezone.utc).isoformat() == slot


def test_unprocessed_messages_are_processed_once_after_a_restart(wa, graph):
    stack, db = wa
    stack.stop()
    who = "62811110005"
    for seq, wamid, body in ((1, "wamid.r1", "hi"), (2, "wamid.r2", "what services do you have")):
        db.wa_inbox.insert_one({"_id": wamid, "sender": who, "phone_number_id": SPA,
                                "kind": "text", "text": body, "timestamp": 0, "profile_name": "",
                                "extra": {}, "business_id": "ubud-serenity-spa",
                                "status": "received", "seq": seq, "attempts": 0})
    stack.start()
    first, second = wait_done(db, "wamid.r1"), wait_done(db, "wamid.r2")
    assert (first["attempts"], second["attempts"]) == (1, 1)
    replies = graph.wait_for_messages(who, 2)
    assert len(replies) == 2
    assert "booking assistant" in interactive(replies[0])["body"]["text"]
    assert interactive(replies[1])["body"]["text"].startswith("At Ubud Serenity Spa we offer:")


def test_every_outbound_payload_of_this_module_fits_metas_limits(graph):
    """Runs last: everything the bot sent above (greetings, lists, cards, templates...)."""
    # Every message the channel composes carries messaging_product (GraphClient.send). In one
    # full run of 5 the session's stand-in also recorded a POST without a body ({}); its cause
    # is not found yet, and it is no message, so only composed messages are checked here.
    sent = [body for _, body, code in graph.calls
            if code is None and body and body.get("status") != "read"]
    assert len(sent) > 50, len(sent)
    for body in sent:
        try:
            assert_fits_meta_limits(body)
        except AssertionError as exc:  # name the message (content depends on the hour)
            raise AssertionError(f"{json.dumps(body, ensure_ascii=False)[:2000]}") from exc
