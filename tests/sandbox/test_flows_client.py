"""The WhatsApp client's side of Flows over real HTTP (encrypted, signed exchanges with the
product's endpoint, completion as an nfm_reply), fuzzing of every JSON route, and the
regressions of the bugs the first review found."""
from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import HealthCheck, given, settings, strategies as st

from sandbox.app import create_app
from sandbox.config import SandboxConfig
from tests.sandbox.app_runner import RunningApp
from tools.mongod import free_port
from tests.sandbox.api_support import (  # noqa: F401 (fixtures are used by name)
    AUTH, FLOW_ID, FLOW_JSON, FLOWS, IMAGE, WEBHOOK, Product, SALON, SPA, SPA_DIGITS,
    bot_offers, bot_says, bot_text, chat, config, data_url, exchange, fast_retries,
    flow_offer, graph, history, new_customer, png, private_key, product, sandbox, say, send)


# ====================================================================== Flows client
def test_the_flow_json_is_served_under_its_id_only(sandbox: RunningApp) -> None:
    answer = requests.get(f"{sandbox.url}/api/flows/{FLOW_ID}", timeout=5)
    assert answer.status_code == 200
    assert answer.json() == json.loads(FLOW_JSON.read_text(encoding="utf-8"))
    for other in ("999", FLOW_ID + "0", "exchange"):
        assert requests.get(f"{sandbox.url}/api/flows/{other}", timeout=5).status_code == 404
    config = requests.get(f"{sandbox.url}/api/config", timeout=5).json()
    assert config["flow_id"] == FLOW_ID
    assert [b["phone_number_id"] for b in config["businesses"]] == \
        [SPA.phone_number_id, SALON.phone_number_id]


def test_init_is_encrypted_and_signed_and_the_screen_comes_back(sandbox: RunningApp,
                                                               product: Product) -> None:
    customer = new_customer()
    token = f"flow-token-{customer}"
    screen = {"screen": "SERVICE", "data": {"services": [{"id": "balinese", "title": "Bali"}]}}
    product.flows_answer = lambda payload: (200, screen)
    answer = exchange(sandbox, customer, flow_token=token, screen="IGNORED", data={"x": 1})
    assert answer.status_code == 200, answer.text
    assert answer.json() == screen
    [hit] = product.find(product.flows(token))
    assert hit.signed and hit.headers["content-type"] == "application/json"
    assert set(hit.body) == {"encrypted_flow_data", "encrypted_aes_key", "initial_vector"}
    assert hit.key_sizes == (16, 16)  # AES-128 key, 16-byte IV
    assert hit.payload == {"version": "3.0", "action": "INIT", "flow_token": token}
    assert token.encode() not in hit.raw  # not in clear
    assert [m["direction"] for m in history(sandbox, customer)] == ["out"]  # a screen is no message


def test_a_success_screen_completes_the_flow_with_an_nfm_reply(sandbox: RunningApp,
                                                              product: Product) -> None:
    customer = new_customer()
    token = f"flow-token-{customer}"
    params = {"flow_token": token, "service": "balinese", "date": "2026-11-24", "time": "15:00"}
    success = {"screen": "SUCCESS", "data": {"extension_message_response": {"params": params}}}
    product.flows_answer = lambda payload: (200, success) if payload["action"] == \
        "data_exchange" else (200, {"screen": "DATE", "data": {}})
    back = exchange(sandbox, customer, flow_token=token, action="BACK", screen="DATE")
    assert back.json() == {"screen": "DATE", "data": {}}
    answer = exchange(sandbox, customer, flow_token=token, action="data_exchange",
                      screen="SUMMARY", data={"service": "balinese"}, name="Ayu")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {**success, "completed": True}
    requests_ = [h.payload for h in product.find(product.flows(token))]
    assert requests_ == [
        {"version": "3.0", "action": "BACK", "flow_token": token, "screen": "DATE", "data": {}},
        {"version": "3.0", "action": "data_exchange", "flow_token": token,
         "screen": "SUMMARY", "data": {"service": "balinese"}}]
    [hit] = product.wait(product.from_customer(customer))
    assert hit.signed
    assert hit.value["contacts"] == [{"profile": {"name": "Ayu"}, "wa_id": customer}]
    [sent] = hit.value["messages"]
    assert sent["type"] == "interactive"
    reply = sent["interactive"]
    assert reply["type"] == "nfm_reply" and reply["nfm_reply"]["name"] == "flow"
    assert json.loads(reply["nfm_reply"]["response_json"]) == params
    assert sent["context"] == {"from": SPA_DIGITS, "id": history(sandbox, customer)[0]["id"]}
    kept = history(sandbox, customer)[-1]  # after the bot's Flow message
    assert kept["id"] == sent["id"] and kept["direction"] == "in"


