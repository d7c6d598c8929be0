"""``sandbox.limits``: every Cloud API limit accepted at its boundary and refused one past it,
with the Graph code Meta answers and a rule naming the field; the bot's real payloads accepted;
and no input, however broken, makes it raise."""
from __future__ import annotations

import copy
import dataclasses
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actions import present
from booking.i18n import texts
from booking.payments.common import Payment
from channels.whatsapp import render
from channels.whatsapp.config import WhatsAppConfig
from sandbox.limits import TITLES, Violation, is_read_receipt, violations

TEMPLATES: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[2] / "sandbox" / "templates.json").read_text("utf-8"))
MISSING, NOT_VALID, INVALID, COUNT, NO_TEMPLATE = 131008, 131009, 100, 132000, 132001


def envelope(message: dict[str, Any]) -> dict[str, Any]:
    """What ``GraphClient.send`` posts for one rendered message."""
    return {"messaging_product": "whatsapp", "recipient_type": "individual",
            "to": "6281234567890", **message}


def codes(body: Any, templates: Any = None) -> list[int]:
    return [v.code for v in violations(body, TEMPLATES if templates is None else templates)]


def path_text(path: tuple) -> str:
    """``("interactive", "action", "buttons", 0)`` → ``interactive.action.buttons[0]``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def put(body: dict, path: tuple, value: Any) -> dict:
    """A copy of ``body`` with ``value`` at ``path``."""
    body = copy.deepcopy(body)
    target = body
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return body


# --------------------------------------------------------------------- valid messages
def text_msg() -> dict:
    return envelope({"type": "text", "text": {"body": "Hello", "preview_url": False}})


def buttons_msg(n: int = 2) -> dict:
    return envelope({"type": "interactive", "interactive": {
        "type": "button", "header": {"type": "text", "text": "Booking"},
        "body": {"text": "Pick one"}, "footer": {"text": "Bali Spa"},
        "action": {"buttons": [{"type": "reply", "reply": {"id": f"/b{i}", "title": f"B{i}"}}
                               for i in range(n)]}}})


def list_msg(sections: int = 1, rows: int = 3) -> dict:
    return envelope({"type": "interactive", "interactive": {
        "type": "list", "header": {"type": "text", "text": "Times"},
        "body": {"text": "Pick a time"}, "footer": {"text": "Bali Spa"},
        "action": {"button": "Choose", "sections": [
            {"title": f"S{s}", "rows": [{"id": f"/r{s}-{r}", "title": f"R{s}-{r}",
                                         "description": "d"} for r in range(rows)]}
            for s in range(sections)]}}})


def cta_msg() -> dict:
    return envelope({"type": "interactive", "interactive": {
        "type": "cta_url", "body": {"text": "Pay"},
        "action": {"name": "cta_url", "parameters": {"display_text": "Pay now",
                                                     "url": "https://pay.example/i/1"}}}})


def flow_msg(**parameters: Any) -> dict:
    params = {"flow_message_version": "3", "flow_token": "tok", "flow_id": "123",
              "flow_cta": "Booking form", "flow_action": "data_exchange", **parameters}
    return envelope({"type": "interactive", "interactive": {
        "type": "flow", "body": {"text": "Or use the form"},
        "action": {"name": "flow", "parameters": {k: v for k, v in params.items()
                                                  if v is not None}}}})


def document_msg() -> dict:
    return envelope({"type": "document", "document": {
        "link": "https://example.com/r/BK1.pdf", "filename": "BK1.pdf", "caption": "Invoice"}})


def image_msg() -> dict:
    return envelope({"type": "image", "image": {"id": "1234567890", "caption": "Map"}})


def template_msg(name: str = "booking_reminder", code: str = "en",
                 components: Any = None) -> dict:
    template: dict[str, Any] = {"name": name, "language": {"code": code}}
    if components is not None:
        template["components"] = components
    return envelope({"type": "template", "template": template})


def body_params(n: int) -> dict:
    return {"type": "body", "parameters": [{"type": "text", "text": f"p{i}"} for i in range(n)]}


def quick_reply(index: Any, sub_type: str = "quick_reply") -> dict:
    return {"type": "button", "sub_type": sub_type, "index": index,
            "parameters": [{"type": "payload", "payload": f"/tap{index}"}]}


VALID: list[Callable[[], dict]] = [text_msg, buttons_msg, list_msg, cta_msg, flow_msg,
                                   document_msg, image_msg,
                                   lambda: template_msg(components=[body_params(2)])]


@pytest.mark.parametrize("make", VALID, ids=lambda f: f.__name__)
def test_the_valid_examples_are_accepted(make):
    assert violations(make(), TEMPLATES) == []


# --------------------------------------------------------------------- string limits
I, B, L = ("interactive",), ("interactive", "action", "buttons"), \
    ("interactive", "action", "sections")
P = ("interactive", "action", "parameters")
STRING_LIMITS = [  # (message, path, longest accepted)
    (text_msg, ("text", "body"), 4096),
    (buttons_msg, I + ("body", "text"), 1024),
    (buttons_msg, I + ("header", "text"), 60),
    (buttons_msg, I + ("footer", "text"), 60),
    (buttons_msg, B + (1, "reply", "id"), 256),
    (buttons_msg, B + (1, "reply", "title"), 20),
    (list_msg, I + ("body", "text"), 4096),
    (list_msg, I + ("header", "text"), 60),
    (list_msg, I + ("footer", "text"), 60),
    (list_msg, I + ("action", "button"), 20),
    (list_msg, L + (0, "title"), 24),
    (list_msg, L + (0, "rows", 2, "id"), 200),
    (list_msg, L + (0, "rows", 2, "title"), 24),
    (list_msg, L + (0, "rows", 2, "description"), 72),
    (cta_msg, I + ("body", "text"), 1024),
    (cta_msg, P + ("display_text",), 20),
    (flow_msg, I + ("body", "text"), 1024),
    (flow_msg, P + ("flow_cta",), 20),
    (document_msg, ("document", "caption"), 1024),
    (image_msg, ("image", "caption"), 1024),
    (template_msg, ("template", "name"), 512),
]


@pytest.mark.parametrize("make,path,most", STRING_LIMITS,
                         ids=[f"{m.__name__}:{path_text(p)}" for m, p, _ in STRING_LIMITS])
def test_a_string_at_its_limit_passes_and_one_more_character_is_refused(make, path, most):
    at_limit = put(make(), path, "x" * (most - 1) + "é")  # characters, not bytes
    if path != ("template", "name"):  # a name that long is not an approved template
        assert violations(at_limit, TEMPLATES) == []
    over = violations(put(make(), path, "x" * (most + 1)), TEMPLATES)
    assert [v.code for v in over if v.code != NO_TEMPLATE] == [NOT_VALID]
    assert over[0].rule == f"{path_text(path)}: at most {most} characters (got {most + 1})"
    assert over[0].title == "Parameter value is not valid"


REQUIRED_TEXT = [  # (message, path) that must not be empty
    (text_msg, ("text", "body")), (buttons_msg, B + (0, "reply", "title")),
    (buttons_msg, B + (0, "reply", "id")), (list_msg, L + (0, "rows", 0, "title")),
    (list_msg, L + (0, "rows", 0, "id")), (list_msg, I + ("action", "button")),
    (cta_msg, P + ("display_text",)), (flow_msg, P + ("flow_cta",)),
    (buttons_msg, I + ("body", "text")), (buttons_msg, I + ("header", "text")),
]


@pytest.mark.parametrize("make,path", REQUIRED_TEXT,
                         ids=[f"{m.__name__}:{path_text(p)}" for m, p in REQUIRED_TEXT])
def test_a_required_text_is_refused_empty_missing_or_not_a_string(make, path):
    empty = violations(put(make(), path, ""), TEMPLATES)
    assert [(v.code, v.rule) for v in empty] == [
        (NOT_VALID, f"{path_text(path)}: at least 1 character (got 0)")]
    missing = make()
    target = missing
    for part in path[:-1]:
        target = target[part]
    del target[path[-1]]
    assert [(v.code, v.rule) for v in violations(missing, TEMPLATES)] == [
        (MISSING, f"{path_text(path)}: required")]
    wrong = violations(put(make(), path, 42), TEMPLATES)
    assert [(v.code, v.rule) for v in wrong] == [
        (INVALID, f"{path_text(path)}: must be a string (got a number)")]


# --------------------------------------------------------------------- count limits
COUNT_LIMITS = [  # (builder of n items, path, fewest, most, unit)
    (lambda n: buttons_msg(n), "interactive.action.buttons", 1, 3, "button"),
    (lambda n: list_msg(sections=n, rows=1), "interactive.action.sections", 1, 10, "section"),
    (lambda n: list_msg(rows=n), "interactive.action.sections[0].rows", 1, 10, "row"),
]


@pytest.mark.parametrize("make,path,fewest,most,unit", COUNT_LIMITS,
                         ids=[c[1] for c in COUNT_LIMITS])
def test_a_list_at_its_limits_passes_and_one_past_either_end_is_refused(make, path, fewest, most,
                                                                        unit):
    assert violations(make(fewest), TEMPLATES) == []
    assert violations(make(most), TEMPLATES) == []
    over = violations(make(most + 1), TEMPLATES)
    assert {v.code for v in over} == {NOT_VALID}
    assert any(v.rule.startswith("interactive.action.") and f"at most {most}" in v.rule
               and f"(got {most + 1})" in v.rule for v in over), over
    under = violations(make(fewest - 1), TEMPLATES)
    assert [(v.code, v.rule) for v in under] == [
        (NOT_VALID, f"{path}: at least {fewest} {unit} (got 0)")]


def test_a_list_holds_ten_rows_in_total_across_its_sections():
    assert violations(list_msg(sections=2, rows=5), TEMPLATES) == []
    over = violations(list_msg(sections=2, rows=6), TEMPLATES)
    assert [(v.code, v.rule) for v in over] == [
        (NOT_VALID, "interactive.action.sections: at most 10 rows in total (got 12)")]


# --------------------------------------------------------------------- other rules
def rules(body: Any, templates: Any = None) -> list[tuple[int, str]]:
    return [(v.code, v.rule) for v in violations(body, TEMPLATES if templates is None
                                                 else templates)]


OTHER_RULES = [  # (id, broken body, expected code, the rule begins with)
    ("no to", {k: v for k, v in text_msg().items() if k != "to"}, MISSING, "to: required"),
    ("empty to", put(text_msg(), ("to",), ""), NOT_VALID, "to: at least 1 character"),
    ("no messaging_product", {k: v for k, v in text_msg().items() if k != "messaging_product"},
     INVALID, "messaging_product: required"),
    ("messaging_product sms", put(text_msg(), ("messaging_product",), "sms"), INVALID,
     "messaging_product: required, must be 'whatsapp' (got 'sms')"),
    ("recipient_type", put(text_msg(), ("recipient_type",), "broadcast"), NOT_VALID,
     "recipient_type: must be"),
    ("unknown type", put(text_msg(), ("type",), "hologram"), NOT_VALID, "type: must be one of"),
    ("type not a string", put(text_msg(), ("type",), ["text"]), INVALID, "type: must be a string"),
    ("type object missing", put(text_msg(), ("type",), "image"), MISSING, "image: required"),
    ("type object not an object", put(text_msg(), ("text",), "Hello"), INVALID,
     "text: must be an object (got a string)"),
    ("preview_url not a boolean", put(text_msg(), ("text", "preview_url"), "yes"), INVALID,
     "text.preview_url: must be a boolean"),
    ("unknown interactive type", put(buttons_msg(), I + ("type",), "carousel"), NOT_VALID,
     "interactive.type: must be"),
    ("button not reply", put(buttons_msg(), B + (0, "type"), "url"), NOT_VALID,
     "interactive.action.buttons[0].type: must be 'reply'"),
    ("duplicate button titles", put(buttons_msg(), B + (1, "reply", "title"), "B0"), NOT_VALID,
     "interactive.action.buttons[1].reply.title: must be unique ('B0' repeats "
     "interactive.action.buttons[0].reply.title)"),
    ("duplicate button ids", put(buttons_msg(), B + (1, "reply", "id"), "/b0"), NOT_VALID,
     "interactive.action.buttons[1].reply.id: must be unique"),
    ("interactive body missing", put(buttons_msg(), I + ("body",), None), MISSING,
     "interactive.body: required"),
    ("button is no object", put(buttons_msg(), B + (0,), "Yes"), INVALID,
     "interactive.action.buttons[0]: must be an object (got a string)"),
    ("list media header", put(list_msg(), I + ("header",), {"type": "image", "image": {
        "id": "1"}}), NOT_VALID, "interactive.header.type: must be 'text'"),
    ("second section untitled", put(list_msg(sections=2, rows=1), L + (1, "title"), None),
     MISSING, "interactive.action.sections[1].title: required"),
    ("duplicate row ids", put(list_msg(rows=2), L + (0, "rows", 1, "id"), "/r0-0"), NOT_VALID,
     "interactive.action.sections[0].rows[1].id: must be unique"),
    ("cta name", put(cta_msg(), I + ("action", "name"), "open_url"), NOT_VALID,
     "interactive.action.name: must be 'cta_url'"),
    ("cta url not http", put(cta_msg(), P + ("url",), "javascript:alert(1)"), NOT_VALID,
     "interactive.action.parameters.url: must be an http(s) URL"),
    ("cta url missing", put(cta_msg(), P + ("url",), None), MISSING,
     "interactive.action.parameters.url: required"),
    ("flow name", put(flow_msg(), I + ("action", "name"), "cta_url"), NOT_VALID,
     "interactive.action.name: must be 'flow'"),
    ("flow version", flow_msg(flow_message_version="2"), NOT_VALID,
     "interactive.action.parameters.flow_message_version: must be '3' (got '2')"),
    ("flow version missing", flow_msg(flow_message_version=None), MISSING,
     "interactive.action.parameters.flow_message_version: required"),
    ("flow neither id nor name", flow_msg(flow_id=None), MISSING,
     "interactive.action.parameters: flow_id or flow_name is required"),
    ("flow id and name", flow_msg(flow_name="booking"), NOT_VALID,
     "interactive.action.parameters: give flow_id or flow_name, not both"),
    ("flow action", flow_msg(flow_action="open"), NOT_VALID,
     "interactive.action.parameters.flow_action: must be 'navigate' or 'data_exchange'"),
    ("flow mode", flow_msg(mode="live"), NOT_VALID, "interactive.action.parameters.mode"),
    ("flow payload with data_exchange", flow_msg(flow_action_payload={"screen": "A"}),
     NOT_VALID, "interactive.action.parameters.flow_action_payload: only with flow_action "
     "'navigate'"),
    ("flow navigate without payload", flow_msg(flow_action="navigate"), MISSING,
     "interactive.action.parameters.flow_action_payload: required"),
    ("flow navigate by default", flow_msg(flow_action=None), MISSING,
     "interactive.action.parameters.flow_action_payload: required"),
    ("flow navigate without screen", flow_msg(flow_action="navigate",
                                              flow_action_payload={"data": {"a": 1}}),
     MISSING, "interactive.action.parameters.flow_action_payload.screen: required"),
    ("flow navigate empty data", flow_msg(flow_action="navigate", flow_action_payload={
        "screen": "A", "data": {}}), NOT_VALID,
     "interactive.action.parameters.flow_action_payload.data"),
    ("document id and link", put(document_msg(), ("document", "id"), "123"), NOT_VALID,
     "document: give id or link, not both"),
    ("document neither id nor link", put(document_msg(), ("document", "link"), None), MISSING,
     "document: id or link is required"),
    ("document link not http", put(document_msg(), ("document", "link"), "file:///etc/passwd"),
     NOT_VALID, "document.link: must be an http(s) URL"),
    ("document filename empty", put(document_msg(), ("document", "filename"), ""), NOT_VALID,
     "document.filename: at least 1 character"),
    ("image neither id nor link", put(image_msg(), ("image", "id"), None), MISSING,
     "image: id or link is required"),
    ("audio caption", envelope({"type": "audio", "audio": {"id": "1", "caption": "x"}}),
     INVALID, "audio.caption"),
    ("latitude", envelope({"type": "location", "location": {"latitude": 90.5, "longitude": 0}}),
     NOT_VALID, "location.latitude: a number from -90 to 90 (got 90.5)"),
    ("longitude missing", envelope({"type": "location", "location": {"latitude": 1}}), MISSING,
     "location.longitude: required"),
    ("latitude not a number", envelope({"type": "location", "location": {
        "latitude": "north", "longitude": 0}}), NOT_VALID, "location.latitude"),
    ("reaction without message", envelope({"type": "reaction", "reaction": {"emoji": "👍"}}),
     MISSING, "reaction.message_id: required"),
    ("no contacts", envelope({"type": "contacts", "contacts": []}), NOT_VALID,
     "contacts: at least 1 contact (got 0)"),
    ("template name missing", put(template_msg(), ("template", "name"), None), MISSING,
     "template.name: required"),
    ("template language missing", put(template_msg(), ("template", "language"), None), MISSING,
     "template.language: required"),
    ("template not approved", template_msg("booking_promo"), NO_TEMPLATE,
     "template.name: no approved template 'booking_promo'"),
    ("template not in that language", template_msg("booking_follow_up", "fr"), NO_TEMPLATE,
     "template.language.code: booking_follow_up does not exist in 'fr' (approved: en, id)"),
    ("template body parameters missing", template_msg(), COUNT,
     "template.components[body].parameters: booking_reminder (en) body takes 2 (got 0)"),
    ("template body parameter short", template_msg(components=[body_params(1)]), COUNT,
     "template.components[body].parameters: booking_reminder (en) body takes 2 (got 1)"),
    ("template body parameter extra", template_msg(components=[body_params(3)]), COUNT,
     "template.components[body].parameters: booking_reminder (en) body takes 2 (got 3)"),
    ("parameter-less template given one", template_msg(
        "booking_follow_up", components=[body_params(1)]), COUNT,
     "template.components[body].parameters: booking_follow_up (en) body takes 0 (got 1)"),
    ("header parameter for a fixed header", template_msg(components=[
        body_params(2), {"type": "header", "parameters": [{"type": "text", "text": "x"}]}]),
     COUNT, "template.components[header].parameters: booking_reminder (en) header takes 0"),
    ("empty text parameter", template_msg(components=[
        {"type": "body", "parameters": [{"type": "text", "text": ""}, {"type": "text",
                                                                        "text": "x"}]}]),
     NOT_VALID, "template.components[0].parameters[0].text: at least 1 character"),
    ("quick reply index out of range", template_msg(components=[body_params(2),
                                                                quick_reply("3")]),
     NOT_VALID, "template.components[1].index: the template has 3 buttons (got '3')"),
    ("quick reply index not a number", template_msg(components=[body_params(2),
                                                                quick_reply("first")]),
     NOT_VALID, "template.components[1].index: the template has 3 buttons"),
    ("quick reply as url", template_msg(components=[body_params(2), quick_reply("0", "url")]),
     NOT_VALID, "template.components[1].sub_type: button 0 is QUICK_REPLY (got 'url')"),
    ("quick reply twice", template_msg(components=[body_params(2), quick_reply("1"),
                                                   quick_reply(1)]),
     NOT_VALID, "template.components[2]: button 1 is given twice"),
    ("unknown component", template_msg(components=[body_params(2), {"type": "sidebar"}]),
     NOT_VALID, "template.components[1].type: must be"),
]


@pytest.mark.parametrize("body,code,rule", [c[1:] for c in OTHER_RULES],
                         ids=[c[0] for c in OTHER_RULES])
def test_each_broken_rule_is_named_with_meta_s_code(body, code, rule):
    found = rules(body)
    assert found, "accepted"
    assert found[0][0] == code and found[0][1].startswith(rule), found


ALSO_ACCEPTED = [
    ("type defaults to text", {k: v for k, v in text_msg().items() if k != "type"}),
    ("one untitled section", put(list_msg(), L + (0, "title"), None)),
    ("row without description", put(list_msg(), L + (0, "rows", 0, "description"), None)),
    ("buttons without header or footer", put(put(buttons_msg(), I + ("header",), None),
                                             I + ("footer",), None)),
    ("media header on buttons", put(buttons_msg(), I + ("header",), {
        "type": "image", "image": {"link": "https://example.com/spa.jpg"}})),
    ("flow by name", flow_msg(flow_id=None, flow_name="booking")),
    ("flow cta with an emoji", flow_msg(flow_cta="Book now 💆")),
    ("flow without token", flow_msg(flow_token=None)),
    ("flow navigate", flow_msg(flow_action="navigate", mode="draft",
                               flow_action_payload={"screen": "BOOK", "data": {"day": "1"}})),
    ("document by id without filename", envelope({"type": "document", "document": {"id": "9"}})),
    ("image by http link", envelope({"type": "image", "image": {"link": "http://x.test/a.png"}})),
    ("video", envelope({"type": "video", "video": {"id": "1", "caption": "How to find us"}})),
    ("location", envelope({"type": "location", "location": {
        "latitude": -8.65, "longitude": "115.13", "name": "Bali Spa", "address": "Jl. Raya"}})),
    ("reaction", envelope({"type": "reaction", "reaction": {"message_id": "wamid.1",
                                                            "emoji": "👍"}})),
    ("reaction removed", envelope({"type": "reaction", "reaction": {"message_id": "wamid.1",
                                                                    "emoji": ""}})),
    ("contacts", envelope({"type": "contacts", "contacts": [{"name": {
        "formatted_name": "Bali Spa"}, "phones": [{"phone": "+62 811"}]}]})),
    ("template without components", template_msg("booking_follow_up")),
    ("template with empty components", template_msg("booking_follow_up", "id", [])),
    ("template with quick reply payloads", template_msg(components=[
        body_params(2), quick_reply("0"), quick_reply(1)])),
    ("template in Indonesian", template_msg("booking_reminder", "id", [body_params(2)])),
    ("template in capitals", template_msg(components=[{**body_params(2), "type": "BODY"}])),
]


@pytest.mark.parametrize("body", [c[1] for c in ALSO_ACCEPTED], ids=[c[0] for c in ALSO_ACCEPTED])
def test_what_meta_allows_is_accepted(body):
    assert rules(body) == []


def test_header_and_url_button_variables_are_counted():
    templates = {"visit": {"en": {"header": "Hi {{1}}", "body": "See {{1}} at {{2}} ({{1}})",
                                  "buttons": [{"type": "URL", "text": "Open",
                                               "url": "https://spa.example/b/{{1}}"},
                                              {"type": "QUICK_REPLY", "text": "OK"}]}}}
    header = {"type": "header", "parameters": [{"type": "text", "text": "Ayu"}]}
    url = {"type": "button", "sub_type": "url", "index": "0",
           "parameters": [{"type": "text", "text": "BK1"}]}
    full = template_msg("visit", components=[header, body_params(2), url])
    assert rules(full, templates) == []
    assert rules(template_msg("visit", components=[body_params(2), url]), templates) == [
        (COUNT, "template.components[header].parameters: visit (en) header takes 1 (got 0)")]
    assert rules(template_msg("visit", components=[header, body_params(2)]), templates) == [
        (COUNT, "template.components[button 0].parameters: visit (en) button 0 takes 1 (got 0)")]


# --------------------------------------------------------------------- read receipts
def test_read_receipts_are_told_apart_and_need_the_message_id():
    receipt = {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.in1"}
    typing = {**receipt, "typing_indicator": {"type": "text"}}
    assert is_read_receipt(receipt) and is_read_receipt(typing)
    assert not any(is_read_receipt(b) for b in (text_msg(), None, [], "read",
                                                {"status": "delivered", "message_id": "w"},
                                                {"status": "read", "type": "text"}))
    assert rules(receipt) == [] and rules(typing) == []
    assert rules({"messaging_product": "whatsapp", "status": "read"}) == [
        (MISSING, "message_id: required")]
    assert rules({**typing, "typing_indicator": {"type": "audio"}}) == [
        (NOT_VALID, "typing_indicator.type: must be 'text' (got 'audio')")]
    assert rules({**receipt, "status": "delivered"})[0][1].startswith("status: must be 'read'")
    assert rules({"status": "read", "message_id": "w"})[0][0] == INVALID  # messaging_product


# --------------------------------------------------------------------- the bot's payloads
def choices(n: int, title: str = "Option") -> list[render.Choice]:
    return [render.Choice(f"{title} {i}", present.payload("choose_slot", slot_time=f"T{i}"))
            for i in range(n)]


def rendered() -> list[tuple[str, dict]]:
    """What the product's renderer sends, in the shapes the actions ask for."""
    now = datetime(2025, 10, 24, 9, 0, tzinfo=timezone.utc)
    payment = Payment(id="p1", code="BK-7Q2X", amount=350000, currency="IDR", state="pending",
                      invoice_id="inv1", invoice_url="https://checkout.xendit.co/web/inv1",
                      expires_at=now + timedelta(minutes=30), outcome=None, receipt_token="r")
    pay = present.pay_messages(payment, ZoneInfo("Asia/Makassar"), 30, texts("en"), whatsapp=True)
    long_titles = [render.Choice(f"A very long treatment name, ninety minutes {i}", f"/x{i}")
                   for i in range(3)]
    cases: list[tuple[str, list[dict]]] = [
        ("text", render.text_message("Hello! How can I help?")),
        ("long text", render.text_message(("A fairly long sentence. " * 40 + "\n\n") * 12)),
        ("menu buttons", render.choices_message("What would you like to do?", [
            render.Choice(b["title"], b["payload"]) for b in present.menu_buttons(texts("en"))])),
        *((f"main menu {lang}", render.choices_message("?", [
            render.Choice(b["title"], b["payload"]) for b in present.main_menu(texts(lang))],
            tx=texts(lang))) for lang in ("en", "id")),
        *((f"day buttons {lang}", render.choices_message("Which day?", [
            render.Choice(b["title"], b["payload"]) for b in present.day_buttons(
                now.date(), now.date() + timedelta(days=1), texts(lang))])) for lang in ("en", "id")),
        ("long button titles", render.choices_message("Pick", long_titles)),
        ("long body buttons", render.choices_message("word " * 600, choices(2))),
        ("list", render.choices_message("Which time?", choices(10, "A long treatment name"))),
        ("paged list 0", render.choices_message("Which time?", choices(25), "key", 0)),
        ("paged list 2", render.choices_message("Which time?", choices(25), "key", 2)),
        ("pay link", render.custom_message(pay[0]["json_message"])),
        ("booking flow", render.custom_message({"whatsapp": {
            "type": "flow", "flow_id": "1234567890", "flow_token": "c1:b1:abc", "cta":
                "Booking form", "text": "Or pick the treatment, day and time in our form:"}})),
        ("receipt", render.custom_message({"whatsapp": {
            "type": "document", "link": "https://spa.example/receipts/abc.pdf",
            "filename": "BK-7Q2X.pdf", "caption": "Confirmation and invoice BK-7Q2X"}})),
        ("image", render.custom_message({"type": "image", "link": "https://spa.example/m.jpg"})),
        ("template", render.custom_message({"type": "template", "name": "booking_follow_up"})),
        ("template with parameters", render.custom_message({
            "type": "template", "name": "booking_reminder", "language": "id",
            "components": [body_params(2)]})),
    ]
    return [(f"{name} #{i}", envelope(m)) for name, messages in cases
            for i, m in enumerate(messages)]


