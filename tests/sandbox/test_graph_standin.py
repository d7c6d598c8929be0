"""The Graph API stand-in over real HTTP (auth, messages, refusals, read receipts, typing,
media, status webhooks) and the server-sent events of a chat."""
from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest
import requests

from sandbox.app import create_app
from sandbox.config import Business, SandboxConfig
from tests.sandbox.api_support import (  # noqa: F401 (fixtures are used by name)
    AUTH, Events, Product, SALON, SPA, TOKEN, bot_says, bot_text, chat, config, fast_retries,
    graph, has_status, history, new_customer, png, private_key, product, sandbox, say)
from tests.sandbox.app_runner import RunningApp
from tools.mongod import free_port


# ====================================================================== Graph stand-in
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"},
                                     {"Authorization": f"Bearer {TOKEN}x"},
                                     {"Authorization": TOKEN}, {"Authorization": "Bearer "}],
                         ids=["none", "wrong", "longer", "no-scheme", "empty"])
def test_graph_refuses_a_missing_or_wrong_token(sandbox: RunningApp, headers: dict) -> None:
    customer = new_customer()
    answers = [graph(sandbox, bot_text(customer), headers=headers),
               requests.post(f"{sandbox.url}/v25.0/{SPA.phone_number_id}/media",
                             files={"file": ("a.png", png(), "image/png")},
                             data={"type": "image/png", "messaging_product": "whatsapp"},
                             headers=headers, timeout=5),
               requests.get(f"{sandbox.url}/v25.0/1000000000000001", headers=headers,
                            timeout=5)]
    for answer in answers:
        assert answer.status_code == 401
        assert answer.json()["error"]["code"] == 190
    assert history(sandbox, customer) == []


def test_graph_refuses_an_unknown_number_and_a_body_that_is_not_json(
        sandbox: RunningApp) -> None:
    customer = new_customer()
    unknown = graph(sandbox, bot_text(customer), Business("999999", "x", "999999"))
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == 100
    url = f"{sandbox.url}/v25.0/{SPA.phone_number_id}/messages"
    for raw in (b"not json", b"", b'{"to": ', b"\xff\xfe{}"):
        answer = requests.post(url, data=raw, headers={**AUTH, "content-type":
                                                       "application/json"}, timeout=5)
        assert answer.status_code == 400, raw
        assert answer.json()["error"]["code"] == 100
    upload = requests.post(f"{sandbox.url}/v25.0/999999/media", headers=AUTH,
                           files={"file": ("a.png", png(), "image/png")}, timeout=5)
    assert upload.status_code == 400 and upload.json()["error"]["code"] == 100
    assert history(sandbox, customer) == []


def test_graph_accepts_a_message_shows_it_and_reports_sent_then_delivered(
        sandbox: RunningApp, product: Product) -> None:
    customer = new_customer()
    body = bot_text(customer, "Your booking is confirmed")
    with Events(chat(sandbox, customer) + "/events") as events:
        answer = graph(sandbox, body)
        assert answer.status_code == 200, answer.text
        reply = answer.json()
        assert set(reply) == {"messaging_product", "contacts", "messages"}
        assert reply["messaging_product"] == "whatsapp"
        assert reply["contacts"] == [{"input": customer, "wa_id": customer}]
        wamid = reply["messages"][0]["id"]
        assert wamid.startswith("wamid.") and len(reply["messages"]) == 1
        events.until(has_status(wamid, "delivered"))
        assert events.statuses(wamid) == ["accepted", "delivered"]
    [kept] = history(sandbox, customer)
    assert kept["id"] == wamid and kept["direction"] == "out"
    assert kept["message"] == body and kept["status"] == "delivered"
    hits = product.wait(product.status(wamid), count=2)
    assert [h.value["statuses"][0]["status"] for h in hits] == ["sent", "delivered"]
    for hit in hits:
        assert hit.signed, hit.headers
        assert hit.headers["content-type"] == "application/json"
        assert hit.body["object"] == "whatsapp_business_account"
        assert hit.value["metadata"] == {"display_phone_number": SPA.display_phone_number,
                                         "phone_number_id": SPA.phone_number_id}
        status = hit.value["statuses"][0]
        assert status["recipient_id"] == customer and status["timestamp"].isdigit()


