"""My bookings, cancel, reschedule, catalog answers, handoff, fallback, failures."""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.answers import ActionContinue, ActionNo, ActionYes
from actions.base import use_booking_service
from actions.booking_flow import ActionBookStep, ActionConfirmBooking
from actions.info import (ActionFallback, ActionListServices, ActionSessionStart,
                          ActionShowPrice)
from actions.manage import ActionCancelStep, ActionConfirmCancel, ActionMyBookings, ActionRescheduleStep
from booking.bookings import BookingRequest
from tests.actions.conftest import buttons, texts

WED_10 = datetime(2026, 11, 25, 2, 0, tzinfo=timezone.utc)  # Wed 25 Nov, 10:00 Bali
THU_11 = datetime(2026, 11, 26, 3, 0, tzinfo=timezone.utc)  # Thu 26 Nov, 11:00 Bali


def book(core, chat, start, service="balinese-massage", staff="wayan"):
    return core.create(BookingRequest(service, start, chat.customer, staff_id=staff))


def test_my_bookings_lists_upcoming_ones(core, chat):
    _, msgs = chat.run(ActionMyBookings(), "my_bookings")
    assert texts(msgs) == ["You have no upcoming bookings."]
    first, second = book(core, chat, WED_10), book(core, chat, THU_11, "natural-facial", "nyoman")
    _, msgs = chat.run(ActionMyBookings(), "my_bookings")
    assert texts(msgs) == [
        "Your upcoming bookings:\n\n"
        f"{first.code}: Balinese Massage\nWed 25 Nov, 10:00 with Wayan\nRp350.000 (waiting for payment)\n\n"
        f"{second.code}: Natural Glow Facial\nThu 26 Nov, 11:00 with Nyoman\nRp380.000 (waiting for payment)"]


def test_cancel_with_several_bookings_asks_which_then_confirms(core, chat, db):
    first, second = book(core, chat, WED_10), book(core, chat, THU_11)
    _, msgs = chat.run(ActionCancelStep(), "cancel_booking", text="cancel my booking")
    assert texts(msgs) == ["Which booking would you like to cancel?"]
    assert buttons(msgs) == [
        ("Wed 25 Nov, 10:00", f'/cancel_booking{{"booking_code":"{first.code}"}}'),
        ("Thu 26 Nov, 11:00", f'/cancel_booking{{"booking_code":"{second.code}"}}')]
    assert chat.slots["awaiting"] == "which_cancel"

    _, msgs = chat.run(ActionContinue(), "inform", text=second.code.lower(),
                       booking_code=second.code.lower())
    assert texts(msgs)[0].startswith(f"Cancel this booking?\n{second.code}: Balinese Massage")
    assert buttons(msgs) == [("Yes, cancel it", f'/confirm_cancel{{"booking_code":"{second.code}"}}'),
                             ("No, keep it", "/deny")]

    _, msgs = chat.run(ActionYes(), "affirm", text="yes")
    assert texts(msgs) == [f"Booking {second.code} is cancelled. Hope to see you another time 🌺"]
    assert db.bookings.find_one({"code": second.code})["status"] == "CANCELLED"
    assert db.bookings.find_one({"code": first.code})["status"] == "PENDING_PAYMENT"


def test_no_to_cancelling_keeps_the_booking(core, chat, db):
    only = book(core, chat, WED_10)
    chat.run(ActionCancelStep(), "cancel_booking")
    _, msgs = chat.run(ActionNo(), "deny")
    assert texts(msgs) == [f"OK, booking {only.code} stays as it is."]
    assert db.bookings.find_one({"code": only.code})["status"] == "PENDING_PAYMENT"


def test_someone_elses_code_cannot_be_cancelled(core, chat, db):
    other = core.create(BookingRequest("balinese-massage", WED_10, "someone-else"))
    _, msgs = chat.run(ActionConfirmCancel(), "confirm_cancel", booking_code=other.code)
    assert texts(msgs) == [f"I couldn't find a booking {other.code} for you."]
    assert db.bookings.find_one({"code": other.code})["status"] == "PENDING_PAYMENT"


def test_reschedule_picks_a_new_time_and_moves_the_booking(core, chat, db):
    booking = book(core, chat, WED_10)
    _, msgs = chat.run(ActionRescheduleStep(), "reschedule_booking", text="move it to thursday",
                       time="thursday")
    assert texts(msgs) == ["Free times for Balinese Massage on Thu 26 Nov:"]
    assert chat.slots["flow"] == "reschedule" and chat.slots["booking_code"] == booking.code
    _, msgs = chat.run(ActionBookStep(), "choose_slot", slot_time=THU_11.isoformat())
    assert texts(msgs) == [f"Move booking {booking.code} to:\nBalinese Massage\n"
                           "Thu 26 Nov, 11:00 (60 min)\nRp350.000"]
    _, msgs = chat.run(ActionConfirmBooking(), "confirm_booking", service="balinese-massage",
                       slot_time=THU_11.isoformat())
    assert texts(msgs)[0].startswith(f"Done, your booking is moved ✅\n{booking.code}")
    stored = db.bookings.find_one({"code": booking.code})
    assert stored["start"] == THU_11 and stored["status"] == "PENDING_PAYMENT"
    assert db.bookings.count_documents({}) == 1


