"""Deposits in the chat, on a real mongod: the confirmation card says what is paid now and
until when it cancels free; the invoice asks the deposit; cancelling says, before and after,
whether the deposit comes back (early) or is kept (late)."""
from __future__ import annotations

from datetime import timedelta

from actions.booking_flow import ActionBookStep, ActionConfirmBooking
from actions.manage import ActionCancelStep, ActionConfirmCancel
from tests.actions.conftest import texts

WED_15_UTC = "2026-11-25T07:00:00+00:00"  # Wed 25 Nov, 15:00 in Bali; the clock: Mon 08:00


def booked_four_hands(chat, xendit, db):
    chat.run(ActionBookStep(), "book_service", service="four-hands-massage")
    _, card = chat.run(ActionBookStep(), "choose_slot", slot_time=WED_15_UTC)
    _, msgs = chat.run(ActionConfirmBooking(), "confirm_booking", service="four-hands-massage",
                       slot_time=WED_15_UTC)
    booking = db.bookings.find_one({"customer_id": chat.customer})
    return card, msgs, booking


def test_the_card_says_the_deposit_the_rest_and_the_free_cancellation(core, chat, xendit, db):
    card, msgs, booking = booked_four_hands(chat, xendit, db)
    assert texts(card) == ["Please confirm your booking:\nFour Hands Massage\n"
                           "Wed 25 Nov, 15:00 (60 min)\nRp650.000\n"
                           "Deposit to pay now: Rp195.000; the rest, Rp455.000, at your visit.\n"
                           "Free cancellation until Tue 24 Nov, 15:00. After that, or if you "
                           "don't come, the deposit is kept."]
    [invoice] = xendit.invoices_for(booking["code"])
    assert invoice["amount"] == 195000 and booking["amount_due"] == 195000
    assert f"please pay Rp195.000" in texts(msgs)[1]


def paid(core, db, code: str) -> None:
    """The deposit is paid (what the Xendit webhook does)."""
    payment = db.payments.find_one({"code": code})
    core.settle_payment(code, payment["_id"])


def test_cancelling_early_says_the_deposit_comes_back(core, chat, xendit, db):
    _, _, booking = booked_four_hands(chat, xendit, db)
    paid(core, db, booking["code"])
    _, msgs = chat.run(ActionCancelStep(), "cancel_booking", booking_code=booking["code"])
    assert texts(msgs)[0].endswith("\nThe Rp195.000 you paid would be refunded.")
    _, msgs = chat.run(ActionConfirmCancel(), "confirm_cancel", booking_code=booking["code"])
    assert texts(msgs) == [f"Booking {booking['code']} is cancelled. Your payment of Rp195.000 "
                           "will be refunded. Hope to see you another time 🌺"]


def test_cancelling_late_says_the_deposit_is_kept_before_and_after(core, chat, xendit, db,
                                                                    clock):
    _, _, booking = booked_four_hands(chat, xendit, db)
    paid(core, db, booking["code"])
    clock.now += timedelta(days=1, hours=8)  # Tue 16:00: 23 hours before the visit
    _, msgs = chat.run(ActionCancelStep(), "cancel_booking", booking_code=booking["code"])
    assert texts(msgs)[0].endswith("\nFree cancellation ended at Tue 24 Nov, 15:00, so the "
                                   "Rp195.000 you paid would be kept.")
    _, msgs = chat.run(ActionConfirmCancel(), "confirm_cancel", booking_code=booking["code"])
    assert texts(msgs) == [f"Booking {booking['code']} is cancelled. As free cancellation had "
                           "ended, the Rp195.000 you paid is kept. Hope to see you another time "
                           "🌺"]
    assert db.refunds.count_documents({}) == 0
    assert db.bookings.find_one({"code": booking["code"]})["payment_kept"] is True


def test_a_refund_promised_before_the_window_ended_is_asked_again_not_kept(core, chat, xendit,
                                                                             db, clock):
    _, _, booking = booked_four_hands(chat, xendit, db)
    paid(core, db, booking["code"])
    clock.now += timedelta(days=1, hours=6, minutes=59)  # Tue 14:59: one minute still free
    _, question = chat.run(ActionCancelStep(), "cancel_booking", booking_code=booking["code"])
    assert "would be refunded" in texts(question)[0]
    chat.history.append({"event": "bot", "text": texts(question)[0],
                         "data": {"buttons": question[0]["buttons"]}})
    clock.now += timedelta(minutes=2)  # they tap Yes at 15:01
    _, msgs = chat.run(ActionConfirmCancel(), "confirm_cancel", booking_code=booking["code"])
    assert texts(msgs)[0].startswith("Cancel this booking?")
    assert "would be kept" in texts(msgs)[0]
    assert db.bookings.find_one({"code": booking["code"]})["status"] == "CONFIRMED"
