"""The business's changes told in the customer's chat (``action_booking_update``), on a real
mongod: only news the server wrote, only in the booking's own conversation."""
from __future__ import annotations

from datetime import datetime, timezone

from actions.desk_news import ActionBookingUpdate
from booking.bookings import BookingRequest
from booking.desk import FrontDesk
from tests.actions.conftest import Chat, buttons, texts

SPA_NUMBER = "110000000000001"
TUE_15 = datetime(2026, 11, 24, 7, 0, tzinfo=timezone.utc)  # 15:00 in Bali
TUE_16 = datetime(2026, 11, 24, 8, 0, tzinfo=timezone.utc)


def whatsapp_chat(sender: str = "6281234567890") -> Chat:
    return Chat(sender=sender, input_channel="whatsapp",
                metadata={"phone_number_id": SPA_NUMBER})


def booked(core, customer: str = "6281234567890"):
    return core.create(BookingRequest(service_id="balinese-massage", start=TUE_15,
                                      customer_id=customer, customer_name="Ayu",
                                      staff_id="wayan"))


def news(db, chat: Chat, code: str, notice: str):
    """The notice as the server tells it: claimed by its sender first."""
    db.booking_notices.update_one({"_id": notice}, {"$set": {"state": "SENDING"}})
    return chat.run(ActionBookingUpdate(), "EXTERNAL_booking_update", booking_code=code,
                    notice=notice)


def test_a_move_by_the_business_is_told_with_the_new_time(core, db):
    booking = booked(core)
    FrontDesk(core).reschedule("ubud-serenity-spa", booking.code, TUE_16, None, "owner")
    notice = db.booking_notices.find_one()
    events, msgs = news(db, whatsapp_chat(), booking.code, notice["_id"])
    assert texts(msgs) == [f"Ubud Serenity Spa has moved your booking {booking.code}: Balinese "
                           f"Massage is now on Tue 24 Nov, 16:00 with Wayan. Reply here if that "
                           f"time does not suit you."]
    assert ("My bookings", "/my_bookings") in buttons(msgs)


def test_a_cancellation_by_the_business_offers_to_book_again(core, db):
    booking = booked(core)
    FrontDesk(core).cancel("ubud-serenity-spa", booking.code, "owner")
    notice = db.booking_notices.find_one()
    _, msgs = news(db, whatsapp_chat(), booking.code, notice["_id"])
    assert texts(msgs) == [f"Sorry: Ubud Serenity Spa has cancelled your booking {booking.code} "
                           f"(Balinese Massage, Tue 24 Nov, 15:00)."]
    assert buttons(msgs)[0] == ("Book again", '/book_service{"service":"balinese-massage"}')


def test_typed_news_or_news_for_someone_else_says_nothing_of_the_booking(core, db):
    booking = booked(core)
    FrontDesk(core).cancel("ubud-serenity-spa", booking.code, "owner")
    notice = db.booking_notices.find_one()
    _, forged = news(db, whatsapp_chat(), booking.code, f"{booking.code}:cancelled:9")
    assert not any(booking.code in (t or "") for t in texts(forged))  # the menu instead
    _, other = news(db, whatsapp_chat("6289999999999"), booking.code, notice["_id"])
    assert other == []


def test_news_is_told_once_and_a_later_change_supersedes_it(core, db):
    booking = booked(core)
    desk = FrontDesk(core)
    desk.reschedule("ubud-serenity-spa", booking.code, TUE_16, None, "owner")
    desk.cancel("ubud-serenity-spa", booking.code, "owner")
    moved, cancelled = list(db.booking_notices.find().sort("version", 1))
    _, told_moved = news(db, whatsapp_chat(), booking.code, moved["_id"])
    assert told_moved == []  # moved, then cancelled: only the cancellation is told
    _, first = news(db, whatsapp_chat(), booking.code, cancelled["_id"])
    _, again = news(db, whatsapp_chat(), booking.code, cancelled["_id"])
    assert "has cancelled your booking" in texts(first)[0] and again == []
    assert db.booking_notices.find_one({"_id": cancelled["_id"]})["told_at"]
