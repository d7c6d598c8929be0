"""Webhook parsing, response rendering within Meta's limits, and signatures (pure)."""
from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
from pathlib import Path

import bson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from channels.whatsapp import render
from channels.whatsapp.channel import signature_ok
from channels.whatsapp.errors import (OutsideWindowError, PermanentGraphError,
                                      RetryableGraphError, classify)
from channels.whatsapp.parse import PayloadError, parse_webhook

PAYLOADS = Path(__file__).parent / "payloads"


def load(name: str) -> dict:
    return json.loads((PAYLOADS / name).read_text())


def test_text_message_and_failed_status():
    hook = parse_webhook(load("text_and_status.json"))
    [message] = hook.messages
    assert (message.message_id, message.sender, message.phone_number_id, message.kind,
            message.text, message.profile_name) == (
        "wamid.TEXT1", "6281234567890", "110000000000001", "text",
        "balinese massage tomorrow at 3pm", "Ayu")
    [status] = hook.statuses
    assert (status.message_id, status.status, status.error_code) == ("wamid.OUT1", "failed", 131047)


def test_every_interactive_kind_becomes_what_rasa_needs():
    messages = parse_webhook(load("interactive_replies.json")).messages
    assert [(m.kind, m.text) for m in messages] == [
        ("interactive", "/confirm_booking"),
        ("interactive", '/choose_slot{"slot_time":"2026-11-24T07:00:00+00:00"}'),
        ("button", "/my_bookings"),
        ("location", "my location: Villa Sawah, Ubud"),
        ("image", None),
        ("interactive", None)]
    assert messages[5].extra == {"flow_response": {"flow_token": "tok", "service": "manicure"}}


@pytest.mark.parametrize("body", [None, [], "x", {"object": "page"}, {"object": "whatsapp_business_account"},
                                  {"object": "whatsapp_business_account", "entry": {}}])
def test_not_an_envelope_is_a_payload_error(body):
    with pytest.raises(PayloadError):
        parse_webhook(body)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["object", "entry", "changes", "field", "value", "messages", "statuses",
                         "metadata", "phone_number_id", "from", "id", "type", "text", "body",
                         "interactive", "button_reply", "list_reply", "nfm_reply",
                         "response_json", "contacts", "errors", "status", "smb_message_echoes",
                         "message_echoes", "to", "caption"]) | st.text(max_size=8),
        children, max_size=6),
    max_leaves=40)


@settings(max_examples=3000, deadline=None)
@given(json_values, st.booleans())
def test_any_json_parses_or_is_refused_cleanly(body, as_envelope):
    if isinstance(body, dict) and as_envelope:
        body = {**body, "object": "whatsapp_business_account"}
    try:
        hook = parse_webhook(body)
    except PayloadError:
        return
    for m in hook.messages:
        assert m.message_id and m.sender and m.phone_number_id
        assert m.text is None or isinstance(m.text, str)
        bson.encode(dataclasses.asdict(m))  # storable as is: no int beyond 64 bits, no oddity
    for status in hook.statuses:
        bson.encode(dataclasses.asdict(status))
    for echo in hook.echoes:
        assert echo.message_id and echo.customer.isdigit() and echo.text
        bson.encode(dataclasses.asdict(echo))


def choices(n: int, title: str = "Option") -> list[render.Choice]:
    return [render.Choice(f"{title} {i}", f"/choose_slot{{\"n\":{i}}}") for i in range(n)]


def test_three_choices_are_reply_buttons():
    [msg] = render.choices_message("Pick one", choices(3))
    assert msg["interactive"]["type"] == "button"
    assert [b["reply"]["title"] for b in msg["interactive"]["action"]["buttons"]] == [
        "Option 0", "Option 1", "Option 2"]


def test_four_to_ten_choices_are_a_list():
    [msg] = render.choices_message("Pick one", choices(10))
    rows = msg["interactive"]["action"]["sections"][0]["rows"]
    assert msg["interactive"]["type"] == "list" and len(rows) == 10


def test_more_than_ten_pages_with_more():
    [first] = render.choices_message("Pick", choices(23), page_key="k1")
    rows = first["interactive"]["action"]["sections"][0]["rows"]
    assert len(rows) == 10 and rows[-1]["id"] == "__more__:k1:1" and rows[-1]["title"] == "More…"
    [third] = render.choices_message("Pick", choices(23), page_key="k1", page=2)
    rows = third["interactive"]["action"]["sections"][0]["rows"]
    assert [r["title"] for r in rows] == [f"Option {i}" for i in range(18, 23)]


