"""Sending through Graph over real HTTP to the local stand-in: retries, give-ups, fallback."""
from __future__ import annotations

import asyncio

import pytest

from channels.whatsapp.channel import WhatsAppConfig, WhatsAppOutput
from channels.whatsapp.errors import PermanentGraphError, UncertainDeliveryError
from channels.whatsapp.graph import GraphClient, GraphConfig
from channels.whatsapp.inbox import Inbox
from tests.whatsapp.graph_stub import GraphStub

CONFIG = WhatsAppConfig("v", "s", "111", "booking_follow_up", "en")


@pytest.fixture
def stub():
    s = GraphStub()
    yield s
    s.close()


def client(url: str, timeout: float = 5.0) -> GraphClient:
    return GraphClient(GraphConfig(api_url=url, access_token="t", retry_base_seconds=0.001,
                                   timeout_seconds=timeout))


def run(coro):
    return asyncio.run(coro)


def test_rate_limits_are_retried_and_the_message_goes_out_once(stub):
    stub.fail_with = [130429, 131056]
    graph = client(stub.url)

    async def go():
        try:
            return await graph.send("111", "628", {"type": "text", "text": {"body": "hi"}})
        finally:
            await graph.close()

    assert run(go()) == "wamid.out1"
    assert [code for _, _, code in stub.calls] == [130429, 131056, None]
    assert len(stub.sent_to("628")) == 1


def test_permanent_errors_are_not_retried(stub):
    stub.fail_with = [131026]
    graph = client(stub.url)

    async def go():
        try:
            await graph.send("111", "628", {"type": "text", "text": {"body": "hi"}})
        finally:
            await graph.close()

    with pytest.raises(PermanentGraphError):
        run(go())
    assert len(stub.calls) == 1


def test_no_answer_is_never_retried(stub):
    import socket
    import threading

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    accepted = []
    threading.Thread(target=lambda: accepted.append(silent.accept()), daemon=True).start()
    graph = client(f"http://127.0.0.1:{silent.getsockname()[1]}", timeout=0.5)

    async def go():
        try:
            await graph.send("111", "628", {"type": "text", "text": {"body": "hi"}})
        finally:
            await graph.close()

    with pytest.raises(UncertainDeliveryError):
        run(go())
    assert len(accepted) == 1  # one connection, no second attempt
    silent.close()


def _resetting_server():
    """Accepts, reads the request, then resets the connection (RST, errno 104 at the client):
    what a peer that drops the request half-way looks like."""
    import socket
    import struct
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    accepted = []

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            accepted.append(conn)
            conn.recv(65536)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return server, accepted


def test_a_reset_connection_is_an_uncertain_delivery_not_a_crash():
    server, accepted = _resetting_server()
    graph = client(f"http://127.0.0.1:{server.getsockname()[1]}")

    async def go():
        try:
            with pytest.raises(UncertainDeliveryError):  # it may have reached Meta: not again
                await graph.send("111", "628", {"type": "text", "text": {"body": "hi"}})
            with pytest.raises(UncertainDeliveryError):  # a GraphError: the worker goes on
                await graph.mark_read("111", "wamid.x")
        finally:
            await graph.close()

    run(go())
    assert len(accepted) == 2  # the message once, the receipt once
    server.close()


def test_outside_the_24h_window_falls_back_to_the_template(stub, db):
    stub.fail_with = [131047]
    graph = client(stub.url)
    output = WhatsAppOutput(graph, Inbox(db), CONFIG, "111")

    async def go():
        try:
            await output.send_text_message("628", "Your booking is confirmed")
        finally:
            await graph.close()

    run(go())
    [template] = stub.sent_to("628")
    assert template["type"] == "template"
    assert template["template"] == {"name": "booking_follow_up", "language": {"code": "en"}}
    assert [d["status"] for d in db.wa_outbox.find({}, {"_id": 0}).sort("at", 1)] == [
        "outside_window", "sent"]


def test_the_template_goes_in_the_language_the_channel_knows_for_the_customer(stub, db):
    stub.fail_with = [131047]
    graph = client(stub.url)
    asked = []
    output = WhatsAppOutput(graph, Inbox(db), CONFIG, "111",
                            lambda number, customer: asked.append((number, customer)) or "id")

    async def go():
        try:
            await output.send_text_message("629", "Booking Anda terkonfirmasi")
        finally:
            await graph.close()

    run(go())
    [template] = stub.sent_to("629")
    assert template["template"] == {"name": "booking_follow_up", "language": {"code": "id"}}
    assert asked == [("111", "629")]


def test_more_than_ten_choices_page_through_saved_lists(stub, db):
    graph = client(stub.url)
    output = WhatsAppOutput(graph, Inbox(db), CONFIG, "111")
    buttons = [{"title": f"{h}:00", "payload": f"/choose_slot{{\"h\":{h}}}"} for h in range(8, 22)]

    async def go():
        try:
            await output.send_text_with_buttons("628", "Free times", buttons)
            first = stub.sent_to("628")[-1]
            more = first["interactive"]["action"]["sections"][0]["rows"][-1]["id"]
            key, page = more.split(":")[1], int(more.split(":")[2])
            await output.send_page("628", key, page)
        finally:
            await graph.close()

    run(go())
    first, second = stub.sent_to("628")
    assert [r["title"] for r in first["interactive"]["action"]["sections"][0]["rows"]][-1] == "More…"
    assert [r["title"] for r in second["interactive"]["action"]["sections"][0]["rows"]] == [
        "17:00", "18:00", "19:00", "20:00", "21:00"]


