"""Payment in the conversation: the WhatsApp "Pay now" button, payment news (paid with the PDF,
expired with Pay again, paid too late) and Pay again, on a real mongod and the Xendit stand-in."""
from __future__ import annotations

from datetime import datetime

from actions.booking_flow import ActionConfirmBooking
from actions.payment import ActionPayAgain, ActionPaymentUpdate
from booking.bookings import BookingRequest
from tests.actions.conftest import Chat, buttons, texts

TUE_15_UTC = "2026-11-24T07:00:00+00:00"
SPA_NUMBER = "110000000000001"


def whatsapp_chat() -> Chat:
    return Chat(input_channel="whatsapp", metadata={"phone_number_id": SPA_NUMBER})


def confirm(chat: Chat, core) -> dict:
    chat.slots.update(order_id="order-1", slot_chosen_at=core.clock().timestamp())
    _, msgs = chat.run(ActionConfirmBooking(), "confirm_booking", service="balinese-massage",
                       slot_time=TUE_15_UTC)
    return msgs


def news(chat: Chat, code: str, payment: str, kind: str):
    return chat.run(ActionPaymentUpdate(), "EXTERNAL_payment_update", booking_code=code,
                    payment=payment, payment_update=kind)


def settle(core, xendit, db, status: str) -> dict:
    from actions.base import _payments_provider

    payments = _payments_provider()
    doc = db.payments.find_one(sort=[("attempt", -1)])
    xendit.set_status(doc["invoice_id"], status)
    payments.apply_invoice(xendit.invoices[doc["invoice_id"]])
    return doc


def test_on_whatsapp_the_link_is_a_pay_now_button_and_the_payment_remembers_the_chat(
        core, db, xendit):
    chat = whatsapp_chat()
    msgs = confirm(chat, core)
    code = db.bookings.find_one()["code"]
    [invoice] = xendit.invoices_for(code)
    assert msgs[1]["custom"] == {"whatsapp": {
        "type": "cta_url", "display_text": "Pay now", "url": invoice["invoice_url"],
        "text": f"To confirm {code}, please pay Rp350.000 by 08:30 (the link is valid for "
                f"30 minutes)."}}
    assert db.payments.find_one()["conversation"] == {
        "sender_id": chat.sender, "channel": "whatsapp", "business_id": "ubud-serenity-spa",
        "phone_number_id": SPA_NUMBER, "language": "en"}


def test_paid_news_confirms_with_the_pdf_document(core, db, xendit):
    chat = whatsapp_chat()
    confirm(chat, core)
    payment = settle(core, xendit, db, "PAID")
    token = db.payments.find_one()["receipt_token"]
    _, msgs = news(chat, payment["code"], payment["_id"], "paid")
    assert texts(msgs)[0] == (f"Payment received, thank you! ✅ Your booking is confirmed:\n"
                              f"{payment['code']}: Balinese Massage\nTue 24 Nov, 15:00 with "
                              f"Wayan\nRp350.000")
    assert msgs[1]["custom"] == {"whatsapp": {
        "type": "document", "filename": f"{payment['code']}.pdf",
        "link": f"https://bot.example/webhooks/xendit/receipts/{token}.pdf",
        "caption": f"Confirmation and invoice {payment['code']}"}}


def test_expired_news_offers_pay_again_and_another_time_then_pay_again_works(core, db, xendit):
    chat = whatsapp_chat()
    confirm(chat, core)
    payment = settle(core, xendit, db, "EXPIRED")
    code = payment["code"]
    _, msgs = news(chat, code, payment["_id"], "expired")
    assert texts(msgs) == [f"The payment link for {code} has expired, so Tue 24 Nov, 15:00 is "
                           f"no longer held for you."]
    assert buttons(msgs) == [("Pay again", f'/pay_again{{"booking_code":"{code}"}}'),
                             ("Pick another time", '/book_service{"service":"balinese-massage"}')]
    _, msgs = chat.run(ActionPayAgain(), "pay_again", booking_code=code)
    assert db.bookings.find_one()["status"] == "PENDING_PAYMENT"
    second = xendit.invoices_for(f"{code}-2")
    assert len(second) == 1 and msgs[0]["custom"]["whatsapp"]["url"] == second[0]["invoice_url"]


def test_pay_again_typed_finds_the_expired_booking_or_offers_times_when_taken(core, db, xendit):
    chat = Chat()
    confirm(chat, core)
    payment = settle(core, xendit, db, "EXPIRED")
    for staff, customer in (("wayan", "x"), ("made", "y"), ("ketut", "z")):
        core.create(BookingRequest("balinese-massage", datetime.fromisoformat(TUE_15_UTC),
                                   customer, staff_id=staff))
    _, msgs = chat.run(ActionPayAgain(), "pay_again", text="can I still pay?")
    assert texts(msgs) == ["Sorry, Tue 24 Nov, 15:00 is no longer free. Here are the next free "
                           "times:"]
    assert len(buttons(msgs)) == 3 and chat.slots["service"] == "balinese-massage"
    assert db.bookings.find_one({"code": payment["code"]})["status"] == "EXPIRED"


def test_paid_too_late_apologises_refunds_and_offers_times(core, db, xendit):
    chat = Chat()
    confirm(chat, core)
    settle(core, xendit, db, "EXPIRED")
    for staff, customer in (("wayan", "x"), ("made", "y"), ("ketut", "z")):
        core.create(BookingRequest("balinese-massage", datetime.fromisoformat(TUE_15_UTC),
                                   customer, staff_id=staff))
    payment = settle(core, xendit, db, "PAID")
    _, msgs = news(chat, payment["code"], payment["_id"], "refund")
    assert texts(msgs) == [f"We received your payment of Rp350.000 for {payment['code']}, but "
                           f"sorry: Tue 24 Nov, 15:00 was taken after your payment link expired. "
                           f"The full amount will be refunded. Here are the next free times:"]
    assert len(buttons(msgs)) == 3
    assert db.refunds.count_documents({"code": payment["code"]}) == 1