def test_long_titles_are_shortened_and_kept_unique():
    long = [render.Choice("Balinese Massage with hot oil and flowers", f"/p{i}") for i in range(3)]
    [msg] = render.choices_message("Which?", long)
    titles = [b["reply"]["title"] for b in msg["interactive"]["action"]["buttons"]]
    assert titles == ["Balinese Massage wi…", "Balinese Massage… 2", "Balinese Massage… 3"]
    assert all(len(t) <= 20 for t in titles) and len(set(titles)) == 3
    [lst] = render.choices_message("Which?", long * 2)
    rows = lst["interactive"]["action"]["sections"][0]["rows"]
    assert all(len(r["title"]) <= 24 and len(r["description"]) <= 72 for r in rows)


def test_a_choice_titled_like_the_more_row_is_told_apart_from_it():
    choices = [render.Choice("More…" if i == 3 else f"Option {i}", f"/p{i}") for i in range(12)]
    [msg] = render.choices_message("Pick", choices, "key")
    titles = [r["title"] for r in msg["interactive"]["action"]["sections"][0]["rows"]]
    assert titles.count("More…") == 1 and "More… 2" in titles


def test_text_over_4096_is_split_at_line_ends():
    text = "\n".join(f"line {i} " + "x" * 50 for i in range(200))
    parts = render.text_message(text)
    assert len(parts) == 3 and all(len(p["text"]["body"]) <= 4096 for p in parts)
    assert "".join(p["text"]["body"] + "\n" for p in parts).strip() == text


@settings(max_examples=1000, deadline=None)
@given(st.text(max_size=5000), st.lists(st.tuples(st.text(max_size=60), st.text(min_size=1, max_size=150)),
                                         max_size=25))
@example(text="", raw=[("", "0")] * 8 + [("More…", "0")] + [("", "0")] * 2)  # found on CI
def test_rendered_messages_always_fit_the_limits(text, raw):
    for msg in render.choices_message(text, [render.Choice(t, p) for t, p in raw], "key"):
        if msg["type"] == "text":
            assert len(msg["text"]["body"]) <= 4096
            continue
        inter = msg["interactive"]
        if inter["type"] == "button":
            assert len(inter["body"]["text"]) <= 1024 and len(inter["action"]["buttons"]) <= 3
            titles = [b["reply"]["title"] for b in inter["action"]["buttons"]]
            assert all(len(t) <= 20 for t in titles) and len(set(titles)) == len(titles)
        else:
            rows = inter["action"]["sections"][0]["rows"]
            assert len(rows) <= 10 and len(inter["body"]["text"]) <= 4096
            assert all(len(r["title"]) <= 24 and len(r["id"]) <= 200 for r in rows)
            assert all(len(r.get("description", "")) <= 72 for r in rows)
            assert len({r["title"] for r in rows}) == len(rows)


def test_custom_payloads():
    [cta] = render.custom_message({"whatsapp": {"type": "cta_url", "text": "Pay Rp350.000",
                                                "display_text": "Pay now 💳 securely today",
                                                "url": "https://pay.example/x"}})
    assert cta["interactive"]["action"]["parameters"]["display_text"] == "Pay now 💳 securely…"
    [doc] = render.custom_message({"type": "document", "link": "https://x/inv.pdf",
                                   "filename": "BK1.pdf", "caption": "Your invoice"})
    assert doc == {"type": "document", "document": {"link": "https://x/inv.pdf",
                                                     "filename": "BK1.pdf", "caption": "Your invoice"}}
    with pytest.raises(ValueError):
        render.custom_message({"type": "hologram"})


def test_signature_is_checked_over_the_raw_body():
    body = b'{"object": "whatsapp_business_account"}'
    good = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert signature_ok("s3cret", body, good)
    assert not signature_ok("s3cret", body + b" ", good)
    assert not signature_ok("s3cret", body, None)
    assert not signature_ok("", body, good)
    assert not signature_ok("s3cret", body, good.replace("sha256=", "sha1="))


@pytest.mark.parametrize("status, body, kind", [
    (400, {"error": {"code": 130429}}, RetryableGraphError),
    (400, {"error": {"code": 131056}}, RetryableGraphError),
    (500, {}, RetryableGraphError),
    (400, {"error": {"code": 131047}}, OutsideWindowError),
    (400, {"error": {"code": 131026}}, PermanentGraphError),
    (400, {"error": {"code": 100}}, PermanentGraphError),
])
def test_graph_errors_are_typed(status, body, kind):
    assert type(classify(status, body)) is kind


@pytest.mark.parametrize("timestamp, stored", [
    ("1732500000", 1732500000), (9.223372036854776e18, 0), (float("inf"), 0), (-5, 0),
    ("99999999999999999999", 0), ("soon", 0), (None, 0)])
def test_timestamps_outside_int64_become_zero_not_a_server_error(timestamp, stored):
    """Found by the HTTP fuzzer: 9.2e18 overflowed MongoDB's 64-bit integer (a 500)."""
    body = load("text_and_status.json")
    body["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"] = timestamp
    assert parse_webhook(body).messages[0].timestamp == stored


