"""After the visit, on a real mongod with a hand-moved clock: a visit nobody marked completes,
the feedback question and the "book again?" offer come at the right local times, only for a
completed visit, never after STOP, at most one a week; scores are kept once and averaged per
service and staff member."""
from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta

import pytest

from rasa.core.channels.channel import CollectingOutputChannel

from booking.bookings import BookingRequest, BookingService
from booking.contact_prefs import CustomerContact
from booking.conversations import Conversations
from booking.desk import FrontDesk
from booking.errors import InvalidTransitionError, ValidationError
from booking.feedback import Feedback
from booking.models import COMPLETED, NO_SHOW, ReminderPolicy
from booking.reminders import after_visit
from booking.scheduler import DROPPED, ScheduledMessages
from channels.scheduled import ScheduledInput
from nlu.keywords import keyword_intent
from tests.booking.factories import catalog, service, staff

from tests.booking.test_scheduler import ALL_DAY, BALI, WEDNESDAY, bali

WHO = "6281100000001"


def local(instant: datetime) -> str:
    return instant.astimezone(BALI).strftime("%a %d %H:%M")


@pytest.fixture
def core(db, clock):
    spa = catalog([service(rebook_days=21)], [staff(weekly_hours=ALL_DAY)])
    return BookingService(db, spa, clock=clock)


def book(core, day: date = WEDNESDAY, hhmm: str = "15:00", customer: str = WHO):
    return core.create(BookingRequest(service_id="massage", start=bali(day, hhmm),
                                      customer_id=customer, customer_name="Ayu"))


class Collecting:
    def output_for(self, conversation) -> CollectingOutputChannel:
        return CollectingOutputChannel()


class Sender:
    """One server's scheduled-message sender; ``told`` holds what it handed to the dialogue
    (which marks each told, as the action does)."""

    def __init__(self, core) -> None:
        self.channel = ScheduledInput()
        self.channel._core = core
        self.channel._queue = self.queue = ScheduledMessages.of(core)
        self.channel.outputs = Collecting()  # (the customers' WhatsApp is not under test here)
        self.told: list[str] = []

    def run(self) -> None:
        async def dialogue(message) -> None:
            notice = message.text.split('"notice":"')[1].split('"')[0]
            self.told.append(self.queue.get(notice)["kind"])
            self.queue.mark_told(notice)

        self.queue.plan()
        asyncio.run(self.channel.drain(dialogue))


def test_after_a_visit_completion_feedback_and_the_offer_come_at_sensible_local_times():
    policy, end = ReminderPolicy(), bali(WEDNESDAY, "16:00")
    assert [(p.kind, local(p.due)) for p in after_visit(end, policy, BALI, 21)] == [
        ("complete", "Wed 25 18:00"), ("feedback", "Wed 25 19:00"), ("nudge", "Wed 16 10:00")]
    late = after_visit(bali(WEDNESDAY, "19:30"), policy, BALI, None)  # 22:30 is quiet
    assert [(p.kind, local(p.due)) for p in late] == [
        ("complete", "Wed 25 21:30"), ("feedback", "Thu 26 08:00")]


def wrote(core, clock, customer: str = WHO) -> None:
    """The customer writes (it opens WhatsApp's 24-hour window)."""
    Conversations(core.db, clock).customer_wrote("spa", customer, "whatsapp", "1001", "Ayu",
                                                 "thanks!")


def test_a_visit_nobody_marked_completes_then_feedback_is_asked_once(core, clock):
    booking = book(core)
    sender = Sender(core)
    sender.queue.plan()  # (on Monday)
    clock.now = bali(WEDNESDAY, "17:59")
    sender.run()
    assert core.get(booking.code).status == "CONFIRMED"
    clock.now = bali(WEDNESDAY, "18:01")
    sender.run()
    assert core.get(booking.code).status == COMPLETED and core.get(booking.code).auto_completed
    wrote(core, clock)
    assert "feedback" not in sender.told  # not before 19:00
    clock.now = bali(WEDNESDAY, "19:01")
    sender.run()
    sender.run()
    assert sender.told.count("feedback") == 1


def test_no_feedback_for_a_no_show_and_none_after_stop(core, clock):
    no_show, other = book(core), book(core, WEDNESDAY + timedelta(days=1), customer="628122")
    sender = Sender(core)
    sender.queue.plan()
    clock.now = bali(WEDNESDAY, "15:10")
    core.transition(no_show.code, NO_SHOW)
    CustomerContact(core.db, clock).stop("spa", "628122")
    clock.now = bali(WEDNESDAY + timedelta(days=1), "19:05")
    sender.run()
    assert "feedback" not in sender.told
    dropped = {m["code"]: m["error"] for m in core.db.scheduled_messages.find(
        {"kind": "feedback", "state": DROPPED})}
    assert dropped == {no_show.code: "the booking is no show",
                       other.code: "the customer said STOP"}


