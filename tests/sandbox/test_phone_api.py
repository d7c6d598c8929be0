"""The phone page's JSON API over real HTTP (what a customer sends becomes one signed webhook,
its status, validation) and the chats kept across restarts."""
from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

import sandbox.webhooks as sandbox_webhooks
from sandbox.app import create_app
from sandbox.config import SandboxConfig
from sandbox.phone import IMAGE_MAX
from tests.sandbox.app_runner import RunningApp
from tools.mongod import free_port
from tests.sandbox.api_support import (  # noqa: F401 (fixtures are used by name)
    AUTH, Events, IMAGE, Product, SALON, SPA, SPA_DIGITS, bot_offers, bot_says, chat, config,
    data_url, fast_retries, graph, has_status, history, new_customer, png, private_key,
    product, sandbox, say, send, text_of)


# ====================================================================== phone API
CUSTOMER_MESSAGES = {
    "text": ({"type": "text", "text": {"body": "Do you have a slot on Friday?"}},
             {"text": {"body": "Do you have a slot on Friday?"}}),
    "button_reply": ({"type": "interactive", "interactive": {
        "type": "button_reply", "button_reply": {"id": "slot-15", "title": "15:00"}}},
        {"interactive": {"type": "button_reply",
                         "button_reply": {"id": "slot-15", "title": "15:00"}}}),
    "list_reply": ({"type": "interactive", "interactive": {
        "type": "list_reply", "list_reply": {"id": "svc-balinese", "title": "Balinese",
                                             "description": "60 min"}}},
        {"interactive": {"type": "list_reply", "list_reply": {
            "id": "svc-balinese", "title": "Balinese", "description": "60 min"}}}),
    "location": ({"type": "location", "location": {
        "latitude": -8.5069, "longitude": 115.2625, "name": "Ubud", "address": "Jl. Raya"}},
        {"location": {"latitude": -8.5069, "longitude": 115.2625, "name": "Ubud",
                      "address": "Jl. Raya"}}),
    "image": ({"type": "image", "image": {"data_url": data_url(IMAGE), "caption": "my card"}},
              {"image": {"mime_type": "image/png", "sha256": hashlib.sha256(IMAGE).hexdigest(),
                         "caption": "my card"}}),
}


@pytest.mark.parametrize("kind", list(CUSTOMER_MESSAGES))
def test_a_customer_message_becomes_one_signed_webhook(sandbox: RunningApp, product: Product,
                                                       kind: str) -> None:
    customer = new_customer()
    message, expected = CUSTOMER_MESSAGES[kind]
    offer = None
    if kind in OFFERS:  # a tap answers the bot message that offered it
        offer = bot_offers(sandbox, customer, OFFERS[kind])
        message = {**message, "context": {"id": offer}}
    with Events(chat(sandbox, customer) + "/events") as events:
        answer = send(sandbox, customer, message, name="Ayu Lestari")
        assert answer.status_code == 200, answer.text
        record = answer.json()
        assert record["direction"] == "in" and record["status"] == "sending"
        assert record["id"].startswith("wamid.") and record["name"] == "Ayu Lestari"
        events.until(has_status(record["id"], "delivered"))
        assert events.statuses(record["id"]) == ["sending", "delivered"]
    [hit] = product.wait(product.message(record["id"]))
    assert hit.signed and hit.answered == 200
    assert hit.body["object"] == "whatsapp_business_account"
    [entry] = hit.body["entry"]
    [change] = entry["changes"]
    assert change["field"] == "messages"
    value = change["value"]
    assert value["messaging_product"] == "whatsapp"
    assert value["metadata"]["phone_number_id"] == SPA.phone_number_id
    assert value["contacts"] == [{"profile": {"name": "Ayu Lestari"}, "wa_id": customer}]
    [sent] = value["messages"]
    assert sent["from"] == customer and sent["id"] == record["id"]
    assert sent["timestamp"].isdigit() and sent["type"] == message["type"]
    assert sent.get("context") == ({"from": SPA_DIGITS, "id": offer} if offer else None)
    kind_key = message["type"]
    if kind == "image":
        image = sent["image"]
        assert image["id"].isdigit()
        assert {k: image[k] for k in expected["image"]} == expected["image"]
        download = requests.get(f"{sandbox.url}/media/{image['id']}", timeout=5)
        assert download.content == IMAGE and download.headers["content-type"] == "image/png"
        info = requests.get(f"{sandbox.url}/v25.0/{image['id']}", headers=AUTH, timeout=5)
        assert info.json()["sha256"] == image["sha256"]
    else:
        assert sent[kind_key] == expected[kind_key]
    kept = history(sandbox, customer)[-1]
    assert kept["id"] == record["id"] and kept["status"] == "delivered"
    assert "from" not in kept["message"]


