"""A typed message while a booking question is open is read as its answer, whatever intent
the NLU gave it (the action server on a real mongod, the seed catalog, Monday 23 Nov 08:00 in
Bali): times typed at the time list, corrections at the confirmation card, "never mind"."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from actions.answers import ActionContinue, ActionNo, ActionYes
from actions.booking_flow import ActionBookStep
from actions.info import ActionFallback
from actions.manage import ActionCancelStep, ActionRescheduleStep
from tests.actions.conftest import Chat, buttons, texts

SPA = "ubud-serenity-spa"


def shown(chat: Chat, msgs: list[dict[str, Any]]) -> None:
    """The bot's last message, as Rasa keeps it in the conversation."""
    chat.history = [{"event": "bot", "text": m.get("text"), "data": {"buttons": m.get("buttons")}}
                    for m in msgs]


def times_on_wednesday(chat: Chat) -> list[str]:
    _, msgs = chat.run(ActionBookStep(), "book_service", text="balinese massage on wednesday",
                       service="balinese-massage")
    assert texts(msgs)[0].startswith("Free times for Balinese Massage on Wed 25 Nov"), texts(msgs)
    shown(chat, msgs)
    return [title for title, _ in buttons(msgs)]


def card(msgs: list[dict[str, Any]]) -> str:
    text = texts(msgs)[-1]
    assert text.startswith("Please confirm your booking:"), texts(msgs)
    return text


def test_a_time_typed_at_the_time_list_is_that_time_whatever_the_intent(core):
    for intent, action, typed, expected in [
            ("inform", ActionContinue(), "5pm", "17:00"),
            ("inform", ActionContinue(), "17.00", "17:00"),
            ("nlu_fallback", ActionFallback(), "the 3 o'clock one", "15:00"),
            ("choose_slot", ActionBookStep(), "the first one", "09:00"),
            ("choose_slot", ActionBookStep(), "earliest", "09:00"),
            ("nlu_fallback", ActionFallback(), "anything after 4", "16:00")]:
        chat = Chat(business_id=SPA)
        offered = times_on_wednesday(chat)
        assert offered[0] == "09:00"
        _, msgs = chat.run(action, intent, text=typed)
        assert f"Wed 25 Nov, {expected}" in card(msgs), (typed, card(msgs))
        assert chat.slots["awaiting"] == "confirm_booking"
        assert chat.slots.get("people") in (None, "1"), typed  # "17.00" is no number of people


def test_a_typed_time_that_is_not_free_gets_the_nearest_free_times(core):
    chat = Chat(business_id=SPA)
    times_on_wednesday(chat)
    _, msgs = chat.run(ActionContinue(), "inform", text="at 7am")
    assert "isn't available. The nearest free times are:" in texts(msgs)[0]
    assert chat.slots["awaiting"] == "slot"


def test_corrections_at_the_card_keep_what_still_holds(core):
    for action, intent, typed, expected in [
            (ActionNo(), "deny", "no, make it 1pm", "Wed 25 Nov, 13:00"),
            (ActionContinue(), "inform", "actually friday", "Fri 27 Nov, 10:00"),
            (ActionRescheduleStep(), "reschedule_booking", "can it be with Wayan instead",
             "with Wayan"),
            (ActionBookStep(), "book_service", "make it a deep tissue instead",
             "Deep Tissue Massage")]:
        chat = Chat(business_id=SPA)
        times_on_wednesday(chat)
        _, msgs = chat.run(ActionContinue(), "inform", text="10am")
        assert "Wed 25 Nov, 10:00" in card(msgs)
        shown(chat, msgs)
        _, msgs = chat.run(action, intent, text=typed)
        assert expected in card(msgs), (typed, card(msgs))


def test_for_two_people_at_the_card_shows_the_card_again_for_two(core):
    chat = Chat(business_id=SPA)
    times_on_wednesday(chat)
    _, msgs = chat.run(ActionContinue(), "inform", text="10am")
    shown(chat, msgs)
    _, msgs = chat.run(ActionContinue(), "inform", text="for 2 people", people="2")
    assert "Wed 25 Nov, 10:00" in card(msgs) and "For 2 people" in card(msgs)