def test_location_and_flow_replies_are_made_storable():
    hook = parse_webhook({"object": "whatsapp_business_account", "entry": [{"changes": [{
        "field": "messages", "value": {"metadata": {"phone_number_id": "1"}, "messages": [
            {"from": "62", "id": "a", "type": "location",
             "location": {"latitude": 10 ** 30, "longitude": "115.26", "name": "Ubud"}},
            {"from": "62", "id": "b", "type": "interactive", "interactive": {
                "type": "nfm_reply", "nfm_reply": {"response_json": json.dumps(
                    {"service": "manicure", "big": 10 ** 30, "nested": {"a": [1]}})}}}]}}]}]})
    location, flow = hook.messages
    assert location.extra == {"latitude": None, "longitude": 115.26, "place": "Ubud"}
    assert flow.extra == {"flow_response": {"service": "manicure", "big": str(10 ** 30),
                                            "nested": '{"a": [1]}'}}
    for message in hook.messages:
        bson.encode(dataclasses.asdict(message))


@pytest.mark.parametrize("header", ["sha256=é", "sha256=²" * 4, "sha256=\udcff", "é",
                                    b"sha256=\xff\xfe", ["sha256=00"]])
def test_odd_signature_headers_are_just_wrong(header):
    """Found by an attacker's header: compare_digest on non-ASCII str raised TypeError (a 500)."""
    assert not signature_ok("s3cret", b"{}", header if not isinstance(header, list) else None)


@pytest.mark.parametrize("timestamp", ["²", "١٧٣٢٥٠٠٠٠٠", " 1732500000", "+1732500000", "1_0"])
def test_timestamps_must_be_ascii_digits(timestamp):
    """``int()`` reads Arabic-Indic digits, spaces and underscores; a timestamp is ASCII digits."""
    body = load("text_and_status.json")
    body["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"] = timestamp
    assert parse_webhook(body).messages[0].timestamp == 0


def test_a_more_tap_with_an_odd_page_is_page_one():
    from channels.whatsapp.output import more_page

    assert more_page("__more__:k1:2") == ("k1", 2)
    assert more_page("__more__:k1:²") == ("k1", 1)  # "²".isdigit() is True; int("²") raises
    assert more_page("__more__:k1:١") == ("k1", 1)
    assert more_page("__more__:k1:99999999999999999999") == ("k1", 1)
    assert more_page("hello") is None


def test_a_sender_that_is_not_a_phone_number_is_dropped():
    """A WhatsApp id is digits: a signed webhook cannot speak as another channel's customer
    (``rest:x``) or with look-alike digits."""
    def hook(sender: str):
        return parse_webhook({"object": "whatsapp_business_account", "entry": [{"changes": [{
            "field": "messages", "value": {"metadata": {"phone_number_id": "1"}, "messages": [
                {"from": sender, "id": "a", "type": "text", "text": {"body": "hi"}}]}}]}]})

    assert [m.sender for m in hook("6281234567890").messages] == ["6281234567890"]
    for sender in ("rest:6281234567890", "socketio:abc", "628١٢٣", "62²", "", "1" * 21):
        assert hook(sender).messages == [], sender


def _echo_envelope(*echoes: dict) -> dict:
    return {"object": "whatsapp_business_account", "entry": [{"changes": [{
        "field": "smb_message_echoes", "value": {
            "metadata": {"phone_number_id": "PNID"}, "message_echoes": list(echoes)}}]}]}


def test_the_owners_own_replies_are_echoes_never_customer_messages():
    hook = parse_webhook(_echo_envelope(
        {"from": "62811", "to": "6281234567890", "id": "wamid.E1", "timestamp": "1700000000",
         "type": "text", "text": {"body": "Hi, Putu here"}},
        {"from": "62811", "to": "6281234567890", "id": "wamid.E2", "type": "image",
         "image": {"id": "media1", "caption": "our new room"}},
        {"from": "62811", "to": "6281234567890", "id": "wamid.E3", "type": "sticker"},
        {"from": "62811", "to": "rest:someone", "id": "wamid.E4", "type": "text",
         "text": {"body": "not a WhatsApp number"}},
        {"from": "62811", "id": "wamid.E5", "type": "text", "text": {"body": "to nobody"}}))
    assert hook.messages == [] and hook.statuses == []
    assert [(e.message_id, e.customer, e.phone_number_id, e.kind, e.text, e.timestamp)
            for e in hook.echoes] == [
        ("wamid.E1", "6281234567890", "PNID", "text", "Hi, Putu here", 1700000000),
        ("wamid.E2", "6281234567890", "PNID", "image", "our new room", 0),
        ("wamid.E3", "6281234567890", "PNID", "sticker", "(sticker)", 0)]