OFFERS = {  # what the bot sent that the taps above answer
    "button_reply": {"type": "button", "body": {"text": "When?"}, "action": {"buttons": [
        {"type": "reply", "reply": {"id": "slot-14", "title": "14:00"}},
        {"type": "reply", "reply": {"id": "slot-15", "title": "15:00"}}]}},
    "list_reply": {"type": "list", "body": {"text": "Which?"}, "action": {
        "button": "Choose", "sections": [{"title": "Massage", "rows": [
            {"id": "svc-balinese", "title": "Balinese", "description": "60 min"},
            {"id": "svc-deep", "title": "Deep tissue"}]}]}},
}


@pytest.mark.parametrize("kind", list(OFFERS))
def test_a_tap_is_built_from_the_bot_message_it_answers(sandbox: RunningApp, kind: str) -> None:
    customer = new_customer()
    offer = bot_offers(sandbox, customer, OFFERS[kind])
    tap = CUSTOMER_MESSAGES[kind][0]
    reply_id = tap["interactive"][kind]["id"]
    forged_title = {**tap, "context": {"id": offer}, "interactive": {
        "type": kind, kind: {"id": reply_id, "title": "Free massage", "extra": "x" * 1000}}}
    answer = send(sandbox, customer, forged_title)
    assert answer.status_code == 200
    assert answer.json()["message"]["interactive"] == CUSTOMER_MESSAGES[kind][1]["interactive"]
    for refused in (
            tap,  # no context: which message is it a tap on?
            {**tap, "context": {"id": "wamid.NOT-IN-THIS-CHAT"}},
            {**tap, "context": {"id": bot_offers(sandbox, new_customer(), OFFERS[kind])}},
            {**tap, "context": {"id": offer}, "interactive": {
                "type": kind, kind: {"id": "an-id-never-offered", "title": "x"}}},
            {**tap, "context": {"id": answer.json()["id"]}},  # the customer's own message
            {"type": "interactive", "context": {"id": offer}, "interactive": {
                "type": "nfm_reply", "nfm_reply": {"name": "flow", "response_json": "{}"}}}):
        assert send(sandbox, customer, refused).status_code == 400, refused


def test_a_reply_carries_its_context_and_a_nameless_customer_is_named_by_number(
        sandbox: RunningApp, product: Product) -> None:
    customer = new_customer()
    quoted = bot_says(sandbox, customer, "Shall I book 15:00?")
    answer = send(sandbox, customer, {"type": "text", "text": {"body": "Yes, that one"},
                                      "context": {"id": quoted}}, name=None)
    assert answer.status_code == 200, answer.text
    [hit] = product.wait(product.message(answer.json()["id"]))
    sent = hit.value["messages"][0]
    assert sent["context"] == {"from": SPA_DIGITS, "id": quoted}
    assert hit.value["contacts"][0]["profile"]["name"] == customer
    for unknown in (42, "wamid.NEVER-SENT"):
        assert send(sandbox, customer, {"type": "text", "text": {"body": "x"},
                                        "context": {"id": unknown}}).status_code == 400