def test_a_plain_no_at_the_card_stays_a_no(core):
    chat = Chat(business_id=SPA)
    times_on_wednesday(chat)
    _, msgs = chat.run(ActionContinue(), "inform", text="10am")
    shown(chat, msgs)
    _, msgs = chat.run(ActionNo(), "deny", text="no")
    assert texts(msgs) == ["No problem, nothing is booked."]
    _, msgs = chat.run(ActionYes(), "affirm", text="yes")  # nothing to confirm any more
    assert not texts(msgs)[0].startswith("Booked")


def test_never_mind_drops_the_order_in_progress(core, db):
    for action, intent, typed in [(ActionNo(), "deny", "never mind"),
                                  (ActionCancelStep(), "cancel_booking", "cancel that")]:
        chat = Chat(business_id=SPA)
        times_on_wednesday(chat)
        _, msgs = chat.run(action, intent, text=typed)
        assert texts(msgs)[0] == "OK, I've dropped that booking: nothing is booked."
        assert chat.slots["awaiting"] is None and chat.slots["service"] is None
    assert db.bookings.count_documents({}) == 0


def test_a_treatment_by_its_place_in_the_list(core):
    chat = Chat(business_id=SPA)
    _, msgs = chat.run(ActionBookStep(), "book_service", text="I'd like to book")
    assert texts(msgs)[0] == "Which treatment would you like?"
    second = buttons(msgs)[1][0]
    shown(chat, msgs)
    _, msgs = chat.run(ActionFallback(), "nlu_fallback", text="the second one")
    assert chat.slots["service"] is not None and texts(msgs)[0] == "Which day would you like?"
    assert second.split(" ")[0] in {s.name.split(" ")[0] for s in core.catalog.services.values()
                                    if s.id == chat.slots["service"]}


def test_a_tap_is_never_reread(core):
    chat = Chat(business_id=SPA)
    times_on_wednesday(chat)
    payload = '/choose_slot{"slot_time":"2026-11-25T03:00:00+00:00"}'
    _, msgs = chat.run(ActionBookStep(), "choose_slot", text=payload,
                       slot_time="2026-11-25T03:00:00+00:00")
    assert "Wed 25 Nov, 11:00" in card(msgs)


def massage_and_facial(core: Any, chat: Chat) -> tuple[Any, Any]:
    """The chat's customer's two bookings: a massage Wed 25 Nov 10:00, a facial Fri 27 11:00."""
    from booking.bookings import BookingRequest
    return (core.create(BookingRequest("balinese-massage",
                                       datetime(2026, 11, 25, 2, 0, tzinfo=timezone.utc),
                                       chat.customer, staff_id="wayan")),
            core.create(BookingRequest("natural-facial",
                                       datetime(2026, 11, 27, 3, 0, tzinfo=timezone.utc),
                                       chat.customer, staff_id="nyoman")))


def test_which_booking_by_place_or_description(core, db):
    chat = Chat(business_id=SPA)
    first, second = massage_and_facial(core, chat)
    _, msgs = chat.run(ActionCancelStep(), "cancel_booking", text="cancel my booking")
    shown(chat, msgs)
    _, msgs = chat.run(ActionFallback(), "nlu_fallback", text="the second one")
    assert texts(msgs)[0].startswith(f"Cancel this booking?\n{second.code}")
    chat.slots.update(awaiting="which_cancel", booking_code=None)
    _, msgs = chat.run(ActionBookStep(), "book_service", text="the massage on wednesday")
    assert texts(msgs)[0].startswith(f"Cancel this booking?\n{first.code}")
    chat.slots.update(awaiting="which_cancel", booking_code=None)
    _, msgs = chat.run(ActionNo(), "deny", text="never mind")
    assert texts(msgs)[0] == "OK, nothing changed."
    assert {b["status"] for b in db.bookings.find()} == {"PENDING_PAYMENT"}


