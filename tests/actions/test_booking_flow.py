"""Booking through the actions: every step's exact messages, slots and stored results."""
from __future__ import annotations

from datetime import datetime, timedelta

from actions.answers import ActionNo, ActionYes
from actions.booking_flow import ActionBookStep, ActionConfirmBooking
from booking.bookings import BookingRequest
from booking.orders import events_collection
from tests.actions.conftest import buttons, texts

STEP, CONFIRM = ActionBookStep(), ActionConfirmBooking()
TUE_15_UTC = "2026-11-24T07:00:00+00:00"  # Tue 24 Nov, 15:00 in Bali


def test_book_by_tapping_every_step(core, chat, db, xendit):
    _, msgs = chat.run(STEP, "book_service")
    assert texts(msgs) == ["Which treatment would you like?"]
    assert buttons(msgs)[0] == ("Balinese Massage", '/book_service{"service":"balinese-massage"}')
    assert len(buttons(msgs)) == 9 and chat.slots["awaiting"] == "service"

    _, msgs = chat.run(STEP, "book_service", service="balinese-massage")
    assert texts(msgs) == ["Which day would you like?"]
    assert buttons(msgs) == [("Today", '/choose_day{"date":"2026-11-23"}'),
                             ("Tomorrow", '/choose_day{"date":"2026-11-24"}'),
                             ("Another day", '/choose_day{"date":"other"}')]

    _, msgs = chat.run(STEP, "choose_day", date="2026-11-24")
    assert texts(msgs) == ["Free times for Balinese Massage on Tue 24 Nov:"]
    times = buttons(msgs)
    assert [t for t, _ in times[:3]] == ["08:00", "08:15", "08:30"]  # Ketut starts at 08:00
    assert times[-1] == ("Later times ▸", '/more_slots{"page":1}') and len(times) == 10

    events, msgs = chat.run(STEP, "choose_slot", slot_time=TUE_15_UTC)
    assert texts(msgs) == ["Please confirm your booking:\nBalinese Massage\n"
                           "Tue 24 Nov, 15:00 (60 min)\nRp350.000"]
    assert buttons(msgs) == [
        ("Confirm", f'/confirm_booking{{"service":"balinese-massage","slot_time":"{TUE_15_UTC}"}}'),
        ("Change time", "/change_time")]
    assert chat.slots["awaiting"] == "confirm_booking"
    assert chat.slots["slot_chosen_at"] == core.clock().timestamp()

    events, msgs = chat.run(CONFIRM, "confirm_booking", service="balinese-massage",
                            slot_time=TUE_15_UTC)
    booking = db.bookings.find_one({"customer_id": chat.customer})
    [invoice] = xendit.invoices_for(booking["code"])
    assert texts(msgs) == [f"Booked ✅\n{booking['code']}: Balinese Massage\n"
                           f"Tue 24 Nov, 15:00 with Wayan\nRp350.000",
                           f"To confirm {booking['code']}, please pay Rp350.000 by 08:30 (the "
                           f"link is valid for 30 minutes).\nPay now: {invoice['invoice_url']}"]
    assert booking["status"] == "PENDING_PAYMENT"
    assert {e["name"] for e in events} >= {"service", "slot_time", "awaiting", "order_id"}
    assert all(e["value"] is None for e in events)
    steps = [e["type"] for e in events_collection(db).find({"order_id": booking["order_id"]})]
    assert steps == ["order_received", "slot_selected", "booking_created", "pending_payment"]


def test_everything_up_front_skips_to_the_card(core, chat):
    _, msgs = chat.run(STEP, "book_service", text="balinese massage tomorrow at 3pm",
                       service="balinese-massage", time="tomorrow at 3pm")
    assert texts(msgs)[0].startswith("Please confirm your booking:\nBalinese Massage\n"
                                     "Tue 24 Nov, 15:00")
    assert chat.slots["slot_time"] == TUE_15_UTC