def test_a_427_comes_back_with_the_endpoints_error_message(sandbox: RunningApp,
                                                          product: Product) -> None:
    customer = new_customer()
    product.flows_answer = lambda payload: (427, {"error_msg": "This booking has expired"})
    answer = exchange(sandbox, customer)
    assert answer.json() == {"status": 427, "error": "This booking has expired"}
    assert len(product.find(product.flows("token-" + customer))) == 1
    product.flows_answer = lambda payload: (500, b"boom")
    assert exchange(sandbox, customer).json() == {"status": 500, "error": "boom"}


def test_a_421_is_retried_once(sandbox: RunningApp, product: Product) -> None:
    customer = new_customer()
    token = "token-" + customer
    answers = iter([421])
    product.flows_answer = lambda payload: (next(answers, 200), {"screen": "SERVICE",
                                                                "data": {}})
    answer = exchange(sandbox, customer)
    assert answer.json() == {"screen": "SERVICE", "data": {}}
    assert [h.answered for h in product.find(product.flows(token))] == [421, 200]
    product.flows_answer = lambda payload: (421, {})
    again = exchange(sandbox, customer)
    assert again.json()["status"] == 421
    assert [h.answered for h in product.find(product.flows(token))] == [421, 200, 421, 421]


@pytest.mark.parametrize("answer", [b"abc", [1, 2, 3]], ids=["not base64", "sealed array"])
def test_an_answer_that_cannot_be_opened_is_a_502(sandbox: RunningApp, product: Product,
                                                  answer: Any) -> None:
    product.flows_answer = lambda payload: (200, answer)
    reply = exchange(sandbox, new_customer())
    assert reply.status_code == 200
    assert reply.json()["status"] == 502


BAD_EXCHANGES = {
    "no flow message": {"message_id": None},
    "an unknown message": {"message_id": "wamid.UNKNOWN"},
    "message id as a number": {"message_id": 42},
    "lower-case init": {"action": "init"},
    "ping": {"action": "ping"},
    "no action": {"action": None},
    "unknown business": {"business": "999999"},
    "no business": {"business": None},
    "short customer": {"customer": "1234567"},
    "customer with letters": {"customer": "62812345678a"},
    "no customer": {"customer": None},
}


@pytest.mark.parametrize("fields", list(BAD_EXCHANGES.values()), ids=list(BAD_EXCHANGES))
def test_a_bad_exchange_is_refused_without_calling_the_endpoint(
        sandbox: RunningApp, product: Product, fields: dict) -> None:
    customer = fields.pop("customer", None) if "customer" in fields else new_customer()
    fields = dict(fields)
    if customer and customer.isdigit() and len(customer) >= 8 and "message_id" not in fields:
        fields["message_id"] = bot_offers(sandbox, customer, flow_offer())
    flows_before = len(product.find(lambda hit: hit.path == FLOWS))
    answer = exchange(sandbox, customer or "", **fields)
    assert answer.status_code == 400
    assert "error" in answer.json()
    assert len(product.find(lambda hit: hit.path == FLOWS)) == flows_before