def test_reschedule_to_a_day_its_therapist_does_not_work_moves_it_to_another(core, chat, db):
    # Made does not work on Mondays; Wayan does the same massage (a booking made with "anyone"
    # was given to whoever was free, so its day can change to anyone's free time)
    booking = book(core, chat, WED_10, staff="made")
    _, msgs = chat.run(ActionRescheduleStep(), "reschedule_booking", text="move it to monday",
                       time="monday")
    assert texts(msgs) == ["Free times for Balinese Massage on Mon 23 Nov:"] and buttons(msgs)
    monday_11 = datetime(2026, 11, 23, 3, 0, tzinfo=timezone.utc)
    _, msgs = chat.run(ActionBookStep(), "choose_slot", slot_time=monday_11.isoformat())
    assert texts(msgs) == [f"Move booking {booking.code} to:\nBalinese Massage\n"
                           "Mon 23 Nov, 11:00 (60 min)\nRp350.000"]
    _, msgs = chat.run(ActionConfirmBooking(), "confirm_booking", service="balinese-massage",
                       slot_time=monday_11.isoformat())
    assert "Mon 23 Nov, 11:00 with Wayan" in texts(msgs)[0]
    stored = db.bookings.find_one({"code": booking.code})
    assert (stored["start"], stored["staff_id"]) == (monday_11, "wayan")


def test_a_therapist_named_in_a_reschedule_takes_the_moved_booking(core, chat, db):
    booking = book(core, chat, WED_10)  # with Wayan
    chat.run(ActionRescheduleStep(), "reschedule_booking", text="move it to thursday",
             time="thursday")
    chat.run(ActionContinue(), "inform", text="with Made", staff="made")
    _, msgs = chat.run(ActionBookStep(), "choose_slot", slot_time=THU_11.isoformat())
    assert texts(msgs)[0].startswith(f"Move booking {booking.code} to:\nBalinese Massage with "
                                     "Made\n")
    chat.run(ActionConfirmBooking(), "confirm_booking", service="balinese-massage",
             slot_time=THU_11.isoformat())
    stored = db.bookings.find_one({"code": booking.code})
    assert (stored["start"], stored["staff_id"]) == (THU_11, "made")


def test_services_and_prices_come_from_the_catalog(core, chat):
    _, msgs = chat.run(ActionListServices(), "ask_services")
    text = texts(msgs)[0]
    assert text.startswith("At Ubud Serenity Spa we offer:\n\nMassage\n"
                           "• Balinese Massage — 60 min, Rp350.000\n")
    assert "Body Treatments\n• Balinese Boreh Scrub — 45 min, Rp300.000" in text
    _, msgs = chat.run(ActionShowPrice(), "ask_price", service="hot-stone-massage")
    assert texts(msgs) == ["Hot Stone Massage (75 min) is Rp500.000."]
    assert buttons(msgs) == [("Book it", '/book_service{"service":"hot-stone-massage"}')]
    chat.slots.clear()
    _, msgs = chat.run(ActionShowPrice(), "ask_price")
    assert texts(msgs)[0].startswith("Our prices:\n\nMassage\n")


def test_fallback_rephrases_and_offers_the_menu(core, chat):
    _, msgs = chat.run(ActionFallback(), "nlu_fallback", text="asdf qwerty")
    assert texts(msgs)[0].startswith("Sorry, I didn't quite get that.")
    assert [t for t, _ in buttons(msgs)] == ["Book a treatment", "My bookings", "Talk to a person"]


def test_a_failing_action_still_answers(core, chat):
    def broken():
        raise ConnectionError("database unreachable")

    use_booking_service(broken)
    _, msgs = chat.run(ActionMyBookings(), "my_bookings")
    assert msgs == [{"response": "utter_technical_problem", "text": None, "buttons": [],
                     "elements": [], "custom": {}, "template": "utter_technical_problem",
                     "image": None, "attachment": None}]


def test_a_new_session_keeps_only_name_and_language():
    tracker = Tracker.from_dict({"sender_id": "s", "slots": {
        "customer_name": "Ayu", "language": "en", "service": "balinese-massage",
        "awaiting": "confirm_booking"}, "latest_message": {}, "events": []})
    events = asyncio.run(ActionSessionStart().run(CollectingDispatcher(), tracker, {}))
    assert events == [{"event": "session_started", "timestamp": None},
                      {"event": "slot", "timestamp": None, "name": "customer_name", "value": "Ayu"},
                      {"event": "slot", "timestamp": None, "name": "language", "value": "en"},
                      {"event": "action", "timestamp": None, "name": "action_listen",
                       "policy": None, "confidence": None}]


def test_booking_choices_fit_a_reply_button_in_both_languages():
    """A reply button shows 20 characters: the moment alone fits ("Rab, 25 Nov, 10.00");
    two bookings at one moment are told apart by their codes."""
    from datetime import datetime, timezone
    from types import SimpleNamespace
    from zoneinfo import ZoneInfo

    from actions.manage import pick_titles
    from booking.i18n import texts as catalog_texts

    at = datetime(2026, 11, 25, 2, 0, tzinfo=timezone.utc)  # 10:00 in Bali
    bookings = [SimpleNamespace(code="BK111111", start=at),
                SimpleNamespace(code="BK222222", start=at),
                SimpleNamespace(code="BK333333", start=at.replace(day=26))]
    for language, first in (("en", "BK111111 10:00"), ("id", "BK111111 10.00")):
        turn = SimpleNamespace(tx=catalog_texts(language), tz=ZoneInfo("Asia/Makassar"))
        titles = pick_titles(bookings, turn)
        assert titles[0] == first and titles[1].startswith("BK222222")
        assert titles[2] in ("Thu 26 Nov, 10:00", "Kam, 26 Nov, 10.00")
        assert all(len(t) <= 20 for t in titles), titles
