"""Switching language ("bahasa indonesia", "english please", "change language", the menu's
item) on the action server against a real mongod: the choice sticks, and a language the
assistant does not speak is answered with the two it does."""
from __future__ import annotations

from actions.small_talk import ActionSwitchLanguage
from tests.actions.conftest import Chat, buttons, texts

SPA = "ubud-serenity-spa"


def test_change_language_without_saying_which_is_the_other_one_than_before(core):
    chat = Chat(business_id=SPA)
    chat.slots.update(language="en")
    # typed in Indonesian, so detection reads this very message as Indonesian first
    _, msgs = chat.run(ActionSwitchLanguage(), "switch_language", text="ganti bahasa dong")
    assert texts(msgs)[0].startswith("Oke, mulai sekarang saya akan menulis dalam Bahasa")
    assert (chat.slots["language"], chat.slots["language_chosen"]) == ("id", True)
    _, msgs = chat.run(ActionSwitchLanguage(), "switch_language", text="change language")
    assert texts(msgs)[0] == "OK, I'll write in English from now on."
    assert chat.slots["language"] == "en"


def test_a_named_language_is_chosen_and_an_unknown_one_offers_both(core):
    chat = Chat(business_id=SPA)
    chat.slots.update(language="en")
    _, msgs = chat.run(ActionSwitchLanguage(), "switch_language", text="do you speak japanese",
                       language="ja")
    assert texts(msgs)[0].startswith("I can write in English or Bahasa Indonesia")
    assert [title for title, _ in buttons(msgs)] == ["English", "Bahasa Indonesia"]
    assert chat.slots["language"] == "en" and not chat.slots.get("language_chosen")
    _, msgs = chat.run(ActionSwitchLanguage(), "switch_language", text="/switch_language",
                       language="id")
    assert chat.slots["language"] == "id" and chat.slots["language_chosen"] is True


def test_a_returning_customer_keeps_their_language_and_its_record_is_refreshed(core, db):
    """The kept language is the new session's; reading it keeps the record from expiring
    after DATA_RETENTION_DAYS while the customer still writes."""
    from datetime import datetime, timedelta, timezone

    from actions.small_talk import ActionGreet

    chat = Chat(sender="6281234567801", business_id=SPA)
    _, _ = chat.run(ActionSwitchLanguage(), "switch_language", text="bahasa indonesia",
                    language="id")
    long_ago = datetime.now(timezone.utc) - timedelta(days=80)
    db.customer_languages.update_many({}, {"$set": {"updated_at": long_ago}})
    later = Chat(sender=chat.sender, business_id=SPA)  # a new session: no slots
    _, msgs = later.run(ActionGreet(), "greet", text="hi")
    assert texts(msgs)[0].startswith("Halo!")  # "hi" says nothing: the kept choice holds
    [doc] = list(db.customer_languages.find({"_id": {"$regex": f"{chat.sender}$"}}))
    assert doc["updated_at"] > long_ago + timedelta(days=1)


def test_switching_in_the_middle_of_booking_asks_the_same_question_in_the_new_language(core):
    from actions.booking_flow import ActionBookStep

    chat = Chat(business_id=SPA)
    _, msgs = chat.run(ActionBookStep(), "book_service", text="balinese massage on wednesday",
                       service="balinese-massage")
    english_times = [title for title, _ in buttons(msgs)]
    assert texts(msgs)[0].startswith("Free times for Balinese Massage on Wed 25 Nov")
    _, msgs = chat.run(ActionSwitchLanguage(), "switch_language", text="bahasa indonesia",
                       language="id")
    assert texts(msgs)[0].startswith("Oke, mulai sekarang")
    assert texts(msgs)[1].startswith("Jam yang tersedia untuk Pijat Bali pada Rab, 25 Nov")
    indonesian_times = [title for title, _ in buttons(msgs)]
    assert indonesian_times[:-1] == [t.replace(":", ".") for t in english_times[:-1]]
    assert (english_times[-1], indonesian_times[-1]) == ("Later times ▸", "Jam berikutnya ▸")
    assert chat.slots["awaiting"] == "slot" and chat.slots["service"] == "balinese-massage"