def test_stop_reminders_too_then_start(core, clock):
    booking = book(core)
    contact = CustomerContact(core.db, clock)
    contact.stop("spa", WHO)
    assert contact.allows("spa", WHO, "reminder_24h") and not contact.allows("spa", WHO, "nudge")
    contact.stop("spa", WHO, reminders=True)
    sender = Sender(core)
    clock.now = bali(WEDNESDAY, "15:00") - timedelta(days=1)
    sender.run()
    assert sender.told == []
    assert core.db.scheduled_messages.find_one({"code": booking.code, "kind": "reminder_24h"})[
        "error"] == "the customer said STOP"
    contact.start("spa", WHO)
    clock.now = bali(WEDNESDAY, "13:00")
    sender.run()
    assert sender.told == ["reminder_2h"]


def test_at_most_one_feedback_question_or_offer_a_week_whatever_the_servers(core, clock):
    first, second = book(core, hhmm="10:00"), book(core, hhmm="15:00")
    a, b = Sender(core), Sender(core)
    a.queue.plan()
    for booking in (first, second):
        core.transition(booking.code, COMPLETED)
    clock.now = bali(WEDNESDAY, "19:05")  # both visits' questions are due
    wrote(core, clock)
    a.run()
    b.run()
    assert (a.told + b.told).count("feedback") == 1
    contact = CustomerContact(core.db, clock)
    clock.now += timedelta(days=7, minutes=1)
    assert contact.take_allowance("spa", WHO, "another")  # a week later, one again


def test_no_feedback_question_outside_the_window_and_an_offer_waits_for_the_weeks_end(core,
                                                                                      clock):
    first = book(core, hhmm="10:00")
    sender = Sender(core)
    sender.queue.plan()
    core.transition(first.code, COMPLETED)
    clock.now = bali(WEDNESDAY, "14:05")  # the question is due; the customer never wrote
    sender.run()
    assert sender.told == []
    question = core.db.scheduled_messages.find_one({"code": first.code, "kind": "feedback"})
    assert (question["state"], question["error"]) == (DROPPED, "outside WhatsApp's 24-hour window")
    # the day before the offer is due, another visit's question used the week's message
    offer = core.db.scheduled_messages.find_one({"code": first.code, "kind": "nudge"})
    clock.now = offer["next_at"] - timedelta(days=1)
    CustomerContact(core.db, clock).take_allowance("spa", WHO, "another visit's question")
    clock.now = offer["next_at"]
    wrote(core, clock)
    sender.run()
    waiting = core.db.scheduled_messages.find_one({"_id": offer["_id"]})
    assert waiting["state"] == "PENDING" and sender.told == [], waiting.get("error")
    assert waiting["next_at"] == offer["next_at"] + timedelta(days=6)  # it waits, not lost
    clock.now = waiting["next_at"]
    wrote(core, clock)
    sender.run()
    assert sender.told == ["nudge"]


def test_the_desk_corrects_a_visit_completed_by_itself_to_a_no_show_but_not_its_own(core,
                                                                                   clock):
    auto, marked = book(core, hhmm="10:00"), book(core, hhmm="15:00")
    core.transition(auto.code, COMPLETED, fields={"auto_completed": True})
    core.transition(marked.code, COMPLETED)
    clock.now = bali(WEDNESDAY, "20:00")
    desk = FrontDesk(core)
    assert desk.no_show("spa", auto.code, "owner").status == NO_SHOW
    with pytest.raises(InvalidTransitionError):
        desk.no_show("spa", marked.code, "owner")
    late = book(core, WEDNESDAY + timedelta(days=1), "10:00")
    core.transition(late.code, COMPLETED, fields={"auto_completed": True})
    clock.now += timedelta(days=9)
    with pytest.raises(ValidationError):
        desk.no_show("spa", late.code, "owner")


def test_an_allowance_taken_by_a_message_that_failed_is_kept_for_its_retry(db, clock):
    contact = CustomerContact(db, clock)
    assert contact.take_allowance("spa", WHO, "m1")
    assert contact.take_allowance("spa", WHO, "m1")  # the retry of the same message
    assert not contact.take_allowance("spa", WHO, "m2")
    assert contact.take_allowance("spa", "628999", "m2")  # another customer's own week


def test_scores_are_kept_once_and_averaged_per_service_and_staff(core, clock):
    feedback = Feedback(core.db, clock)
    visits = [book(core, hhmm=h) for h in ("09:00", "11:00", "13:00")]
    assert feedback.record(visits[0], 5) and feedback.record(visits[1], 4)
    assert feedback.record(visits[2], 2)
    assert not feedback.record(visits[0], 1)  # the first answer counts
    with pytest.raises(ValueError):
        feedback.record(visits[1], 6)
    summary = feedback.summary("spa", clock.now - timedelta(days=1), clock.now + timedelta(1))
    assert summary == {"service": [{"id": "massage", "average": 3.7, "count": 3, "low": 1}],
                       "staff": [{"id": "wayan", "average": 3.7, "count": 3, "low": 1}]}
    assert feedback.summary("spa", clock.now + timedelta(1), clock.now + timedelta(2)) == {
        "service": [], "staff": []}


@pytest.mark.parametrize("text, intent", [("STOP", "opt_out"), (" stop! ", "opt_out"),
                                          ("Berhenti", "opt_out"), ("START", "opt_in"),
                                          ("mulai.", "opt_in"), ("stop it", None),
                                          ("please don't stop", None), ("", None)])
def test_only_a_message_that_is_just_the_keyword_opts_out_or_in(text, intent):
    assert keyword_intent(text) == intent