def test_an_exchange_body_that_is_not_a_json_object_is_refused(sandbox: RunningApp) -> None:
    for raw in (b"[]", b"null", b"nope"):
        answer = requests.post(f"{sandbox.url}/api/flows/exchange", data=raw, timeout=5,
                               headers={"content-type": "application/json"})
        assert answer.status_code == 400


# ====================================================================== fuzz
SCALARS = st.none() | st.booleans() | st.integers() | st.text(max_size=12) \
    | st.floats(allow_nan=False, allow_infinity=False)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12)
TEXTISH = st.text(max_size=30) | JSON
DATA_URLS = st.builds(lambda mime, data: f"data:{mime};base64,{data}",
                      st.sampled_from(["image/png", "image/jpeg", "image/", "text/plain"]),
                      st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode())
                      | st.text(max_size=12)) | TEXTISH
CONTENT = {
    "text": st.fixed_dictionaries({}, optional={"body": TEXTISH}),
    "interactive": st.fixed_dictionaries({}, optional={
        # scalars only: an array or object here is a known 500 (see the bug tests below)
        "type": st.sampled_from(["button_reply", "list_reply", "nfm_reply", "button"])
        | SCALARS,
        "button_reply": JSON, "list_reply": JSON, "nfm_reply": JSON}),
    "button": st.dictionaries(st.sampled_from(["text", "payload"]), TEXTISH),
    "location": st.dictionaries(st.sampled_from(["latitude", "longitude", "name"]), JSON),
    "image": st.fixed_dictionaries({}, optional={"data_url": DATA_URLS, "caption": TEXTISH}),
}
CUSTOMER_MESSAGE = st.sampled_from(sorted(CONTENT) + ["sticker", "", "TEXT"]).flatmap(
    lambda kind: st.fixed_dictionaries({"type": st.just(kind)}, optional={
        kind: CONTENT.get(kind, JSON) | JSON,
        "context": st.fixed_dictionaries({}, optional={"id": TEXTISH}) | JSON}))
SEND_BODIES = JSON | st.fixed_dictionaries({"message": CUSTOMER_MESSAGE | JSON},
                                           optional={"name": TEXTISH})
CUSTOMERS = st.just("6281234500001") | st.text(
    alphabet="0123456789+-a ", min_size=1, max_size=17)