def test_a_500_from_the_product_is_retried_until_it_answers_200(
        sandbox: RunningApp, product: Product) -> None:
    customer = new_customer()
    answers = iter([500, 503])
    product.webhook_answer = lambda body: next(answers, 200) if text_of(body) == customer \
        else 200
    with Events(chat(sandbox, customer) + "/events") as events:
        record = say(sandbox, customer, customer)
        events.until(has_status(record["id"], "delivered"))
        assert events.statuses(record["id"]) == ["sending", "delivered"]
    hits = product.find(product.message(record["id"]))
    assert [h.answered for h in hits] == [500, 503, 200]
    assert len({h.raw for h in hits}) == 1 and all(h.signed for h in hits)


def test_a_message_the_product_never_accepts_ends_failed(sandbox: RunningApp,
                                                         product: Product) -> None:
    customer = new_customer()
    product.webhook_answer = lambda body: 500 if text_of(body) == customer else 200
    with Events(chat(sandbox, customer) + "/events") as events:
        record = say(sandbox, customer, customer)
        _, failed = events.until(has_status(record["id"], "failed"))
        assert events.statuses(record["id"]) == ["sending", "failed"]
    assert "500" in failed["error"]
    hits = product.find(product.message(record["id"]))
    assert len(hits) == 1 + len(sandbox_webhooks.RETRY_DELAYS)
    assert all(h.answered == 500 and h.signed for h in hits)
    [kept] = history(sandbox, customer)
    assert kept["status"] == "failed" and kept["error"] == failed["error"]


BAD_MESSAGES = {
    "no message": None,
    "message not an object": "hello",
    "unknown type": {"type": "sticker", "sticker": {"id": "1"}},
    "no type": {"text": {"body": "hi"}},
    "content not an object": {"type": "text", "text": "hi"},
    "empty text": {"type": "text", "text": {"body": ""}},
    "text not a string": {"type": "text", "text": {"body": 42}},
    "text over 4096": {"type": "text", "text": {"body": "x" * 4097}},
    "interactive not a reply": {"type": "interactive", "interactive": {"type": "button"}},
    "no data url": {"type": "image", "image": {"caption": "x"}},
    "not a data url": {"type": "image", "image": {"data_url": "http://example.com/a.png"}},
    "not an image": {"type": "image", "image": {"data_url": data_url(b"abc", "text/plain")}},
    "not base64 marked": {"type": "image", "image": {"data_url": "data:image/png,abc"}},
    "bad base64": {"type": "image", "image": {"data_url": "data:image/png;base64,!!!!"}},
    "empty image": {"type": "image", "image": {"data_url": "data:image/png;base64,"}},
    "image over 5 MB": {"type": "image", "image": {"data_url": data_url(b"\0" * (IMAGE_MAX + 1))}},
}


@pytest.mark.parametrize("message", list(BAD_MESSAGES.values()), ids=list(BAD_MESSAGES))
def test_a_message_that_is_not_one_is_refused(sandbox: RunningApp, message: Any) -> None:
    customer = new_customer()
    answer = send(sandbox, customer, message)
    assert answer.status_code == 400
    assert isinstance(answer.json()["error"], str)
    assert history(sandbox, customer) == []


def test_an_image_of_exactly_5_mb_is_accepted(sandbox: RunningApp, product: Product) -> None:
    customer = new_customer()
    answer = send(sandbox, customer, {"type": "image", "image": {
        "data_url": data_url(b"\1" * IMAGE_MAX)}})
    assert answer.status_code == 200, answer.text[:200]
    [hit] = product.wait(product.message(answer.json()["id"]))
    assert "caption" not in hit.value["messages"][0]["image"]


@pytest.mark.parametrize("raw", [b"[1, 2]", b'"text"', b"null", b"42", b"not json",
                                 b"\xff\xfe"], ids=repr)