@pytest.mark.parametrize("body", [b for _, b in rendered()], ids=[n for n, _ in rendered()])
def test_the_bot_s_real_payloads_are_accepted(body):
    assert rules(body) == []


def test_the_template_sent_outside_the_window_is_approved(monkeypatch):
    for name in ("WHATSAPP_FALLBACK_TEMPLATE", "WHATSAPP_FALLBACK_TEMPLATE_LANGUAGE"):
        monkeypatch.delenv(name, raising=False)
    config = WhatsAppConfig.from_env()
    fallback = {"type": "template", "template": {  # as output.send_template_instead sends it
        "name": config.fallback_template, "language": {"code": config.fallback_language}}}
    assert rules(envelope(fallback)) == []
    assert rules(envelope(put(fallback, ("template", "language", "code"), "id"))) == []


def test_the_approved_templates_are_well_formed():
    for name, translations in TEMPLATES.items():
        for code, template in translations.items():
            assert set(template) <= {"body", "header", "footer", "buttons"}, (name, code)
            assert 0 < len(template["body"]) <= 1024 and len(template.get("header", "")) <= 60
            assert len(template.get("footer", "")) <= 60
            assert all(b["type"] in ("QUICK_REPLY", "URL") and 0 < len(b["text"]) <= 25
                       for b in template.get("buttons", []))
    assert "{{2}}" in TEMPLATES["booking_reminder"]["en"]["body"]