def test_graph_refuses_four_buttons_and_keeps_the_rejected_message(
        sandbox: RunningApp, product: Product) -> None:
    customer = new_customer()
    body = {"messaging_product": "whatsapp", "to": customer, "type": "interactive",
            "interactive": {"type": "button", "body": {"text": "Pick a time"}, "action": {
                "buttons": [{"type": "reply", "reply": {"id": f"t{i}", "title": f"1{i}:00"}}
                            for i in range(4)]}}}
    answer = graph(sandbox, body)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == 131009
    assert "at most 3 buttons" in error["error_data"]["details"]
    [kept] = history(sandbox, customer)
    assert kept["direction"] == "out" and kept["status"] == "rejected"
    assert kept["message"] == body
    assert [e["code"] for e in kept["errors"]] == [131009]
    assert "at most 3 buttons" in kept["errors"][0]["rule"]
    # a later accepted message is delivered; the rejected one never gets a status webhook
    wamid = bot_says(sandbox, customer)
    product.wait(product.status(wamid, "delivered"))
    assert product.find(product.status(kept["id"])) == []


def test_a_read_receipt_marks_the_customers_message_read_and_shows_typing(
        sandbox: RunningApp, product: Product) -> None:
    customer = new_customer()
    with Events(chat(sandbox, customer) + "/events") as events:
        record = say(sandbox, customer, "Hi, I'd like a massage")
        receipt = {"messaging_product": "whatsapp", "status": "read",
                   "message_id": record["id"], "typing_indicator": {"type": "text"}}
        answer = graph(sandbox, receipt)
        assert answer.status_code == 200 and answer.json() == {"success": True}
        events.until(lambda e, d: e == "typing")
        assert events.seen[-1] == ("typing", {"on": True})
        assert "read" in events.statuses(record["id"])
        wamid = bot_says(sandbox, customer, "Which day suits you?")
        # the next message from the bot ends the indicator, then shows itself
        assert events.next() == ("typing", {"on": False})
        event, data = events.next()
        assert event == "message" and data["id"] == wamid and data["direction"] == "out"
    product.wait(product.message(record["id"]))
    messages = {m["id"]: m for m in history(sandbox, customer)}
    assert messages[record["id"]]["status"] == "read"  # the product's 200 does not undo it


def test_a_read_receipt_without_typing_sends_no_typing_event(sandbox: RunningApp) -> None:
    customer = new_customer()
    record = say(sandbox, customer, "Hello")
    with Events(chat(sandbox, customer) + "/events") as events:
        answer = graph(sandbox, {"messaging_product": "whatsapp", "status": "read",
                                 "message_id": record["id"]})
        assert answer.status_code == 200
        wamid = bot_says(sandbox, customer)
        event, data = events.until(lambda e, d: e != "message" or d["id"] == wamid)
        assert event == "message", events.seen  # no typing event came before the bot's message
    assert {m["id"]: m["status"] for m in history(sandbox, customer)}[record["id"]] == "read"


def test_a_read_receipt_for_an_unknown_or_a_bot_message_is_refused(
        sandbox: RunningApp) -> None:
    customer = new_customer()
    customer_message = say(sandbox, customer, "Hello")
    bot_message = bot_says(sandbox, customer)
    for message_id, business in (("wamid.NOSUCHMESSAGE", SPA), (bot_message, SPA),
                                 (customer_message["id"], SALON)):
        answer = graph(sandbox, {"messaging_product": "whatsapp", "status": "read",
                                 "message_id": message_id}, business)
        assert answer.status_code == 400, (message_id, business.name)
        assert answer.json()["error"]["code"] == 100
    statuses = {m["id"]: m["status"] for m in history(sandbox, customer)}
    assert statuses[customer_message["id"]] != "read"


def test_media_upload_gives_an_id_a_url_and_the_bytes(sandbox: RunningApp) -> None:
    data = png(5000)
    upload = requests.post(f"{sandbox.url}/v25.0/{SPA.phone_number_id}/media", headers=AUTH,
                           files={"file": ("receipt.png", data, "image/png")},
                           data={"type": "image/png", "messaging_product": "whatsapp"},
                           timeout=5)
    assert upload.status_code == 200, upload.text
    media_id = upload.json()["id"]
    assert media_id.isdigit()
    info = requests.get(f"{sandbox.url}/v25.0/{media_id}", headers=AUTH, timeout=5)
    assert info.status_code == 200
    assert info.json() == {"messaging_product": "whatsapp", "id": media_id,
                           "mime_type": "image/png", "sha256": hashlib.sha256(data).hexdigest(),
                           "file_size": len(data), "url": f"{sandbox.url}/media/{media_id}"}
    download = requests.get(info.json()["url"], timeout=5)
    assert download.status_code == 200 and download.content == data
    assert download.headers["content-type"] == "image/png"
    assert requests.get(f"{sandbox.url}/v25.0/{media_id}", timeout=5).status_code == 401
    assert requests.get(f"{sandbox.url}/media/9{media_id}", timeout=5).status_code == 404
    unknown = requests.get(f"{sandbox.url}/v25.0/9{media_id}", headers=AUTH, timeout=5)
    assert unknown.status_code == 400