def test_a_body_that_is_not_a_json_object_is_refused(sandbox: RunningApp, raw: bytes) -> None:
    customer = new_customer()
    for route in ("/send", "/read"):
        answer = requests.post(chat(sandbox, customer) + route, data=raw, timeout=5,
                               headers={"content-type": "application/json"})
        assert answer.status_code == 400, route
        assert "error" in answer.json()


@pytest.mark.parametrize("customer", ["1234567", "1234567890123456", "12345678a", "+6281234567",
                                      "١٢٣٤٥٦٧٨٩", "6281 234567", "-12345678"])
def test_a_customer_number_is_8_to_15_ascii_digits(sandbox: RunningApp, customer: str) -> None:
    url = f"{sandbox.url}/api/chats/{SPA.phone_number_id}/{quote(customer, safe='')}"
    answers = [requests.get(url, timeout=5), requests.get(url + "/events", timeout=5),
               requests.post(url + "/send", json={"message": {"type": "text",
                                                              "text": {"body": "hi"}}},
                             timeout=5),
               requests.post(url + "/read", json={"ids": []}, timeout=5)]
    assert [a.status_code for a in answers] == [400] * 4


@pytest.mark.parametrize("customer", ["12345678", "123456789012345"])
def test_the_shortest_and_longest_customer_numbers_are_fine(sandbox: RunningApp,
                                                            customer: str) -> None:
    assert requests.get(chat(sandbox, customer), timeout=5).status_code == 200


def test_an_unknown_business_is_404(sandbox: RunningApp) -> None:
    url = f"{sandbox.url}/api/chats/999999/{new_customer()}"
    answers = [requests.get(url, timeout=5), requests.get(url + "/events", timeout=5),
               requests.post(url + "/send", json={"message": {"type": "text",
                                                              "text": {"body": "hi"}}},
                             timeout=5),
               requests.post(url + "/read", json={"ids": []}, timeout=5)]
    assert [a.status_code for a in answers] == [404] * 4


def test_read_reports_this_chats_bot_messages_once(sandbox: RunningApp,
                                                   product: Product) -> None:
    customer, other = new_customer(), new_customer()
    first, second = bot_says(sandbox, customer, "one"), bot_says(sandbox, customer, "two")
    elsewhere = bot_says(sandbox, other, "other chat")
    same_number_other_business = bot_says(sandbox, customer, "salon", SALON)
    theirs = say(sandbox, customer, "a customer message")["id"]
    for wamid in (first, second, elsewhere, same_number_other_business):
        product.wait(product.status(wamid, "delivered"))
    url = chat(sandbox, customer) + "/read"
    ids = [first, first, elsewhere, same_number_other_business, theirs, "wamid.NOPE", 42, None]
    assert requests.post(url, json={"ids": ids}, timeout=5).status_code == 204
    assert requests.post(url, json={"ids": [first]}, timeout=5).status_code == 204
    assert requests.post(url, json={"ids": [second]}, timeout=5).status_code == 204
    [marker] = product.wait(product.status(second, "read"))  # sent after the others
    assert marker.signed and marker.value["statuses"][0]["recipient_id"] == customer
    [read] = product.find(product.status(first, "read"))
    assert read.signed and read.value["metadata"]["phone_number_id"] == SPA.phone_number_id
    for wamid in (elsewhere, same_number_other_business, theirs):
        assert product.find(product.status(wamid, "read")) == []
    statuses = {m["id"]: m["status"] for m in history(sandbox, customer)}
    assert statuses[first] == statuses[second] == "read"
    assert statuses[theirs] != "read"
    assert {m["id"]: m["status"] for m in history(sandbox, other)}[elsewhere] != "read"
    assert {m["id"]: m["status"] for m in history(sandbox, customer, SALON)}[
        same_number_other_business] != "read"
    for body in ({"ids": "wamid.X"}, {}, {"ids": {"a": 1}}):
        assert requests.post(url, json=body, timeout=5).status_code == 400


