"""Abuse limits as the customer meets them: unpaid holds, payment links per booking, and typed
payloads off the slot grid (real mongod, the Xendit stand-in)."""
from __future__ import annotations

from actions.booking_flow import ActionConfirmBooking
from actions.payment import ActionPayAgain
from tests.actions.conftest import Chat, texts
from tests.actions.test_payment_actions import settle

TIMES = ["2026-11-24T07:00:00+00:00", "2026-11-24T08:00:00+00:00",
         "2026-11-25T07:00:00+00:00", "2026-11-26T07:00:00+00:00"]


def confirm(chat: Chat, core, slot_time: str, order: str):
    chat.slots.update(order_id=order, slot_chosen_at=core.clock().timestamp())
    return chat.run(ActionConfirmBooking(), "confirm_booking", service="balinese-massage",
                    slot_time=slot_time)[1]


def test_a_fourth_unpaid_hold_is_refused_with_a_way_forward(core, db, xendit):
    chat = Chat()
    for i, slot_time in enumerate(TIMES[:3]):
        assert texts(confirm(chat, core, slot_time, f"o{i}"))[0].startswith("Booked ✅")
    msgs = confirm(chat, core, TIMES[3], "o3")
    assert texts(msgs) == ["You already have 3 bookings waiting for payment. Please pay or "
                           "cancel one of them before booking another."]
    assert msgs[0]["buttons"][0]["payload"] == "/my_bookings"
    assert db.bookings.count_documents({"customer_id": chat.customer}) == 3
    assert texts(confirm(Chat(sender="6280000000001"), core, TIMES[3], "p0"))[0].startswith(
        "Booked ✅")


def test_pay_again_cannot_hold_a_time_forever(core, db, xendit):
    chat = Chat()
    confirm(chat, core, TIMES[0], "o0")
    code = db.bookings.find_one()["code"]
    for attempt in range(2):  # links 2 and 3
        settle(core, xendit, db, "EXPIRED")
        _, msgs = chat.run(ActionPayAgain(), "pay_again", booking_code=code)
        assert "please pay" in str(msgs), msgs
    settle(core, xendit, db, "EXPIRED")
    _, msgs = chat.run(ActionPayAgain(), "pay_again", booking_code=code)
    assert texts(msgs) == ["This booking has had 3 payment links already, so I can't hold its "
                           "time again. You're welcome to book a new time."]
    assert db.bookings.find_one({"code": code})["status"] == "EXPIRED"
    assert db.payments.count_documents({"code": code}) == 3


def test_a_typed_time_off_the_slot_grid_books_nothing(core, db):
    chat = Chat()
    msgs = confirm(chat, core, "2026-11-24T07:07:00+00:00", "o0")  # 15:07 in Bali
    assert texts(msgs)[0].startswith("Sorry, bookings start every 15 minutes.")
    assert db.bookings.count_documents({}) == 0
