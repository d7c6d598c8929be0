"""Asking for a person, the automatic flags and the bot's return, as the action server runs
them (real mongod, the seed catalog, a settable clock)."""
from __future__ import annotations

from datetime import datetime, timezone

from actions.base import use_booking_service
from actions.handoff import ActionHandback, ActionHandoff
from actions.info import ActionFallback
from actions.manage import ActionMyBookings
from booking.conversations import Conversations
from tests.actions.conftest import Chat, buttons, texts

SPA = "ubud-serenity-spa"


def state(db, customer: str):
    conversation = Conversations(db).of_customer(SPA, customer)
    return conversation and (conversation.state, conversation.reason, conversation.version)


def test_asking_for_a_person_waits_in_the_inbox_once_and_says_when_they_answer(core, db, clock):
    chat = Chat(business_id=SPA, metadata={"phone_number_id": "110000000000001",
                                           "profile_name": "Ayu"})
    _, msgs = chat.run(ActionHandoff(), "human_handoff", text="talk to a human")
    # Monday 08:00 in Bali: Ketut starts at 08:00 and works until 20:00.
    assert texts(msgs) == ["I've asked the Ubud Serenity Spa team to reply to you here. They're "
                           "in until 20:00 today and usually answer within the hour. I'll keep "
                           "your booking details, so nothing you've told me is lost."]
    chat.run(ActionHandoff(), "human_handoff", text="hello?? anyone")
    assert state(db, chat.customer) == ("waiting", "asked", 1)  # asking twice is one request
    conversation = Conversations(db).of_customer(SPA, chat.customer)
    assert (conversation.channel, conversation.phone_number_id, conversation.customer_name) == (
        "whatsapp", "110000000000001", "Ayu")


def test_outside_opening_hours_the_customer_is_told_when_the_team_is_back(core, clock):
    clock.now = datetime(2026, 11, 23, 13, 0, tzinfo=timezone.utc)  # Monday 21:00 in Bali
    _, msgs = Chat(business_id=SPA).run(ActionHandoff(), "human_handoff", text="human please")
    assert "They're back tomorrow at 08:00 and will answer then." in texts(msgs)[0]
    clock.now = datetime(2026, 11, 22, 23, 0, tzinfo=timezone.utc)  # Monday 07:00
    _, msgs = Chat(business_id=SPA).run(ActionHandoff(), "human_handoff", text="human please")
    assert "They start at 08:00 today and will answer then." in texts(msgs)[0]


def test_one_fallback_rephrases_two_in_a_row_flag_the_conversation(core, db):
    chat = Chat(business_id=SPA)
    _, msgs = chat.run(ActionFallback(), "nlu_fallback", text="asdf")
    assert texts(msgs)[0].startswith("Sorry, I didn't quite get that.")
    assert state(db, chat.customer) is None
    chat.history = [{"event": "user", "text": "asdf"},
                    {"event": "action", "name": "action_fallback"},
                    {"event": "bot", "text": "Sorry, I didn't quite get that."},
                    {"event": "action", "name": "action_listen"}]
    _, msgs = chat.run(ActionFallback(), "nlu_fallback", text="qwerty")
    assert texts(msgs)[0].startswith("Sorry, I still didn't get that. I've also asked the "
                                     "Ubud Serenity Spa team to look at this and reply here.")
    assert [t for t, _ in buttons(msgs)] == ["Book a treatment", "My bookings", "Talk to a person"]
    assert state(db, chat.customer) == ("waiting", "fallbacks", 1)


def test_a_fallback_after_another_answer_is_not_two_in_a_row(core, db):
    chat = Chat(business_id=SPA, history=[
        {"event": "user", "text": "asdf"}, {"event": "action", "name": "action_fallback"},
        {"event": "action", "name": "action_listen"}, {"event": "user", "text": "prices"},
        {"event": "action", "name": "action_show_price"},
        {"event": "action", "name": "action_listen"}])
    chat.run(ActionFallback(), "nlu_fallback", text="qwerty")
    assert state(db, chat.customer) is None


def test_a_technical_failure_apologises_and_flags_the_conversation(core, db):
    def broken_then_fine():
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("database unreachable")
        return core
    calls: list[int] = []
    use_booking_service(broken_then_fine)
    chat = Chat(business_id=SPA)
    _, msgs = chat.run(ActionMyBookings(), "my_bookings")
    assert texts(msgs) == ["utter_technical_problem"]
    assert state(db, chat.customer) == ("waiting", "failure", 1)


def test_the_hand_back_says_the_bot_is_back_with_the_menu(core):
    _, msgs = Chat(business_id=SPA).run(ActionHandback(), "EXTERNAL_handback")
    assert texts(msgs) == ["I'm back to help you again. Our team is still here if you need them.",
                           "What would you like to do?"]
    assert [t for t, _ in buttons(msgs)] == ["Book a treatment", "My bookings", "Talk to a person",
                                             "Bahasa Indonesia"]


def test_the_order_in_progress_survives_a_new_session_after_a_person_had_the_chat():
    import asyncio

    from rasa_sdk import Tracker
    from rasa_sdk.executor import CollectingDispatcher

    from actions.info import ActionSessionStart

    slots = {"customer_name": "Ayu", "service": "balinese-massage", "date": "2026-11-25",
             "awaiting": "pick_time", "slot_time": "2026-11-25T02:00:00+00:00"}

    def carried(events: list) -> dict:
        tracker = Tracker.from_dict({"sender_id": "s", "slots": slots, "latest_message": {},
                                     "events": events})
        run = asyncio.run(ActionSessionStart().run(CollectingDispatcher(), tracker, {}))
        return {e["name"]: e["value"] for e in run if e["event"] == "slot"}
    assert carried([]) == {"customer_name": "Ayu"}
    to_staff = {"event": "user", "text": "hello?", "parse_data": {
        "intent": {"name": "message_to_staff", "confidence": 1.0}}}
    assert carried([to_staff]) == {"customer_name": "Ayu", "service": "balinese-massage",
                                   "date": "2026-11-25"}
    assert carried([{"event": "action", "name": "action_handoff"}])["service"] == "balinese-massage"


def test_the_hand_back_offers_to_carry_on_the_booking_in_progress(core):
    chat = Chat(business_id=SPA, slots={"service": "hot-stone-massage"})
    _, msgs = chat.run(ActionHandback(), "EXTERNAL_handback")
    assert texts(msgs)[1] == "You were booking a Hot Stone Massage: I still have what you told me."
    assert buttons(msgs)[0] == ("Carry on booking", '/book_service{"service":"hot-stone-massage"}')


def test_tell_me_more_read_as_asking_for_a_person_is_answered_by_the_bot(core, db):
    """NLU may read "tell me more about it" as a wish for a person; its words ask about the
    treatment, so the bot answers it and nobody is called."""
    chat = Chat(business_id=SPA)
    chat.slots["service"] = "hot-stone-massage"
    _, msgs = chat.run(ActionHandoff(), "human_handoff", text="tell me more about it")
    assert "Heated volcanic stones" in texts(msgs)[0]
    assert state(db, chat.customer) is None