def test_the_pair_rate_limit_backs_off_four_to_the_n(stub):
    """Graph's retries go through booking.retry: the base doubling, 131056 at base * 4^n."""
    stub.fail_with = [130429, 131056, 131056]
    graph = GraphClient(GraphConfig(api_url=stub.url, access_token="t",
                                    retry_base_seconds=0.05, timeout_seconds=5))

    async def go():
        try:
            return await graph.send("111", "628", {"type": "text", "text": {"body": "hi"}})
        finally:
            await graph.close()

    assert run(go()) == "wamid.out1"
    gaps = [b - a for a, b in zip(stub.call_times, stub.call_times[1:])]
    assert [code for _, _, code in stub.calls] == [130429, 131056, 131056, None]
    # waits of at least 0.05 (1st retry, 2^0), 0.05 * 4^2 and 0.05 * 4^3 (131056 on retries 2, 3)
    assert gaps[0] >= 0.05 and gaps[1] >= 0.8 and gaps[2] >= 3.2, gaps
    assert gaps[0] < 0.8  # the ordinary retry did not take the pair-rate-limit wait


def test_a_page_of_a_list_that_is_gone_is_answered_in_the_customers_language(stub, db):
    graph = client(stub.url)
    output = WhatsAppOutput(graph, Inbox(db), CONFIG, "111", lambda number, customer: "id")

    async def go():
        try:
            await output.send_page("630", "no-such-list", 2)
        finally:
            await graph.close()

    run(go())
    [answer] = stub.sent_to("630")
    assert answer["text"]["body"] == "Pilihan itu sudah kedaluwarsa; silakan tanya lagi."


@pytest.mark.parametrize("fails, language_of", [
    ([131047, 132001], lambda number, customer: "id"),  # not approved in Indonesian
    ([131047], lambda number, customer: 1 / 0)],  # the language cannot be looked up
    ids=["not-approved-in-indonesian", "language-unavailable"])
def test_the_template_falls_back_to_english_rather_than_not_at_all(stub, db, fails, language_of):
    stub.fail_with = list(fails)
    graph = client(stub.url)
    output = WhatsAppOutput(graph, Inbox(db), CONFIG, "111", language_of)

    async def go():
        try:
            await output.send_text_message("631", "Booking Anda terkonfirmasi")
        finally:
            await graph.close()

    run(go())
    [template] = stub.sent_to("631")
    assert template["template"] == {"name": "booking_follow_up", "language": {"code": "en"}}
    assert db.wa_outbox.count_documents({"to": "631", "type": "template", "status": "sent"}) == 1


REMINDER = {"template": "reminder", "parameters": ["Balinese Massage", "Fri 4 Dec, 15:00"],
            "payloads": ['/confirm_visit{"booking_code":"BK100001"}',
                         '/reschedule_booking{"booking_code":"BK100001"}',
                         '/cancel_booking{"booking_code":"BK100001"}']}
REMINDER_BUTTONS = [{"title": "Confirm", "payload": REMINDER["payloads"][0]},
                    {"title": "Reschedule", "payload": REMINDER["payloads"][1]},
                    {"title": "Cancel", "payload": REMINDER["payloads"][2]}]


@pytest.mark.parametrize("fails, language_of, code", [
    ([131047], None, "en"),
    ([131047], lambda number, customer: "id", "id"),
    ([131047, 132001], lambda number, customer: "id", "en")],  # not approved in Indonesian
    ids=["english", "indonesian", "not-approved-in-indonesian"])
def test_outside_the_window_a_reminder_goes_as_its_own_template_with_the_same_buttons(
        stub, db, fails, language_of, code):
    stub.fail_with = list(fails)
    graph = client(stub.url)
    output = WhatsAppOutput(graph, Inbox(db), CONFIG, "111", language_of)

    async def go():
        try:
            await output.send_text_with_buttons("632", "Reminder: your Balinese Massage ...",
                                                REMINDER_BUTTONS, outside_window=REMINDER)
        finally:
            await graph.close()

    run(go())
    [template] = stub.sent_to("632")
    assert template["template"] == {"name": "booking_reminder", "language": {"code": code},
                                    "components": [
        {"type": "body", "parameters": [{"type": "text", "text": "Balinese Massage"},
                                        {"type": "text", "text": "Fri 4 Dec, 15:00"}]},
        *({"type": "button", "sub_type": "quick_reply", "index": str(i),
           "parameters": [{"type": "payload", "payload": p}]}
          for i, p in enumerate(REMINDER["payloads"]))]}


def test_within_the_window_a_reminder_is_its_buttons_and_an_unknown_template_is_ignored(stub,
                                                                                        db):
    graph = client(stub.url)
    output = WhatsAppOutput(graph, Inbox(db), CONFIG, "111")

    async def go():
        try:
            await output.send_text_with_buttons("633", "Reminder", REMINDER_BUTTONS,
                                                outside_window=REMINDER)
            stub.fail_with = [131047]  # an action may not pick a template the channel lacks
            await output.send_text_with_buttons("633", "Reminder", REMINDER_BUTTONS,
                                                outside_window={"template": "anything_else"})
        finally:
            await graph.close()

    run(go())
    buttons, fallback = stub.sent_to("633")
    assert [b["reply"]["id"] for b in buttons["interactive"]["action"]["buttons"]] == \
        REMINDER["payloads"]
    assert fallback["template"]["name"] == "booking_follow_up"
