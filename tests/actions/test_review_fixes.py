"""Review findings of issue 11 at the action level, on a real mongod and the Xendit stand-in.

A customer writing to one business's WhatsApp number can neither cancel, pay again for nor
move a booking made with another business (it is as unknown as a made-up code); a booking
cancelled while being moved gets a clear answer; and "paid" news arriving after a cancel tells
what is true (money received, booking cancelled, refund recorded) without a confirmation PDF.
"""
from __future__ import annotations

from datetime import datetime, timezone

from actions.booking_flow import ActionConfirmBooking
from actions.manage import ActionConfirmCancel, ActionRescheduleStep
from actions.payment import ActionPayAgain, ActionPaymentUpdate
from booking.bookings import BookingRequest
from booking.models import CANCELLED, EXPIRED, PENDING_PAYMENT
from tests.actions.conftest import Chat, buttons, texts
from tests.actions.test_payment_actions import confirm, settle, whatsapp_chat

WED_10 = datetime(2026, 11, 25, 2, 0, tzinfo=timezone.utc)  # Wed 25 Nov, 10:00 Bali
THU_11 = datetime(2026, 11, 26, 3, 0, tzinfo=timezone.utc)  # Thu 26 Nov, 11:00 Bali
MENU = [("Book a treatment", "/book_service"), ("My bookings", "/my_bookings"),
        ("Talk to a person", "/human_handoff")]


def spa_booking(core, customer: str):
    """A booking at the spa (the number 110000000000001) of the customer ``customer``."""
    return core.create(BookingRequest("balinese-massage", WED_10, customer, staff_id="wayan"))


def salon_chat() -> Chat:
    """The same customer, writing to the salon's number instead."""
    return Chat(input_channel="whatsapp", business_id="canggu-glow-salon")


# ------------------------------------------------------------------ one business per number
def test_the_salons_number_cannot_cancel_a_spa_booking(core, db):
    salon = salon_chat()
    booking = spa_booking(core, salon.customer)
    _, msgs = salon.run(ActionConfirmCancel(), "confirm_cancel", booking_code=booking.code)
    assert texts(msgs) == [f"I couldn't find a booking {booking.code} for you."]
    assert db.bookings.find_one({"code": booking.code})["status"] == PENDING_PAYMENT
    # the spa's own number still can
    _, msgs = Chat(input_channel="whatsapp", business_id="ubud-serenity-spa").run(
        ActionConfirmCancel(), "confirm_cancel", booking_code=booking.code)
    assert texts(msgs)[0].startswith(f"Booking {booking.code} is cancelled.")


def test_the_salons_number_cannot_pay_again_for_a_spa_booking(core, db, xendit):
    salon = salon_chat()
    booking = spa_booking(core, salon.customer)
    core.release_hold(booking.code, 1)  # its link lapsed
    _, msgs = salon.run(ActionPayAgain(), "pay_again", booking_code=booking.code)
    assert texts(msgs) == ["I couldn't find that booking. Would you like to book a treatment?"]
    stored = db.bookings.find_one({"code": booking.code})
    assert stored["status"] == EXPIRED and stored["payment_attempt"] == 1
    assert db.payments.count_documents({}) == 0 and xendit.invoices_for(booking.code) == []


def test_the_salons_number_cannot_move_a_spa_booking(core, db):
    salon = salon_chat()
    booking = spa_booking(core, salon.customer)
    # A forged conversation state: "moving" the spa booking, confirmed with a salon service.
    salon.slots.update(flow="reschedule", booking_code=booking.code, order_id="order-1",
                       slot_chosen_at=core.clock().timestamp())
    _, msgs = salon.run(ActionConfirmBooking(), "confirm_booking", service="haircut-blowdry",
                        slot_time=THU_11.isoformat())
    assert texts(msgs) == [f"I couldn't find an upcoming booking {booking.code} for you."]
    assert buttons(msgs) == MENU
    stored = db.bookings.find_one({"code": booking.code})
    assert stored["start"] == WED_10 and len(stored["history"]) == 1
    assert salon.slots["flow"] is None and salon.slots["booking_code"] is None


# ------------------------------------------------------------------ cancelled while moving
def test_a_booking_cancelled_while_being_moved_is_said_so_and_the_flow_reset(core, db):
    chat = Chat(input_channel="whatsapp", business_id="ubud-serenity-spa")
    booking = spa_booking(core, chat.customer)
    chat.run(ActionRescheduleStep(), "reschedule_booking", text="move it to thursday",
             time="thursday")
    chat.slots.update(slot_time=THU_11.isoformat(), slot_chosen_at=core.clock().timestamp())
    core.cancel(booking.code)  # from another device, meanwhile
    _, msgs = chat.run(ActionConfirmBooking(), "confirm_booking", service="balinese-massage",
                       slot_time=THU_11.isoformat())
    assert texts(msgs) == [f"Booking {booking.code} is cancelled, so it can't be moved. "
                           f"Would you like to book a new time?"]
    assert buttons(msgs) == MENU
    assert chat.slots["flow"] is None and chat.slots["booking_code"] is None
    stored = db.bookings.find_one({"code": booking.code})
    assert stored["status"] == CANCELLED and stored["start"] == WED_10


# ------------------------------------------------------------------ paid, then cancelled
def test_paid_news_after_a_cancel_tells_the_refund_and_sends_no_confirmation(core, db, xendit):
    chat = whatsapp_chat()
    confirm(chat, core)
    payment = settle(core, xendit, db, "PAID")  # NOTICE_PAID written ...
    code = payment["code"]
    core.cancel(code)  # ... and the booking cancelled before it was delivered
    _, msgs = chat.run(ActionPaymentUpdate(), "EXTERNAL_payment_update", booking_code=code,
                       payment=payment["_id"], payment_update="paid")
    assert texts(msgs) == [f"We received your payment of Rp350.000 for {code}, thank you. "
                           f"The booking has been cancelled, so the full amount will be "
                           f"refunded."]
    assert buttons(msgs) == MENU
    assert not any(m.get("custom") for m in msgs)  # no confirmation PDF
    refund = db.refunds.find_one({"_id": payment["_id"]})
    assert refund["amount"] == 350000 and refund["state"] == "NEEDED"
