"""After a visit, in the customer's chat (real mongod): the feedback question and its score
(4-5: thanks and the review link; 1-3: a person of the business is asked to step in), the
"book again?" offer with the same person, and STOP / START."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from actions.after_visit import ActionOptIn, ActionOptOut, ActionRateVisit
from actions.reminders import ActionReminder
from booking.bookings import BookingRequest
from booking.contact_prefs import CustomerContact
from booking.conversations import Conversations
from booking.scheduler import ScheduledMessages
from tests.actions.conftest import Chat, buttons, texts

SPA_NUMBER = "110000000000001"
TUE_15 = datetime(2026, 11, 24, 7, 0, tzinfo=timezone.utc)  # 15:00 in Bali
WHO = "6281234567890"


def whatsapp_chat(sender: str = WHO) -> Chat:
    return Chat(sender=sender, input_channel="whatsapp",
                metadata={"phone_number_id": SPA_NUMBER})


def visited(core, clock, customer: str = WHO):
    """A Balinese massage with Wayan on Tuesday, completed."""
    booking = core.create(BookingRequest(service_id="balinese-massage", start=TUE_15,
                                         customer_id=customer, customer_name="Ayu",
                                         staff_id="wayan"))
    if booking.status != "CONFIRMED":
        booking = core.transition(booking.code, "CONFIRMED")
    ScheduledMessages.of(core).plan()
    clock.now = TUE_15 + timedelta(hours=5)
    return core.transition(booking.code, "COMPLETED")


def told(core, code: str, kind: str):
    """Run the scheduled message of ``kind`` as the server does: claimed, then the action."""
    queue = ScheduledMessages.of(core)
    message = core.db.scheduled_messages.find_one({"code": code, "kind": kind})
    core.db.scheduled_messages.update_one({"_id": message["_id"]},
                                          {"$set": {"state": "SENDING"}})
    return whatsapp_chat().run(ActionReminder(), "EXTERNAL_reminder", booking_code=code,
                               notice=message["_id"]), queue


def rate(code: str, score: str, who: str = WHO):
    return whatsapp_chat(who).run(ActionRateVisit(), "rate_visit", booking_code=code,
                                  score=score)


def test_the_feedback_question_offers_five_scores(core, clock):
    booking = visited(core, clock)
    (_, msgs), _ = told(core, booking.code, "feedback")
    assert texts(msgs)[0].startswith("How was your Balinese Massage with Wayan?")
    assert [t for t, _ in buttons(msgs)] == ["⭐⭐⭐⭐⭐", "⭐⭐⭐⭐", "⭐⭐⭐", "⭐⭐", "⭐"]
    assert buttons(msgs)[0][1] == '/rate_visit{"booking_code":"%s","score":"5"}' % booking.code


def test_a_good_score_is_thanked_with_the_review_link(core, clock):
    booking = visited(core, clock)
    _, msgs = rate(booking.code, "5")
    [review] = msgs
    spec = review["custom"]["whatsapp"]
    assert spec["type"] == "cta_url" and spec["url"] == "https://g.page/r/ubud-serenity-spa/review"
    assert spec["text"].startswith("Thank you, that means a lot")
    assert core.db.feedback.find_one({"_id": booking.code})["score"] == 5
    _, again = rate(booking.code, "1")  # the first answer counts
    assert texts(again) == ["You've already told us about that visit: thank you!"]


def test_a_low_score_puts_the_customer_in_the_inbox_for_a_person(core, clock):
    booking = visited(core, clock)
    _, msgs = rate(booking.code, "2")
    assert "asked the Ubud Serenity Spa team to get in touch" in texts(msgs)[0]
    conversation = Conversations(core.db, clock).of_customer("ubud-serenity-spa", WHO)
    assert (conversation.state, conversation.reason) == ("waiting", "feedback")


def test_a_score_for_someone_elses_or_an_unfinished_visit_or_out_of_range_is_refused(core,
                                                                                     clock):
    booking = visited(core, clock)
    for code, score, who in ((booking.code, "5", "6289999999999"), (booking.code, "9", WHO),
                             ("BK000000", "5", WHO)):
        _, msgs = rate(code, score, who)
        assert texts(msgs)[0].startswith("I can't find that visit to rate")
    assert core.db.feedback.count_documents({}) == 0


def test_the_offer_books_the_same_treatment_with_the_same_person(core, clock):
    booking = visited(core, clock)
    clock.now = TUE_15 + timedelta(days=21)
    (_, msgs), _ = told(core, booking.code, "nudge")
    assert "since your Balinese Massage with Wayan" in texts(msgs)[0]
    assert buttons(msgs)[0] == (
        "Book with Wayan", '/book_service{"service":"balinese-massage","staff":"wayan"}')


def test_stop_then_reminders_too_then_start(core, clock):
    contact = CustomerContact(core.db, clock)
    _, msgs = whatsapp_chat().run(ActionOptOut(), "opt_out", "STOP")
    assert texts(msgs)[0].startswith("Done: Ubud Serenity Spa will send you no more feedback")
    assert [t for t, _ in buttons(msgs)] == ["Stop reminders too", "Keep reminders"]
    assert contact.allows("ubud-serenity-spa", WHO, "reminder_2h")
    assert not contact.allows("ubud-serenity-spa", WHO, "feedback")
    _, kept = whatsapp_chat().run(ActionOptIn(), "opt_in", scope="keep")
    assert texts(kept) == ["OK, you'll still get your reminders."]
    assert not contact.allows("ubud-serenity-spa", WHO, "nudge")  # "keep" is not START
    whatsapp_chat().run(ActionOptOut(), "opt_out", scope="reminders")
    assert not contact.allows("ubud-serenity-spa", WHO, "reminder_2h")
    _, back = whatsapp_chat().run(ActionOptIn(), "opt_in", "START")
    assert texts(back)[0].startswith("Welcome back!")
    assert contact.allows("ubud-serenity-spa", WHO, "reminder_2h")
    assert contact.allows("ubud-serenity-spa", WHO, "feedback")
