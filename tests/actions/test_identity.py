"""Who is speaking: a customer is *(channel, id)*. Only the WhatsApp channel speaks for a phone
number and names the business; REST / socket.io / shell visitors are customers of their own and
their metadata chooses nothing (real mongod, real actions)."""
from __future__ import annotations

from datetime import datetime, timezone

from actions.booking_flow import ActionBookStep, ActionConfirmBooking
from actions.manage import ActionConfirmCancel, ActionMyBookings
from actions.payment import ActionPayAgain, ActionPaymentUpdate
from booking.bookings import BookingRequest
from tests.actions.conftest import Chat, texts

NUMBER = "6281234567890"
WED_10 = datetime(2026, 11, 25, 2, 0, tzinfo=timezone.utc)
SPA_NUMBER = "110000000000001"


def whatsapp_booking(core):
    return core.create(BookingRequest("balinese-massage", WED_10, NUMBER, staff_id="wayan"))


def test_a_rest_visitor_claiming_a_whatsapp_number_sees_and_cancels_nothing(core, db):
    booking = whatsapp_booking(core)
    visitor = Chat(sender=NUMBER, input_channel="rest")
    _, msgs = visitor.run(ActionMyBookings(), "my_bookings")
    assert texts(msgs) == ["You have no upcoming bookings."]
    visitor.run(ActionConfirmCancel(), "confirm_cancel", booking_code=booking.code)
    assert db.bookings.find_one({"code": booking.code})["status"] == "PENDING_PAYMENT"
    # ... while the WhatsApp customer still sees it
    _, msgs = Chat(sender=NUMBER, input_channel="whatsapp").run(ActionMyBookings(), "my_bookings")
    assert booking.code in texts(msgs)[0]


def test_socketio_and_shell_visitors_are_their_own_customers(core, db):
    whatsapp_booking(core)
    for channel in ("socketio", "cmdline"):
        _, msgs = Chat(sender=NUMBER, input_channel=channel).run(ActionMyBookings(), "my_bookings")
        assert texts(msgs) == ["You have no upcoming bookings."]


def test_a_rest_booking_belongs_to_the_rest_visitor_not_to_the_number(core, db):
    visitor = Chat(sender=NUMBER, input_channel="rest")
    visitor.run(ActionBookStep(), "book_service", service="balinese-massage",
                time="tomorrow at 3pm")
    visitor.slots.update(order_id="o-1", slot_chosen_at=core.clock().timestamp())
    visitor.run(ActionConfirmBooking(), "confirm_booking", service="balinese-massage",
                slot_time="2026-11-24T07:00:00+00:00")
    [doc] = list(db.bookings.find())
    assert doc["customer_id"] == f"rest:{NUMBER}"
    assert db.payments.find_one()["conversation"]["channel"] == "rest"


def test_metadata_from_rest_chooses_no_business_and_no_phone_number(core, db):
    visitor = Chat(sender="me", input_channel="rest",
                   metadata={"business_id": "canggu-glow-salon", "phone_number_id": SPA_NUMBER,
                             "profile_name": "Someone Else"})
    visitor.run(ActionBookStep(), "book_service", service="manicure")
    # the salon's manicure is not offered: REST speaks to the default business (the spa)
    visitor.run(ActionBookStep(), "book_service", service="balinese-massage",
                time="tomorrow at 3pm")
    visitor.slots.update(order_id="o-1", slot_chosen_at=core.clock().timestamp())
    visitor.run(ActionConfirmBooking(), "confirm_booking", service="balinese-massage",
                slot_time="2026-11-24T07:00:00+00:00")
    doc = db.bookings.find_one()
    assert doc["business_id"] == "ubud-serenity-spa"
    assert doc["customer_name"] != "Someone Else"
    assert db.payments.find_one()["conversation"]["phone_number_id"] is None


def test_a_whatsapp_turn_without_a_known_business_number_is_refused(core, db):
    chat = Chat(sender=NUMBER, input_channel="whatsapp", metadata={"business_id": None})
    chat.business_id = None
    events, msgs = chat.run(ActionMyBookings(), "my_bookings")
    assert (events, msgs) == ([], [])


def test_payment_news_goes_only_to_the_conversation_that_booked(core, db, xendit):
    from actions.base import _payments_provider

    booker = Chat(sender=NUMBER, input_channel="whatsapp",
                  metadata={"phone_number_id": SPA_NUMBER})
    booker.slots.update(order_id="o-1", slot_chosen_at=core.clock().timestamp())
    booker.run(ActionConfirmBooking(), "confirm_booking", service="balinese-massage",
               slot_time="2026-11-24T07:00:00+00:00")
    doc = db.payments.find_one()
    xendit.set_status(doc["invoice_id"], "PAID")
    _payments_provider().apply_invoice(xendit.invoices[doc["invoice_id"]])
    entities = dict(booking_code=doc["code"], payment=doc["_id"], payment_update="paid")
    for intruder in (Chat(sender=NUMBER, input_channel="rest"),
                     Chat(sender=f"rest:{NUMBER}", input_channel="rest")):
        _, msgs = intruder.run(ActionPaymentUpdate(), "EXTERNAL_payment_update", **entities)
        assert not any("Payment received" in (t or "") for t in texts(msgs))
        _, msgs = intruder.run(ActionPayAgain(), "pay_again", booking_code=doc["code"])
        assert texts(msgs)[0].startswith("I couldn't find that booking")
    _, msgs = booker.run(ActionPaymentUpdate(), "EXTERNAL_payment_update", **entities)
    assert texts(msgs)[0].startswith("Payment received")