def test_a_price_asked_at_the_time_list_is_answered_then_the_times_come_back(core):
    from actions.info import ActionShowPrice

    chat = Chat(business_id=SPA)
    offered = times_on_wednesday(chat)
    _, msgs = chat.run(ActionShowPrice(), "ask_price", text="how much is it?")
    assert texts(msgs)[0] == "Balinese Massage (60 min) is Rp350.000."
    assert texts(msgs)[1] == "Back to your booking: Free times for Balinese Massage on Wed 25 Nov:"
    assert [t for t, _ in buttons(msgs)] == offered
    assert chat.slots["awaiting"] == "slot"
    _, msgs = chat.run(ActionContinue(), "inform", text="5pm")
    assert "Wed 25 Nov, 17:00" in card(msgs)


def test_which_booking_by_its_time_to_cancel_or_its_treatment_and_day_to_move(core, db):
    chat = Chat(business_id=SPA)
    first, second = massage_and_facial(core, chat)
    _, msgs = chat.run(ActionCancelStep(), "cancel_booking", text="scrap my booking")
    shown(chat, msgs)
    _, msgs = chat.run(ActionContinue(), "inform", text="the 11am one")
    assert texts(msgs)[0].startswith(f"Cancel this booking?\n{second.code}"), texts(msgs)
    chat.slots.update(awaiting=None, booking_code=None)
    _, msgs = chat.run(ActionRescheduleStep(), "reschedule_booking", text="I need to reschedule")
    assert texts(msgs)[0] == "Which booking would you like to reschedule?"
    shown(chat, msgs)
    _, msgs = chat.run(ActionBookStep(), "book_service", text="the massage on wednesday",
                       service="massage")  # as the NLU reads it
    assert chat.slots["booking_code"] == first.code, texts(msgs)
    assert chat.slots["awaiting"] == "day", texts(msgs)
    _, msgs = chat.run(ActionContinue(), "inform", text="thursday")
    shown(chat, msgs)
    _, msgs = chat.run(ActionContinue(), "inform", text="the first one")
    assert texts(msgs)[-1].startswith("Move booking"), texts(msgs)
    _, msgs = chat.run(ActionYes(), "affirm", text="yes")
    assert texts(msgs)[0].startswith("Done, your booking is moved"), texts(msgs)
    moved = db.bookings.find_one({"code": first.code})
    assert moved["start"].day == 26 and db.bookings.find_one({"code": second.code})["start"] \
        .replace(tzinfo=timezone.utc) == second.start


def test_whats_included_at_the_time_list_is_answered_then_the_times_come_back(core):
    from actions.info import ActionListServices

    for action, intent in [(ActionFallback(), "nlu_fallback"), (ActionContinue(), "affirm"),
                           (ActionListServices(), "ask_services")]:
        chat = Chat(business_id=SPA)
        offered = times_on_wednesday(chat)
        _, msgs = chat.run(action, intent, text="what's included?")
        assert texts(msgs)[0] == ("Balinese Massage — 60 min, Rp350.000. Traditional "
                                  "full-body massage with warm coconut oil."), intent
        assert texts(msgs)[1].startswith("Back to your booking: Free times for Balinese")
        assert [t for t, _ in buttons(msgs)] == offered and chat.slots["awaiting"] == "slot"
        _, msgs = chat.run(ActionContinue(), "inform", text="5pm")
        assert "Wed 25 Nov, 17:00" in card(msgs)
    # about something that is no treatment: not read as a question about the massage
    chat = Chat(business_id=SPA)
    times_on_wednesday(chat)
    _, msgs = chat.run(ActionFallback(), "nlu_fallback", text="tell me about the payment")
    assert not texts(msgs)[0].startswith("Balinese Massage —"), texts(msgs)