def test_yes_confirms_and_a_second_tap_books_nothing_more(core, chat, db, xendit):
    chat.run(STEP, "book_service", service="balinese-massage", time="tomorrow at 3pm")
    chat.slots_before_yes = dict(chat.slots)
    _, first = chat.run(ActionYes(), "affirm", text="yes")
    code = db.bookings.find_one({})["code"]
    assert texts(first)[0].startswith(f"Booked ✅\n{code}")
    # The customer taps the old Confirm button again: same order, same slot, same booking.
    chat.slots.update(chat.slots_before_yes)
    _, again = chat.run(CONFIRM, "confirm_booking", service="balinese-massage",
                        slot_time=TUE_15_UTC)
    assert texts(again)[0].startswith(f"Booked ✅\n{code}")
    assert db.bookings.count_documents({}) == 1
    assert texts(again)[1] == texts(first)[1]  # the same payment link
    assert len(xendit.invoices_for(code)) == 1


def test_a_taken_exact_time_offers_the_nearest(core, chat):
    for customer, staff in (("a", "wayan"), ("b", "made"), ("c", "ketut")):
        core.create(BookingRequest("balinese-massage",
                                   datetime.fromisoformat(TUE_15_UTC), customer, staff_id=staff))
    _, msgs = chat.run(STEP, "book_service", service="balinese-massage", time="tomorrow at 3pm")
    assert texts(msgs) == ["Balinese Massage at Tue 24 Nov, 15:00 isn't available. "
                           "The nearest free times are:"]
    # Closest before and after: 13:45 and 16:15 (75 min away), then 13:30 (90 min).
    assert [t for t, _ in buttons(msgs)] == ["Tue 24 Nov, 13:30", "Tue 24 Nov, 13:45",
                                             "Tue 24 Nov, 16:15"]


def test_part_of_day_narrows_the_times(core, chat):
    _, msgs = chat.run(STEP, "book_service", service="natural-facial", time="next friday morning")
    assert texts(msgs) == ["Free times for Natural Glow Facial on Fri 27 Nov:"]
    assert [t for t, _ in buttons(msgs)][:2] == ["09:00", "09:15"]
    assert all(t < "12:00" for t, _ in buttons(msgs) if ":" in t)


def test_later_times_page_on(core, chat):
    chat.run(STEP, "book_service", service="balinese-massage")
    chat.run(STEP, "choose_day", date="2026-11-24")
    _, msgs = chat.run(STEP, "more_slots", page=1)
    assert texts(msgs) == ["Later times for Balinese Massage on Tue 24 Nov:"]
    assert buttons(msgs)[0][0] == "10:15"


def test_a_stale_confirmation_books_nothing_and_offers_three_times(core, chat, clock, db):
    chat.run(STEP, "book_service", service="balinese-massage", time="tomorrow at 3pm")
    clock.now += timedelta(minutes=16)
    _, msgs = chat.run(CONFIRM, "confirm_booking", service="balinese-massage",
                       slot_time=TUE_15_UTC)
    assert texts(msgs) == ["That confirmation is more than 15 minutes old, so I haven't booked "
                           "it. Here are the next free times:"]
    assert len(buttons(msgs)) == 3 and chat.slots["awaiting"] == "slot"
    assert db.bookings.count_documents({}) == 0
    assert events_collection(db).count_documents({"type": "session_expired"}) == 1


def test_a_time_taken_meanwhile_books_nothing_and_offers_alternatives(core, chat, db):
    chat.run(STEP, "book_service", service="four-hands-massage", time="tomorrow at 3pm")
    for customer, staff in (("a", "wayan"), ("b", "made")):  # the only two who do it
        core.create(BookingRequest("four-hands-massage",
                                   datetime.fromisoformat(TUE_15_UTC), customer, staff_id=staff))
    _, msgs = chat.run(CONFIRM, "confirm_booking", service="four-hands-massage",
                       slot_time=TUE_15_UTC)
    assert texts(msgs) == ["Sorry, Tue 24 Nov, 15:00 was just taken. Here are the next free times:"]
    assert [t for t, _ in buttons(msgs)] == ["Tue 24 Nov, 16:15", "Tue 24 Nov, 16:30",
                                             "Tue 24 Nov, 16:45"]
    assert db.bookings.count_documents({"customer_id": chat.customer}) == 0