def test_violations_are_frozen_and_titled_like_graph():
    assert TITLES == {100: "Invalid parameter", 131008: "Required parameter is missing",
                      131009: "Parameter value is not valid",
                      132000: "Number of parameters does not match the expected number of params",
                      132001: "Template name does not exist in the translation"}
    found = violations(put(buttons_msg(), B + (0, "reply", "title"), "x" * 27), TEMPLATES)
    assert found == [Violation(131009, "Parameter value is not valid",
                               "interactive.action.buttons[0].reply.title: at most 20 "
                               "characters (got 27)")]
    with pytest.raises(dataclasses.FrozenInstanceError):
        found[0].code = 100  # type: ignore[misc]


# --------------------------------------------------------------------- never raises
KEYS = st.sampled_from(["messaging_product", "to", "type", "text", "body", "interactive",
                        "action", "buttons", "reply", "id", "title", "sections", "rows",
                        "parameters", "name", "template", "language", "code", "components",
                        "index", "sub_type", "status", "message_id", "typing_indicator",
                        "header", "footer", "link", "caption", "flow_action",
                        "flow_action_payload", "latitude", "location", "contacts", "url",
                        "display_text", "flow_id", "flow_name", "button", "image", "data"])
SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30) | \
    st.sampled_from(["whatsapp", "text", "interactive", "button", "list", "cta_url", "flow",
                     "template", "reply", "read", "navigate", "data_exchange", "3", "0", "url",
                     "quick_reply", "body", "header", "booking_reminder", "en", "image",
                     "document", "location", "reaction", "contacts", "https://x.test"])
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(KEYS | st.text(max_size=8), inner, max_size=6),
                    max_leaves=40)


def mutate(body: Any, data: st.DataObject) -> Any:
    """``body`` with one nested value (picked by ``data``) replaced by arbitrary JSON."""
    if isinstance(body, dict) and body and data.draw(st.booleans()):
        key = data.draw(st.sampled_from(sorted(body)))
        return {**body, key: mutate(body[key], data)}
    if isinstance(body, list) and body and data.draw(st.booleans()):
        i = data.draw(st.integers(0, len(body) - 1))
        return body[:i] + [mutate(body[i], data)] + body[i + 1:]
    return data.draw(JSON)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=JSON, templates=st.one_of(st.just(TEMPLATES), JSON))
def test_no_json_value_makes_it_raise(body, templates):
    found = violations(body, templates)
    assert isinstance(found, list) and all(v.code in TITLES and v.rule for v in found)
    is_read_receipt(body)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_no_broken_variant_of_a_valid_message_makes_it_raise(data):
    valid = data.draw(st.sampled_from(VALID + [lambda: rendered()[0][1]]))()
    found = violations(mutate(valid, data), TEMPLATES)
    assert all(isinstance(v, Violation) and v.title == TITLES[v.code] for v in found)
