"""Paying through the WhatsApp channel end to end: the running stack, signed WhatsApp webhooks,
and the local Xendit stand-in for invoices, payouts and callbacks."""
from __future__ import annotations

import io
import json
import threading
import time
from typing import Any, Callable

import pytest
from pypdf import PdfReader

from channels.tracker_store import serialised_events
from tests.whatsapp.conftest import (Stack, _ids, assert_fits_meta_limits, tap, text)
from tests.whatsapp.graph_stub import GraphStub
from tests.xendit_stub import XenditStub

pytestmark = pytest.mark.e2e


def customer() -> str:
    return f"6288{next(_ids):08d}"


def eventually(check: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    """Poll a database condition (the work happens in the server's background)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def body_text(message: dict) -> str:
    if message["type"] == "text":
        return message["text"]["body"]
    return message["interactive"]["body"]["text"]


def choices(message: dict) -> dict[str, str]:
    inter = message["interactive"]
    if inter["type"] == "button":
        return {b["reply"]["title"]: b["reply"]["id"] for b in inter["action"]["buttons"]}
    return {r["title"]: r["id"] for s in inter["action"]["sections"] for r in s["rows"]}


class Customer:
    """One customer chatting with the spa; ``next()`` waits for the bot's next message."""

    def __init__(self, stack: Stack, graph: GraphStub) -> None:
        self.stack, self.graph, self.who, self.seen = stack, graph, customer(), 0

    def say(self, words: str) -> None:
        assert self.stack.post(text(self.who, words)) == 200

    def tap(self, message: dict, title: str) -> None:
        kind = "list_reply" if message["interactive"]["type"] == "list" else "button_reply"
        assert self.stack.post(tap(self.who, choices(message)[title], title, kind)) == 200

    def next(self) -> dict:
        message = self.graph.wait_for_messages(self.who, self.seen + 1)[self.seen]
        self.seen += 1
        assert_fits_meta_limits(message)
        return message

    def book(self, sentence: str, villa: str = "") -> tuple[str, dict]:
        """Book from one sentence (taking the first offered time if that one is gone, and the
        first villa when asked);
        return the booking code and the payment message."""
        self.say(sentence)
        card = self.next()
        for _ in range(3):  # other times offered, or "which villa": take the first
            if body_text(card).startswith("Please confirm"):
                break
            offered = choices(card)
            self.tap(card, villa if villa in offered else next(iter(offered)))
            card = self.next()
        self.tap(card, "Confirm")
        booked = body_text(self.next())
        assert booked.startswith("Booked ✅\nBK"), booked
        return booked.split("\n")[1].split(":")[0], self.next()


def pay_link(message: dict) -> str:
    assert message["type"] == "interactive" and message["interactive"]["type"] == "cta_url"
    assert message["interactive"]["action"]["parameters"]["display_text"] == "Pay now"
    return message["interactive"]["action"]["parameters"]["url"]


def callback(stack: Stack, xendit: XenditStub, invoice_id: str, status: str | None = None,
             token: str | None = "test-callback-token") -> int:
    return xendit.send_callback(stack.xendit_webhook, xendit.callback_body(invoice_id, status),
                                token)


def test_book_pay_confirm_with_pdf_and_replays_change_nothing(wa, graph, xendit):
    stack, db = wa
    ayu = Customer(stack, graph)
    code, payment = ayu.book("in villa massage next tuesday at 10am", villa="Villa Sawah Ubud")
    [invoice] = xendit.invoices_for(code)
    assert pay_link(payment) == invoice["invoice_url"]
    assert "please pay Rp600.000 by" in body_text(payment)
    assert db.bookings.find_one({"code": code})["status"] == "PENDING_PAYMENT"

    xendit.set_status(invoice["id"], "PAID")
    statuses: list[int] = []
    senders = [threading.Thread(target=lambda: statuses.append(callback(stack, xendit, invoice["id"])))
               for _ in range(10)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()
    assert statuses == [200] * 10
    assert callback(stack, xendit, invoice["id"], status="EXPIRED") == 200  # stale, reordered

    confirmation = ayu.next()
    assert body_text(confirmation).startswith(
        f"Payment received, thank you! ✅ Your booking is confirmed:\n{code}: In-Villa Balinese "
        f"Massage")
    document = ayu.next()
    assert document["type"] == "document"
    assert document["document"]["filename"] == f"{code}.pdf"
    link = document["document"]["link"]
    path = link[link.index("/webhooks/"):]
    status, pdf = stack.request_bytes("GET", path)
    assert status == 200 and pdf.startswith(b"%PDF")
    printed = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    for expected in (code, "Ubud Serenity Spa", "In-Villa Balinese Massage", "Rp600.000",
                     "Villa Sawah Ubud", "QRIS", "Ayu", f"+{ayu.who}", invoice["id"]):
        assert expected in printed, expected
    assert stack.request_bytes("GET", path.replace(".pdf", "x.pdf"))[0] == 404

    eventually(lambda: db.xendit_callbacks.count_documents(
        {"invoice_id": invoice["id"], "state": "DONE"}) == 2, "both callbacks processed")
    eventually(lambda: db.payouts.count_documents(
        {"code": code, "state": {"$in": ["REQUESTED", "SUCCEEDED"]}}) == 2, "both payouts")
    assert db.bookings.find_one({"code": code})["status"] == "CONFIRMED"
    assert db.xendit_callbacks.count_documents({"invoice_id": invoice["id"]}) == 2
    assert db.payment_notices.count_documents({"code": code}) == 1
    payouts = {p["channel_properties"]["account_number"]: p["amount"]
               for p in xendit.payouts.values() if p["reference_id"].startswith(code)}
    # 600 000: platform 10 % = 60 000, Villa Sawah 15 % = 90 000, the spa the rest.
    assert payouts == {"5270001111": 450000, "5270003333": 90000}
    # The dialogue recorded the payment news as an external event in the conversation.
    intents = [e.get("parse_data", {}).get("intent", {}).get("name")
               for e in serialised_events(db, ayu.who, "trackers") if e["event"] == "user"]
    assert "EXTERNAL_payment_update" in intents
    assert len(graph.sent_to(ayu.who)) == ayu.seen  # nothing else was sent


def test_expired_link_pay_again_then_paid(wa, graph, xendit):
    stack, db = wa
    made = Customer(stack, graph)
    code, payment = made.book("deep tissue massage next wednesday at 2pm")
    [first] = xendit.invoices_for(code)
    xendit.set_status(first["id"], "EXPIRED")
    assert callback(stack, xendit, first["id"]) == 200
    expired = made.next()
    assert body_text(expired).startswith(f"The payment link for {code} has expired")
    assert list(choices(expired)) == ["Pay again", "Pick another time"]
    assert db.bookings.find_one({"code": code})["status"] == "EXPIRED"

    made.tap(expired, "Pay again")
    second_link = pay_link(made.next())
    [second] = xendit.invoices_for(f"{code}-2")
    assert second_link == second["invoice_url"] != first["invoice_url"]
    assert db.bookings.find_one({"code": code})["status"] == "PENDING_PAYMENT"
    xendit.set_status(second["id"], "PAID")
    assert callback(stack, xendit, second["id"]) == 200
    assert body_text(made.next()).startswith("Payment received")
    assert made.next()["type"] == "document"
    assert db.bookings.find_one({"code": code})["status"] == "CONFIRMED"


def test_paid_after_expired_reconfirms_a_still_free_time(wa, graph, xendit):
    stack, db = wa
    ketut = Customer(stack, graph)
    code, _ = ketut.book("hot stone massage next thursday at 11am")
    [invoice] = xendit.invoices_for(code)
    xendit.set_status(invoice["id"], "EXPIRED")
    assert callback(stack, xendit, invoice["id"]) == 200
    assert "has expired" in body_text(ketut.next())
    xendit.set_status(invoice["id"], "PAID")  # the race at expiry: paid anyway
    assert callback(stack, xendit, invoice["id"]) == 200
    assert body_text(ketut.next()).startswith("Payment received")
    assert ketut.next()["type"] == "document"
    stored = db.bookings.find_one({"code": code})
    assert stored["status"] == "CONFIRMED" and stored["cells"]


def test_callbacks_without_the_token_are_refused_and_store_nothing(wa, xendit):
    stack, db = wa
    body = {"id": "inv-forged", "external_id": "BK000000-1", "status": "PAID", "amount": 1,
            "currency": "IDR"}
    assert xendit.send_callback(stack.xendit_webhook, body, token="wrong") == 401
    assert xendit.send_callback(stack.xendit_webhook, body, token=None) == 401
    assert xendit.send_callback(stack.xendit_webhook, body, raw=b"{nope") == 400
    assert xendit.send_callback(stack.xendit_webhook, body, content_type="text/plain") == 415
    assert xendit.send_callback(stack.xendit_webhook, {"status": "PAID"}) == 400
    big = b"{" + b" " * (1024 * 1024) + b"}"
    assert xendit.send_callback(stack.xendit_webhook, body, raw=big) == 413
    assert db.xendit_callbacks.count_documents({"invoice_id": "inv-forged"}) == 0


@pytest.mark.parametrize("failures", [[500, 429], ["lose"]], ids=["500-429", "lost-answer"])
def test_xendit_failures_on_create_still_give_one_invoice(wa, graph, xendit, failures):
    stack, _ = wa
    putu = Customer(stack, graph)
    xendit.fail["create_invoice"] = list(failures)
    code, payment = putu.book("balinese massage next saturday at 11am" if failures == ["lose"]
                              else "natural glow facial next friday at 3pm")
    [invoice] = xendit.invoices_for(code)
    assert pay_link(payment) == invoice["invoice_url"]
    assert xendit.fail["create_invoice"] == []


def test_the_return_page_after_paying(wa):
    stack, _ = wa
    status, page = stack.request("GET", "/return?booking=BK1", channel="xendit")
    assert status == 200 and "Thank you" in page
    status, page = stack.request("GET", "/return?booking=BK1&lang=id", channel="xendit")
    assert status == 200 and "Terima kasih! Konfirmasi Anda" in page and "lang=id" in page
    status, page = stack.request("GET", "/return?booking=BK1&lang=<script>", channel="xendit")
    assert status == 200 and "Thank you" in page and "<script>" not in page  # ours only