def test_no_at_the_card_books_nothing(core, chat, db):
    chat.run(STEP, "book_service", service="balinese-massage", time="tomorrow at 3pm")
    _, msgs = chat.run(ActionNo(), "deny", text="no")
    assert texts(msgs) == ["No problem, nothing is booked."]
    assert buttons(msgs) == [("Pick another time", "/change_time"),
                             ("Another treatment", "/book_service")]
    assert chat.slots["slot_time"] is None and db.bookings.count_documents({}) == 0


def test_a_salon_without_upfront_payment_confirms_at_once(core, chat, db):
    chat.input_channel, chat.business_id = "whatsapp", "canggu-glow-salon"
    chat.run(STEP, "book_service", service="manicure", time="tomorrow at 11am")
    _, msgs = chat.run(ActionYes(), "affirm")
    assert texts(msgs)[0].endswith("Tue 24 Nov, 11:00 with Komang\nRp150.000")
    assert db.bookings.find_one({})["status"] == "CONFIRMED"


def test_an_unknown_treatment_is_asked_again_with_close_choices(core, chat):
    _, msgs = chat.run(STEP, "book_service", text="massage tomorrow", service="massage")
    assert texts(msgs) == ["Which treatment would you like?"]
    assert "Hot Stone Massage" in [t for t, _ in buttons(msgs)]
    assert "Natural Glow Facial" not in [t for t, _ in buttons(msgs)]
    assert chat.slots["date"] == "2026-11-24"  # the day said is kept for later


def test_on_whatsapp_the_booking_form_is_offered_with_a_fresh_token(core, chat, db, monkeypatch):
    monkeypatch.setenv("WHATSAPP_FLOW_ID", "1234567890")
    chat.input_channel = "whatsapp"
    _, msgs = chat.run(STEP, "book_service")
    flow = msgs[1]["custom"]["whatsapp"]
    assert (flow["type"], flow["flow_id"], flow["cta"]) == ("flow", "1234567890", "Booking form")
    token = db.flow_tokens.find_one({"_id": flow["flow_token"]})
    assert token["customer_id"] == chat.customer and token["business_id"] == "ubud-serenity-spa"
    assert len(flow["flow_token"]) >= 40
    chat.input_channel = "rest"
    _, msgs = chat.run(STEP, "book_service")
    assert len(msgs) == 1  # other channels get no form


def test_an_indonesian_customer_gets_the_indonesian_form_when_it_is_published(core, chat, db,
                                                                              monkeypatch):
    monkeypatch.setenv("WHATSAPP_FLOW_ID", "1234567890")
    chat.input_channel = "whatsapp"
    chat.slots.update(language="id", language_chosen=True)
    _, msgs = chat.run(STEP, "book_service")
    flow = msgs[1]["custom"]["whatsapp"]
    assert (flow["flow_id"], flow["cta"]) == ("1234567890", "Formulir booking")  # the only one
    monkeypatch.setenv("WHATSAPP_FLOW_ID_ID", "2234567890")
    _, msgs = chat.run(STEP, "book_service")
    flow = msgs[1]["custom"]["whatsapp"]
    assert flow["flow_id"] == "2234567890"
    assert db.flow_tokens.find_one({"_id": flow["flow_token"]})["language"] == "id"
    chat.slots.update(language="en")
    _, msgs = chat.run(STEP, "book_service")
    assert msgs[1]["custom"]["whatsapp"]["flow_id"] == "1234567890"