# ====================================================================== store persistence
def test_the_chats_survive_a_restart(config: SandboxConfig, product: Product,
                                     tmp_path: Path) -> None:
    restartable = dataclasses.replace(config, port=free_port(), data_dir=tmp_path)
    customer = new_customer()
    first = RunningApp(lambda: create_app(restartable), restartable.port)
    try:
        with Events(chat(first, customer) + "/events") as events:
            asked = say(first, customer, "Is Friday free?")["id"]
            events.until(has_status(asked, "delivered"))
            answered = bot_says(first, customer, "Friday 15:00 is free")
            events.until(has_status(answered, "delivered"))
        assert requests.post(chat(first, customer) + "/read", json={"ids": [answered]},
                             timeout=5).status_code == 204
        refused = graph(first, {"messaging_product": "whatsapp", "to": customer,
                                "type": "text", "text": {"body": ""}})
        assert refused.status_code == 400
        before = history(first, customer)
    finally:
        first.stop()
    assert [m["status"] for m in before] == ["delivered", "read", "rejected"]
    second = RunningApp(lambda: create_app(restartable), restartable.port)
    try:
        assert history(second, customer) == before
        assert history(second, customer, SALON) == []
        with Events(chat(second, customer) + "/events") as events:
            later = say(second, customer, "Great, book it")["id"]
            events.until(has_status(later, "delivered"))
        assert [m["id"] for m in history(second, customer)] == \
            [m["id"] for m in before] + [later]
    finally:
        second.stop()
    third = RunningApp(lambda: create_app(restartable), restartable.port)
    try:
        after = history(third, customer)
        assert after[:3] == before and after[3]["id"] == later
        assert after[3]["status"] == "delivered"  # the update written after the add
    finally:
        third.stop()
    # each start compacts the file: one line per message kept, not one per change
    lines = (tmp_path / "chats.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(after)


def test_an_unreadable_line_of_the_chats_file_is_skipped(config: SandboxConfig,
                                                         tmp_path: Path) -> None:
    restartable = dataclasses.replace(config, port=free_port(), data_dir=tmp_path)
    customer = new_customer()
    first = RunningApp(lambda: create_app(restartable), restartable.port)
    try:
        with Events(chat(first, customer) + "/events") as events:
            kept = say(first, customer, "keep me")["id"]
            events.until(has_status(kept, "delivered"))
        before = history(first, customer)
    finally:
        first.stop()
    path = tmp_path / "chats.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    garbage = ["{not json", "", "[1, 2]", '"a string"', '{"business": "1"}', "\x00\x01",
               '{"business":"%s","customer":"%s","mess' % (SPA.phone_number_id, customer)]
    path.write_text("\n".join(garbage[:3] + lines[:1] + garbage[3:] + lines[1:] + garbage[-1:])
                    + "\n", encoding="utf-8")
    second = RunningApp(lambda: create_app(restartable), restartable.port)
    try:
        assert history(second, customer) == before
        assert say(second, customer, "still works")["status"] == "sending"
    finally:
        second.stop()


def test_a_page_that_falls_behind_is_told_to_reload_not_queued_without_bound() -> None:
    from sandbox.store import LISTENER_BACKLOG, Chats

    async def scenario() -> list[str]:
        chats = Chats(None)
        await chats.open()
        key = (SPA.phone_number_id, "6281234500001")
        queue = chats.listen(key)
        for number in range(LISTENER_BACKLOG + 5):
            chats.add(key, {"id": f"wamid.{number}", "direction": "out", "status": "accepted",
                            "message": {}})
        events = [queue.get_nowait()[0] for _ in range(queue.qsize())]
        chats.unlisten(key, queue)
        await chats.close()
        return events

    events = asyncio.run(scenario())
    assert len(events) <= LISTENER_BACKLOG and "reload" in events
    assert events[events.index("reload"):] == ["reload"] + ["message"] * (
        len(events) - events.index("reload") - 1)