def test_media_upload_refuses_no_file_and_a_body_that_is_not_multipart(
        sandbox: RunningApp) -> None:
    url = f"{sandbox.url}/v25.0/{SPA.phone_number_id}/media"
    no_file = requests.post(url, headers=AUTH, files={"type": (None, "image/png")}, timeout=5)
    assert no_file.status_code == 400 and no_file.json()["error"]["code"] == 131053
    empty = requests.post(url, headers=AUTH, files={"file": ("a.png", b"", "image/png")},
                          timeout=5)
    assert empty.status_code == 400 and empty.json()["error"]["code"] == 131053
    not_multipart = requests.post(url, headers=AUTH, json={"file": "abc"}, timeout=5)
    assert not_multipart.status_code == 400 and not_multipart.json()["error"]["code"] == 100


# ====================================================================== server-sent events
def test_events_carry_new_and_updated_messages_of_that_chat_only(
        sandbox: RunningApp, product: Product) -> None:
    customer, other = new_customer(), new_customer()
    with Events(chat(sandbox, customer) + "/events") as events:
        noise = [say(sandbox, other, "another chat")["id"],
                 say(sandbox, customer, "another business", business=SALON)["id"],
                 bot_says(sandbox, other, "to another chat")]
        mine = say(sandbox, customer, "mine")["id"]
        event, data = events.next()  # the other chats' messages were added earlier
        assert (event, data["id"], data["status"]) == ("message", mine, "sending")
        assert data["message"]["text"] == {"body": "mine"} and data["direction"] == "in"
        events.until(has_status(mine, "delivered"))
        reply = bot_says(sandbox, customer, "a reply")
        events.until(has_status(reply, "delivered"))
        for wamid in noise[:2]:
            product.wait(product.message(wamid))
        product.wait(product.status(noise[2], "delivered"))
        marker = say(sandbox, customer, "marker")["id"]
        events.until(has_status(marker, "sending"))
    seen = {data["id"] for event, data in events.seen}
    assert seen == {mine, reply, marker}
    assert all(event == "message" for event, _ in events.seen)
    assert events.statuses(reply) == ["accepted", "delivered"]


def test_outside_the_24_hour_window_only_a_template_gets_through(config: SandboxConfig,
                                                                 product: Product) -> None:
    windowed = dataclasses.replace(config, port=free_port(), window_hours=24)
    running = RunningApp(lambda: create_app(windowed), windowed.port)
    try:
        customer = new_customer()
        never_wrote = bot_says(running, customer, "Your booking is tomorrow")
        [hit] = product.wait(product.status(never_wrote, "failed"))
        [status] = hit.value["statuses"]
        assert status["errors"][0]["code"] == 131047 and status["recipient_id"] == customer
        assert not product.find(product.status(never_wrote, "delivered"))
        assert history(running, customer)[0]["status"] == "failed"
        say(running, customer, "hi")  # the customer writes: the window opens
        answered = bot_says(running, customer, "Hello!")
        product.wait(product.status(answered, "delivered"))
        aged = requests.post(chat(running, customer) + "/age", json={"hours": 25}, timeout=5)
        assert aged.status_code == 204
        late = bot_says(running, customer, "Still there?")
        product.wait(product.status(late, "failed"))
        template = graph(running, {"messaging_product": "whatsapp", "to": customer,
                                   "type": "template", "template": {
                                       "name": "booking_follow_up", "language": {"code": "en"}}})
        product.wait(product.status(template.json()["messages"][0]["id"], "delivered"))
        for bad in ({"hours": 0}, {"hours": "25"}, {"hours": True}, {"hours": 10**6}, []):
            assert requests.post(chat(running, customer) + "/age", json=bad,
                                 timeout=5).status_code == 400
    finally:
        running.stop()


def test_media_is_only_what_meta_takes_and_never_runs_on_the_phones_origin(
        sandbox: RunningApp) -> None:
    def upload(kind: str) -> requests.Response:
        return requests.post(f"{sandbox.url}/v25.0/{SPA.phone_number_id}/media", headers=AUTH,
                             files={"file": ("f", b"<script>alert(1)</script>", kind)},
                             data={"type": kind, "messaging_product": "whatsapp"}, timeout=5)

    for kind in ("text/html", "image/svg+xml", "application/javascript"):
        refused = upload(kind)
        assert refused.status_code == 400 and refused.json()["error"]["code"] == 131053, kind
    for kind, attachment in (("text/plain", True), ("application/pdf", False)):
        media_id = upload(kind).json()["id"]
        served = requests.get(f"{sandbox.url}/media/{media_id}", timeout=5)
        assert served.headers["content-type"].startswith(kind)
        assert served.headers["content-security-policy"] == "sandbox"
        assert served.headers["x-content-type-options"] == "nosniff"
        assert ("content-disposition" in served.headers) == attachment