def test_tell_me_more_about_a_treatment_outside_a_booking_offers_to_book_it(core):
    from actions.info import ActionListServices

    chat = Chat(business_id=SPA)
    _, msgs = chat.run(ActionListServices(), "ask_services",
                       text="tell me more about the hot stone massage")
    assert texts(msgs) == ["Hot Stone Massage — 75 min, Rp500.000. Heated volcanic stones and "
                           "long strokes."]
    assert buttons(msgs) == [("Book it", '/book_service{"service":"hot-stone-massage"}')]
    _, msgs = chat.run(ActionFallback(), "nlu_fallback", text="what's included?")
    assert texts(msgs)[0].startswith("Which treatment would you like to know about?")
    assert len(buttons(msgs)) > 3  # the treatments, to tap


def test_a_time_typed_in_indonesian_is_that_time_and_the_card_is_in_indonesian(core):
    chat = Chat(business_id=SPA)
    times_on_wednesday(chat)
    _, msgs = chat.run(ActionContinue(), "inform", text="jam 5 sore aja")
    assert "Rab, 25 Nov, 17.00" in texts(msgs)[-1]
    assert chat.slots["awaiting"] == "confirm_booking" and chat.slots["language"] == "id"


def test_out_of_scope_at_the_time_list_says_so_then_the_times_come_back(core):
    from actions.info import ActionOutOfScope

    chat = Chat(business_id=SPA)
    offered = times_on_wednesday(chat)
    _, msgs = chat.run(ActionOutOfScope(), "out_of_scope", text="what's the weather like?")
    assert texts(msgs)[0].startswith("Sorry, I can't help with that.")
    assert texts(msgs)[1].startswith("Back to your booking: Free times for Balinese")
    assert [t for t, _ in buttons(msgs)] == offered and chat.slots["awaiting"] == "slot"
    # what a treatment includes, which the NLU takes for out of scope, is answered
    _, msgs = chat.run(ActionOutOfScope(), "out_of_scope",
                       text="tell me more about the hot stone")
    assert texts(msgs)[0].startswith("Hot Stone Massage — 75 min") and len(msgs) == 2
    # outside a booking: what the assistant does, and the menu
    _, msgs = Chat(business_id=SPA).run(ActionOutOfScope(), "out_of_scope", text="weather?")
    assert texts(msgs)[1:] == ["What would you like to do?"]
    assert texts(msgs)[0].startswith("Sorry, I can't help with that.")


def test_small_talk_the_nlu_confuses_with_an_answer_is_read_as_the_answer_first(core):
    """"anyone is fine" at the time list is close to "are you a bot?" for the NLU: it is read
    as the answer; "are you a bot?" itself is no answer and gets the bot's own reply."""
    from actions.small_talk import ActionBotChallenge

    chat = Chat(business_id=SPA)
    times_on_wednesday(chat)
    _, msgs = chat.run(ActionBotChallenge(), "bot_challenge", text="5pm")
    assert "Wed 25 Nov, 17:00" in card(msgs)
    chat = Chat(business_id=SPA)
    times_on_wednesday(chat)
    _, msgs = chat.run(ActionBotChallenge(), "bot_challenge", text="are you a bot?")
    assert texts(msgs)[0].startswith("I'm a booking assistant (a bot)"), texts(msgs)
    assert chat.slots["awaiting"] == "slot"  # the time list is still open


def test_a_digression_that_changes_the_language_asks_the_open_question_anew_in_it(core):
    """A price asked in Indonesian at the (English) day question: the price, then the day
    question again in Indonesian, not the English one replayed."""
    from actions.info import ActionShowPrice

    chat = Chat(business_id=SPA)
    _, msgs = chat.run(ActionBookStep(), "book_service", text="balinese massage please",
                       service="balinese-massage")
    assert texts(msgs)[0] == "Which day would you like?"
    shown(chat, msgs)
    _, msgs = chat.run(ActionShowPrice(), "ask_price", text="berapa harganya kak?")
    assert texts(msgs)[0] == "Harga Pijat Bali (60 menit) adalah Rp350.000.", texts(msgs)
    assert texts(msgs)[-1] == "Anda ingin hari apa?", texts(msgs)
    assert [title for title, _ in buttons(msgs)][:2] == ["Hari ini", "Besok"]
    assert chat.slots["service"] == "balinese-massage" and chat.slots["awaiting"] == "day"