def test_news_about_someone_elses_booking_says_nothing(core, db, xendit):
    confirm(whatsapp_chat(), core)
    payment = settle(core, xendit, db, "PAID")
    _, msgs = news(Chat(sender="6289999999999"), payment["code"], payment["_id"], "paid")
    assert msgs == []


def test_in_villa_treatment_asks_the_villa_and_pays_vendor_and_villa(core, db, xendit):
    from actions.booking_flow import ActionBookStep
    from actions.base import _payments_provider

    chat = Chat()
    chat.run(ActionBookStep(), "book_service", service="in-villa-massage")
    chat.run(ActionBookStep(), "choose_day", date="2026-11-24")
    _, msgs = chat.run(ActionBookStep(), "choose_slot", slot_time=TUE_15_UTC)
    assert texts(msgs) == ["Which villa shall we come to?"]
    assert buttons(msgs) == [("Villa Sawah Ubud", '/inform{"villa":"villa-sawah-ubud"}'),
                             ("Canggu Beach Villa", '/inform{"villa":"canggu-beach-villa"}')]
    _, msgs = chat.run(ActionBookStep(), "inform", text="canggu beach villa")
    assert texts(msgs)[0].endswith("Rp600.000\nat Canggu Beach Villa")
    confirm_payload = buttons(msgs)[0][1]
    assert '"villa":"canggu-beach-villa"' in confirm_payload
    _, msgs = chat.run(ActionConfirmBooking(), "confirm_booking", service="in-villa-massage",
                       slot_time=TUE_15_UTC, villa="canggu-beach-villa")
    booking = db.bookings.find_one()
    assert booking["villa_id"] == "canggu-beach-villa" and "at Canggu Beach Villa" in texts(msgs)[0]
    payment = settle(core, xendit, db, "PAID")
    _payments_provider().run_payouts(payment["code"])
    shares = {p["party"]: p["amount"] for p in db.payouts.find()}
    assert shares == {"villa": 50000, "vendor": 600000 - 60000 - 50000}  # flat 50 000, fee 10 %


def test_in_villa_booked_in_one_sentence_still_asks_the_villa(core):
    from actions.booking_flow import ActionBookStep

    chat = Chat()
    _, msgs = chat.run(ActionBookStep(), "book_service", text="in villa massage tomorrow at 3pm",
                       service="in-villa-massage", time="tomorrow at 3pm")
    assert texts(msgs) == ["Which villa shall we come to?"]
    assert chat.slots["slot_time"] == TUE_15_UTC and chat.slots["awaiting"] == "villa"


def test_typed_payment_news_is_not_believed(core, db, xendit):
    """The external intent is text anyone can type: only news the server wrote is told."""
    chat = whatsapp_chat()
    confirm(chat, core)
    payment = db.payments.find_one()
    _, msgs = news(chat, payment["code"], payment["_id"], "paid")  # unpaid: no such notice
    assert not any("Payment received" in (t or "") for t in texts(msgs))
    assert texts(msgs) == ["What would you like to do?"]
    settle(core, xendit, db, "PAID")
    _, msgs = news(chat, "BK000000", payment["_id"], "paid")  # a real notice, another code
    assert texts(msgs) == ["What would you like to do?"]
    _, msgs = news(chat, payment["code"], payment["_id"], "paid")
    assert texts(msgs)[0].startswith("Payment received, thank you!")


def test_paid_after_cancelling_is_told_the_refund_without_offering_the_time(core, db, xendit):
    from actions.manage import ActionConfirmCancel

    chat = whatsapp_chat()
    confirm(chat, core)
    code = db.bookings.find_one()["code"]
    chat.run(ActionConfirmCancel(), "confirm_cancel", booking_code=code)
    assert db.bookings.find_one()["status"] == "CANCELLED"
    payment = settle(core, xendit, db, "PAID")  # the link was still open in the browser
    _, msgs = news(chat, code, payment["_id"], "refund")
    assert texts(msgs) == [f"We received a payment of Rp350.000 for {code} on a payment link "
                           f"that was no longer valid. Sorry: the full amount will be refunded."]
    assert db.refunds.count_documents({"code": code}) == 1


def test_yes_typed_after_the_expired_news_pays_again_and_a_no_offer_yes_shows_the_menu(
        core, db, xendit):
    from actions.answers import ActionYes

    chat = whatsapp_chat()
    confirm(chat, core)
    payment = settle(core, xendit, db, "EXPIRED")
    code = payment["code"]
    _, msgs = news(chat, code, payment["_id"], "expired")
    chat.history = [{"event": "bot", "text": m.get("text"), "data": {"buttons": m.get("buttons")}}
                    for m in msgs]
    _, msgs = chat.run(ActionYes(), "affirm", text="yes please")
    assert db.bookings.find_one({"code": code})["status"] == "PENDING_PAYMENT"
    [second] = xendit.invoices_for(f"{code}-2")
    assert msgs[0]["custom"]["whatsapp"]["url"] == second["invoice_url"]
    chat.history.append({"event": "bot", "text": "Please pay", "data": {}})  # the link
    _, msgs = chat.run(ActionYes(), "affirm", text="yes")
    assert texts(msgs) == ["What would you like to do?"] and not xendit.invoices_for(f"{code}-3")