FUZZ = settings(max_examples=150, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


def assert_no_5xx(answer: requests.Response, body: Any) -> None:
    assert 200 <= answer.status_code < 500, (answer.status_code, body, answer.text[:300])


@FUZZ
@given(customer=CUSTOMERS, body=SEND_BODIES)
def test_fuzz_phone_send_never_fails_with_5xx(sandbox: RunningApp, customer: str,
                                              body: Any) -> None:
    url = f"{sandbox.url}/api/chats/{SPA.phone_number_id}/{quote(customer, safe='')}/send"
    assert_no_5xx(requests.post(url, json=body, timeout=10), body)


EXCHANGE_BODIES = JSON | st.fixed_dictionaries(
    {"business": st.sampled_from([SPA.phone_number_id, int(SPA.phone_number_id)]) | JSON,
     "customer": st.just("6281234500002") | JSON,
     "flow_id": st.just(FLOW_ID) | JSON,
     "flow_token": st.sampled_from(["tok", "SUCCESS-tok"]) | TEXTISH,
     # scalars only: an array or object here is a known 500 (see the bug tests below)
     "action": st.sampled_from(["INIT", "data_exchange", "BACK", "ping"]) | SCALARS},
    optional={"screen": TEXTISH, "data": JSON, "name": TEXTISH, "message_id": TEXTISH})


def fuzz_flows_answer(payload: dict[str, Any]) -> tuple[int, Any]:
    """A well-behaved endpoint: SUCCESS for tokens starting so, else the next screen."""
    if str(payload.get("flow_token", "")).startswith("SUCCESS"):
        return 200, {"screen": "SUCCESS", "data": {"extension_message_response": {
            "params": {"flow_token": payload["flow_token"], **payload.get("data", {})}}}}
    return 200, {"screen": "DATE", "data": {"echo": payload.get("data")}}


@FUZZ
@given(body=EXCHANGE_BODIES)
def test_fuzz_flows_exchange_never_fails_with_5xx(sandbox: RunningApp, product: Product,
                                                  body: Any) -> None:
    product.flows_answer = fuzz_flows_answer
    assert_no_5xx(requests.post(f"{sandbox.url}/api/flows/exchange", json=body, timeout=10),
                  body)


GRAPH_TYPES = ["text", "image", "interactive", "template", "location", "reaction",
               "contacts", "audio", "document", "sticker", "video", "unknown"]
GRAPH_BODIES = JSON | st.sampled_from(GRAPH_TYPES).flatmap(
    lambda kind: st.fixed_dictionaries(
        {"messaging_product": st.just("whatsapp") | JSON,
         "to": st.just("6281234500003") | JSON, "type": st.just(kind) | JSON},
        optional={kind: JSON, "recipient_type": TEXTISH, "context": JSON})) | \
    st.fixed_dictionaries({"messaging_product": st.just("whatsapp"),
                           "status": st.just("read") | JSON},
                          optional={"message_id": TEXTISH, "typing_indicator": JSON})


@FUZZ
@given(body=GRAPH_BODIES)
def test_fuzz_graph_messages_never_fails_with_5xx(sandbox: RunningApp, body: Any) -> None:
    assert_no_5xx(graph(sandbox, body), body)


def test_the_app_still_works_after_the_fuzzing(sandbox: RunningApp, product: Product) -> None:
    assert requests.get(f"{sandbox.url}/health", timeout=5).json()["status"] == "ok"
    customer = new_customer()
    record = say(sandbox, customer, "still there?")
    product.wait(product.message(record["id"]))
    wamid = bot_says(sandbox, customer)
    product.wait(product.status(wamid, "delivered"))
    assert exchange(sandbox, customer).json() == {"screen": "SERVICE", "data": {"echo": "INIT"}}


# ====================================================================== known bugs
JSON_ROUTES = {"graph": "/v25.0/%s/messages" % SPA.phone_number_id,
               "phone send": "/api/chats/%s/6281234500009/send" % SPA.phone_number_id,
               "phone read": "/api/chats/%s/6281234500009/read" % SPA.phone_number_id,
               "flows exchange": "/api/flows/exchange"}


@pytest.mark.parametrize("route", list(JSON_ROUTES.values()), ids=list(JSON_ROUTES))
def test_an_unknown_charset_is_a_400(sandbox: RunningApp, route: str) -> None:
    answer = requests.post(sandbox.url + route, data=b"{}", timeout=5, headers={
        **AUTH, "content-type": "application/json; charset=x-no-such-codec"})
    assert answer.status_code == 400


@pytest.mark.parametrize("route", list(JSON_ROUTES.values()), ids=list(JSON_ROUTES))
def test_deeply_nested_json_is_a_400(sandbox: RunningApp, route: str) -> None:
    deep = b'{"message":' * 50_000 + b"1" + b"}" * 50_000
    answer = requests.post(sandbox.url + route, data=deep, timeout=10, headers={
        **AUTH, "content-type": "application/json"})
    assert answer.status_code == 400


UPLOAD_BREAKERS = {
    "no boundary": ({"content-type": "multipart/form-data"}, b"--x--\r\n"),
    "type not utf-8": ({"content-type": "multipart/form-data; boundary=B"},
                       b'--B\r\nContent-Disposition: form-data; name="type"\r\n\r\n\xff\xfe\r\n'
                       b'--B\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n'
                       b"Content-Type: image/png\r\n\r\nabc\r\n--B--\r\n"),
    "nested multipart": ({"content-type": "multipart/form-data; boundary=B"},
                         b"--B\r\nContent-Type: multipart/mixed; boundary=C\r\n\r\n"
                         b'--C\r\nContent-Disposition: form-data; name="file"\r\n\r\nabc\r\n'
                         b"--C--\r\n--B--\r\n"),
}


@pytest.mark.parametrize("case", list(UPLOAD_BREAKERS), ids=list(UPLOAD_BREAKERS))
def test_a_malformed_upload_is_a_400(sandbox: RunningApp, case: str) -> None:
    headers, raw = UPLOAD_BREAKERS[case]
    answer = requests.post(f"{sandbox.url}/v25.0/{SPA.phone_number_id}/media", data=raw,
                           headers={**AUTH, **headers}, timeout=5)
    assert answer.status_code == 400


def test_media_uploaded_with_a_charset_can_be_downloaded(sandbox: RunningApp) -> None:
    upload = requests.post(f"{sandbox.url}/v25.0/{SPA.phone_number_id}/media", headers=AUTH,
                           files={"file": ("notes.txt", b"hello", "text/plain")},
                           data={"type": "text/plain; charset=utf-8",
                                 "messaging_product": "whatsapp"}, timeout=5)
    assert upload.status_code == 200
    download = requests.get(f"{sandbox.url}/media/{upload.json()['id']}", timeout=5)
    assert download.status_code == 200 and download.content == b"hello"


def test_an_image_mime_type_with_a_newline_is_refused_or_served(
        sandbox: RunningApp) -> None:
    sent = send(sandbox, new_customer(), {"type": "image", "image": {
        "data_url": data_url(IMAGE, "image/png\r\nX-Injected: 1")}})
    if sent.status_code == 400:
        return
    media_id = sent.json()["message"]["image"]["id"]
    try:
        download = requests.get(f"{sandbox.url}/media/{media_id}", timeout=5)
    except requests.ConnectionError as exc:
        pytest.fail(f"the download dropped the connection: {exc}")
    assert download.status_code == 200 and "x-injected" not in download.headers


def _strict_json(raw: bytes) -> Any:
    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")
    return json.loads(raw, parse_constant=refuse)


@pytest.mark.parametrize("raw_number", [b"NaN", b"Infinity", b"1e999"])
def test_a_webhook_body_is_always_valid_json(sandbox: RunningApp, product: Product,
                                                  raw_number: bytes) -> None:
    customer = new_customer()
    raw = b'{"message": {"type": "location", "location": {"latitude": %s, "longitude": 1}}}' \
        % raw_number
    answer = requests.post(chat(sandbox, customer) + "/send", data=raw, timeout=5,
                           headers={"content-type": "application/json"})
    if answer.status_code == 400:
        return
    [hit] = product.wait(product.message(answer.json()["id"]))
    _strict_json(hit.raw)


@pytest.mark.parametrize("message", [{"type": []}, {"type": {"a": 1}}, {
    "type": "interactive", "interactive": {"type": ["button_reply"]}}], ids=repr)
def test_an_unhashable_message_type_is_a_400(sandbox: RunningApp, message: Any) -> None:
    assert send(sandbox, new_customer(), message).status_code == 400


@pytest.mark.parametrize("action", [[], {"INIT": 1}], ids=repr)
def test_an_unhashable_flows_action_is_a_400(sandbox: RunningApp, product: Product,
                                                 action: Any) -> None:
    assert exchange(sandbox, new_customer(), action=action).status_code == 400


def test_exchange_refuses_a_non_ascii_customer_number(sandbox: RunningApp,
                                                         product: Product) -> None:
    assert exchange(sandbox, "٦٢٨١٢٣٤٥٦٧٨٩").status_code == 400


def test_an_answer_sealed_with_another_key_is_a_502(sandbox: RunningApp,
                                                       product: Product) -> None:
    wrong = AESGCM(AESGCM.generate_key(bit_length=128)).encrypt(
        bytes(16), b'{"screen": "SERVICE", "data": {}}', None)
    product.flows_answer = lambda payload: (200, base64.b64encode(wrong))
    reply = exchange(sandbox, new_customer())
    assert reply.status_code == 200 and reply.json()["status"] == 502


@pytest.mark.parametrize("data", [["x"], "x", {"extension_message_response": "x"}], ids=repr)
def test_a_malformed_success_answer_is_not_a_500(sandbox: RunningApp, product: Product,
                                                     data: Any) -> None:
    product.flows_answer = lambda payload: (200, {"screen": "SUCCESS", "data": data})
    reply = exchange(sandbox, new_customer(), action="data_exchange", screen="SUMMARY")
    assert reply.status_code < 500


@pytest.mark.parametrize("shape", [{"message": {"direction": "in"}}, {"message": "a string"},
                                   {"message": None}, {"business": ["not", "hashable"]}],
                         ids=repr)
def test_a_wrongly_shaped_line_of_the_chats_file_is_skipped(
        config: SandboxConfig, tmp_path: Path, shape: dict) -> None:
    restartable = dataclasses.replace(config, port=free_port(), data_dir=tmp_path)
    customer = new_customer()
    good = {"business": SPA.phone_number_id, "customer": customer,
            "message": {"id": "wamid.KEPT", "direction": "in", "status": "delivered",
                        "message": {"type": "text", "text": {"body": "kept"}}, "at": 1.0}}
    bad = {**good, "message": {**good["message"], "id": "wamid.BAD"}, **shape}
    (tmp_path / "chats.jsonl").write_text(json.dumps(bad) + "\n" + json.dumps(good) + "\n",
                                          encoding="utf-8")
    running = RunningApp(lambda: create_app(restartable), restartable.port)
    try:
        assert [m["id"] for m in history(running, customer)] == ["wamid.KEPT"]
    finally:
        running.stop()


def test_a_to_with_a_plus_reaches_the_customers_chat(sandbox: RunningApp) -> None:
    customer = new_customer()
    answer = graph(sandbox, bot_text("+" + customer))
    assert answer.status_code == 200
    assert answer.json()["contacts"] == [{"input": "+" + customer, "wa_id": customer}]
    assert [m["direction"] for m in history(sandbox, customer)] == ["out"]


@pytest.mark.parametrize("offer", [
    flow_offer(flow_id="999"),  # another business's Flow
    {"type": "button", "body": {"text": "Pick"}, "action": {"buttons": [
        {"type": "reply", "reply": {"id": "a", "title": "A"}}]}},
], ids=["another flow", "not a flow"])
def test_only_a_flow_message_of_this_flow_opens_it(sandbox: RunningApp, product: Product,
                                                  offer: dict) -> None:
    customer = new_customer()
    flows_before = len(product.find(lambda hit: hit.path == FLOWS))
    answer = exchange(sandbox, customer, message_id=bot_offers(sandbox, customer, offer))
    assert answer.status_code == 400
    other = new_customer()  # a Flow message of another chat opens nothing here either
    answer = exchange(sandbox, customer, message_id=bot_offers(sandbox, other, flow_offer()))
    assert answer.status_code == 400
    assert len(product.find(lambda hit: hit.path == FLOWS)) == flows_before


def test_complete_ends_the_flow_on_the_phone_with_the_token_of_the_message(
        sandbox: RunningApp, product: Product) -> None:
    customer = new_customer()
    flows_before = len(product.find(lambda hit: hit.path == FLOWS))
    message_id = bot_offers(sandbox, customer, flow_offer(token="the-real-token"))
    answer = exchange(sandbox, customer, message_id=message_id, action="complete",
                      data={"service": "balinese-massage", "flow_token": "forged"})
    assert answer.json() == {"completed": True}
    [hit] = product.wait(product.from_customer(customer))
    sent = hit.value["messages"][0]
    assert sent["context"]["id"] == message_id
    assert json.loads(sent["interactive"]["nfm_reply"]["response_json"]) == {
        "service": "balinese-massage", "flow_token": "the-real-token"}
    assert len(product.find(lambda hit: hit.path == FLOWS)) == flows_before
