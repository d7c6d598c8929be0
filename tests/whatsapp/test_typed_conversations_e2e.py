"""Conversations as people type them, no taps, through the running stack's WhatsApp channel
(Rasa, the action server, a Graph stand-in): typed answers at every step of booking,
rescheduling and cancelling, changes of mind and digressions. Each script asserts the outcome
in MongoDB (booked at the corrected time, nothing booked, the booking moved or cancelled), not
only the wording.

Days are typed as dates a week or more ahead, a different weekday for each script, so the
scripts never compete for a time with each other or with the other end-to-end tests."""
from __future__ import annotations

import itertools
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.whatsapp.conftest import text, wait_done
from tests.whatsapp.test_payments_e2e import body_text, choices, customer

pytestmark = pytest.mark.e2e
BALI = ZoneInfo("Asia/Makassar")
ACTIVE = ("PENDING_PAYMENT", "CONFIRMED")
_days = itertools.cycle(range(7, 42))  # within how far ahead one may book


def weekday_ahead() -> date:
    """A Monday-to-Friday day a week to six weeks ahead, a different one for each script."""
    while True:
        day = datetime.now(BALI).date() + timedelta(days=next(_days))
        if day.weekday() < 5 and (day.month, day.day) not in ((12, 25), (12, 31), (1, 1)):
            return day


def typed(day: date) -> str:
    return f"{day.day}/{day.month}"


class Typist:
    """A customer who only types; ``says`` waits for the turn to finish and returns the bot's
    messages of that turn."""

    def __init__(self, stack: Any, db: Any, graph: Any) -> None:
        self.stack, self.db, self.graph = stack, db, graph
        self.who, self.seen = customer(), 0

    def says(self, words: str) -> list[dict[str, Any]]:
        payload = text(self.who, words)
        assert self.stack.post(payload) == 200
        wamid = payload["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
        assert wait_done(self.db, wamid)["status"] == "done"
        sent = self.graph.sent_to(self.who)
        new, self.seen = sent[self.seen:], len(sent)
        return new

    def texts(self, messages: list[dict[str, Any]]) -> str:
        return "\n---\n".join(body_text(m) for m in messages)

    def bookings(self, statuses: tuple[str, ...] = ACTIVE) -> list[dict[str, Any]]:
        return list(self.db.bookings.find({"customer_id": self.who,
                                           "status": {"$in": list(statuses)}}).sort("start", 1))


def local(booking: dict[str, Any]) -> datetime:
    from datetime import timezone
    return booking["start"].replace(tzinfo=timezone.utc).astimezone(BALI)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=BALI)


def offered_times(messages: list[dict[str, Any]]) -> list[str]:
    """The time titles the bot's last message with choices offers."""
    for message in reversed(messages):
        if message.get("type") == "interactive":
            return [t for t in choices(message) if t[:1].isdigit() or "," in t]
    return []


def card_of(messages: list[dict[str, Any]]) -> str:
    card = next((body_text(m) for m in messages
                 if body_text(m).startswith(("Please confirm your booking:", "Move booking",
                                               # a customer who typed Indonesian is answered so
                                               "Mohon konfirmasi booking Anda:",
                                               "Pindahkan booking"))), "")
    assert card, [body_text(m) for m in messages]
    return card


def book_to_card(t: Typist, day: date, hour: int, service: str = "balinese massage") -> str:
    """One sentence to the confirmation card."""
    return card_of(t.says(f"{service} on {typed(day)} at {hour}:00"))


def booked(t: Typist) -> dict[str, Any]:
    messages = t.says("yes")  # (one borrowed word keeps a customer's Indonesian)
    assert any(body_text(m).startswith(("Booked ✅", "Done, your booking is moved",
                                        "Booking berhasil ✅", "Beres, jadwal booking"))
               for m in messages), t.texts(messages)
    [booking] = t.bookings()
    return booking


# ---------------------------------------------------------------- 1. typed answers (booking)
TYPED_TIMES = [("5pm", (17, 0)), ("17.00", (17, 0)), ("5 sore", (17, 0)),
               ("the 3 o'clock one", (15, 0)), ("jam 2 siang", (14, 0)),
               ("anything after 4", (16, 0))]


@pytest.mark.parametrize("answer, expected", TYPED_TIMES, ids=[a for a, _ in TYPED_TIMES])
def test_a_time_typed_at_the_time_list(wa, graph, answer, expected):
    stack, db = wa
    t, day = Typist(stack, db, graph), weekday_ahead()
    listed = t.says(f"balinese massage on {typed(day)}")
    assert "Free times for Balinese Massage" in t.texts(listed)
    card_of(t.says(answer))
    assert local(booked(t)) == at(day, *expected)


@pytest.mark.parametrize("answer", ["the first one", "earliest"])
def test_the_first_offered_time_by_its_place(wa, graph, answer):
    stack, db = wa
    t, day = Typist(stack, db, graph), weekday_ahead()
    first = offered_times(t.says(f"balinese massage on {typed(day)}"))[0]
    card_of(t.says(answer))
    assert local(booked(t)).strftime("%H:%M") == first


def test_a_typed_time_that_is_not_free_gets_the_nearest_then_the_first_of_those(wa, graph):
    stack, db = wa
    t, day = Typist(stack, db, graph), weekday_ahead()
    t.says(f"balinese massage on {typed(day)}")
    nearest = t.says("at 7am")
    assert "isn't available. The nearest free times are:" in t.texts(nearest)
    first = offered_times(nearest)[0]
    card_of(t.says("the first one"))
    assert local(booked(t)).strftime("%a %-d %b, %H:%M") == first


def test_a_day_typed_at_the_day_question(wa, graph):
    stack, db = wa
    t, day = Typist(stack, db, graph), weekday_ahead()
    assert "Which day would you like?" in t.texts(t.says("I'd like a balinese massage"))
    assert "Free times for Balinese Massage" in t.texts(t.says(typed(day)))
    card_of(t.says("2pm"))
    assert local(booked(t)) == at(day, 14)


def test_a_treatment_by_its_place_in_the_list_then_day_and_time(wa, graph):
    stack, db = wa
    t, day = Typist(stack, db, graph), weekday_ahead()
    listed = t.says("I want to book a treatment")
    assert "Which treatment would you like?" in t.texts(listed)
    second = list(choices(listed[0]))[1]
    assert "Which day would you like?" in t.texts(t.says("the second one"))
    t.says(typed(day))
    card = card_of(t.says("10am"))  # (90 minutes then: 11am on a Monday runs into the break)
    assert second.split()[0] in card
    assert local(booked(t)) == at(day, 10)


def test_a_treatment_by_a_short_name_at_the_list_then_which_of_the_two(wa, graph):
    stack, db = wa
    t, day = Typist(stack, db, graph), weekday_ahead()
    t.says("I want to book a treatment")
    scrubs = t.says("the scrub")  # two scrubs: which one?
    assert list(choices(scrubs[0])) == ["Balinese Boreh Scrub", "Javanese Lulur Scrub"]
    t.says("the second one")
    t.says(typed(day))
    assert "Javanese Lulur Scrub" in card_of(t.says("10am"))
    assert booked(t)["service_id"] == "lulur-scrub"


def test_a_staff_member_named_at_the_time_list(wa, graph):
    stack, db = wa
    t, day = Typist(stack, db, graph), weekday_ahead()
    t.says(f"balinese massage on {typed(day)}")
    t.says("with Wayan")
    card = card_of(t.says("3pm"))
    assert "with Wayan" in card
    booking = booked(t)
    assert booking["staff_id"] == "wayan" and local(booking) == at(day, 15)


# ---------------------------------------------------------------- 2. corrections, digressions
def test_no_make_it_1pm_at_the_card(wa, graph):
    stack, db = wa
    t, day = Typist(stack, db, graph), weekday_ahead()
    book_to_card(t, day, 10)
    assert "13:00" in card_of(t.says("no, make it 1pm"))
    assert local(booked(t)) == at(day, 13)


def test_actually_another_day_at_the_card_keeps_the_time(wa, graph):
    stack, db = wa
    t, day, other = Typist(stack, db, graph), weekday_ahead(), weekday_ahead()
    book_to_card(t, day, 11)
    card_of(t.says(f"actually {typed(other)}"))
    assert local(booked(t)) == at(other, 11)


def test_another_person_instead_at_the_card_keeps_the_time(wa, graph):
    stack, db = wa
    t = Typist(stack, db, graph)
    day = weekday_ahead()
    while day.weekday() == 2:  # Ketut does not work on Wednesdays
        day = weekday_ahead()
    book_to_card(t, day, 10)
    assert "with Ketut" in card_of(t.says("can it be with Ketut instead"))
    booking = booked(t)
    assert booking["staff_id"] == "ketut" and local(booking) == at(day, 10)


def test_another_treatment_instead_at_the_card_keeps_the_time(wa, graph):
    stack, db = wa
    t, day = Typist(stack, db, graph), weekday_ahead()
    book_to_card(t, day, 14)
    assert "Deep Tissue" in card_of(t.says("make it a deep tissue instead"))
    booking = booked(t)
    assert booking["service_id"] == "deep-tissue-massage" and local(booking) == at(day, 14)


def test_for_two_people_at_the_card(wa, graph):
    stack, db = wa
    t, day = Typist(stack, db, graph), weekday_ahead()
    book_to_card(t, day, 15)
    assert "For 2 people" in card_of(t.says("for 2 people"))
    booking = booked(t)
    assert "people: 2" in booking["notes"] and local(booking) == at(day, 15)


def test_a_plain_no_at_the_card_books_nothing(wa, graph):
    stack, db = wa
    t, day = Typist(stack, db, graph), weekday_ahead()
    book_to_card(t, day, 10)
    assert "nothing is booked" in t.texts(t.says("no"))
    assert t.bookings(ACTIVE + ("EXPIRED", "CANCELLED")) == []


def test_a_price_asked_at_the_time_list_then_the_booking_goes_on(wa, graph):
    stack, db = wa
    t, day = Typist(stack, db, graph), weekday_ahead()
    t.says(f"balinese massage on {typed(day)}")
    answer = t.texts(t.says("how much is it?"))
    assert "Rp350.000" in answer and "Back to your booking" in answer
    card_of(t.says("5pm"))
    assert local(booked(t)) == at(day, 17)


@pytest.mark.parametrize("question", ["what's included?", "tell me more about it"])
def test_whats_included_at_the_time_list_then_the_booking_goes_on(wa, graph, question):
    stack, db = wa
    t, day = Typist(stack, db, graph), weekday_ahead()
    offered = offered_times(t.says(f"hot stone massage on {typed(day)}"))
    said = t.says(question)
    answer = t.texts(said)
    assert "Heated volcanic stones" in answer and "Back to your booking" in answer, answer
    assert offered_times(said) == offered and not t.bookings()
    card_of(t.says("the first one"))
    hour, minute = map(int, offered[0].split(":"))
    assert local(booked(t)) == at(day, hour, minute)


@pytest.mark.parametrize("step, words", [("times", "never mind"), ("card", "cancel that"),
                                         ("day", "forget it")])
def test_dropping_the_order_in_progress_books_nothing(wa, graph, step, words):
    stack, db = wa
    t, day = Typist(stack, db, graph), weekday_ahead()
    if step == "times":
        t.says(f"balinese massage on {typed(day)}")
    elif step == "card":
        book_to_card(t, day, 10)
    else:
        t.says("I'd like a balinese massage")
    assert "I've dropped that booking: nothing is booked." in t.texts(t.says(words))
    assert not any(body_text(m).startswith("Booked") for m in t.says("yes"))
    assert t.bookings(ACTIVE + ("EXPIRED", "CANCELLED")) == []


# ---------------------------------------------------------------- rescheduling and cancelling
def booked_at(t: Typist, day: date, hour: int, service: str = "balinese massage") -> dict:
    book_to_card(t, day, hour, service)
    return booked(t)


def test_reschedule_with_a_typed_day_and_time(wa, graph):
    stack, db = wa
    t, day, later = Typist(stack, db, graph), weekday_ahead(), weekday_ahead()
    first = booked_at(t, day, 10)
    t.says("reschedule my booking")
    free = offered_times(t.says(typed(later)))  # the same therapist's free times that day
    assert "Move booking" in card_of(t.says(free[-1]))  # typed as shown, e.g. "11:00"
    moved = booked(t)
    assert moved["code"] == first["code"]
    assert local(moved).strftime("%H:%M") == free[-1] and local(moved).date() == later


def test_reschedule_corrected_at_the_card(wa, graph):
    stack, db = wa
    t, day, later = Typist(stack, db, graph), weekday_ahead(), weekday_ahead()
    first = booked_at(t, day, 10)
    t.says("reschedule my booking")
    free = offered_times(t.says(typed(later)))
    card_of(t.says(free[0]))
    assert free[1].lstrip("0") in card_of(t.says(f"no, make it {free[1]}"))
    moved = booked(t)
    assert moved["code"] == first["code"]
    assert local(moved).strftime("%H:%M") == free[1] and local(moved).date() == later


def test_reschedule_then_never_mind_keeps_the_booking(wa, graph):
    stack, db = wa
    t, day, later = Typist(stack, db, graph), weekday_ahead(), weekday_ahead()
    first = booked_at(t, day, 11)
    t.says("reschedule my booking")
    t.says(typed(later))
    assert f"booking {first['code']} stays as it is" in t.texts(t.says("never mind"))
    [kept] = t.bookings()
    assert kept["code"] == first["code"] and local(kept) == at(day, 11)


def test_cancel_typed_yes(wa, graph):
    stack, db = wa
    t, day = Typist(stack, db, graph), weekday_ahead()
    first = booked_at(t, day, 10)
    assert "Cancel this booking?" in t.texts(t.says("cancel my booking"))
    t.says("yes")
    assert db.bookings.find_one({"code": first["code"]})["status"] == "CANCELLED"


def test_cancel_then_no_keeps_it(wa, graph):
    stack, db = wa
    t, day = Typist(stack, db, graph), weekday_ahead()
    first = booked_at(t, day, 10)
    t.says("cancel my booking")
    assert "stays as it is" in t.texts(t.says("no"))
    assert db.bookings.find_one({"code": first["code"]})["status"] in ACTIVE


@pytest.mark.parametrize("answer", ["the second one", "the facial"])
def test_cancel_which_one_by_place_or_description(wa, graph, answer):
    stack, db = wa
    t, day, later = Typist(stack, db, graph), weekday_ahead(), weekday_ahead()
    keep = booked_at(t, day, 10)
    t.says(f"natural facial on {typed(later)}")
    card_of(t.says("the first one"))
    messages = t.says("yes")
    assert any(body_text(m).startswith("Booked") for m in messages)
    drop = next(b for b in t.bookings() if b["code"] != keep["code"])
    assert "Which booking would you like to cancel?" in t.texts(t.says("cancel my booking"))
    assert f"Cancel this booking?\n{drop['code']}" in t.texts(t.says(answer))
    t.says("yes")
    assert db.bookings.find_one({"code": drop["code"]})["status"] == "CANCELLED"
    assert db.bookings.find_one({"code": keep["code"]})["status"] in ACTIVE



# ---------------------------------------------------------------- more typed days and bookings
# A weekday three or more days on: never today (a weekday said on its own day is today, which may
# have no free time left when the suite runs late in Bali's day; the parser's unit tests cover
# that rule), nor a Tuesday (the facial's only therapist is off then).
WEEKDAY = next(day.strftime("%A").lower() for day in (datetime.now(BALI) + timedelta(days=n)
                                                      for n in range(3, 7))
               if day.weekday() != 1)


def days_ahead_named(words: str) -> date:
    today = datetime.now(BALI).date()
    if words == "the day after tomorrow":
        return today + timedelta(days=2)
    index = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
             "sunday"].index(words)
    return today + timedelta(days=(index - today.weekday()) % 7)


@pytest.mark.parametrize("words", ["the day after tomorrow", WEEKDAY],
                         ids=["day-after-tomorrow", "weekday"])
def test_a_named_day_at_the_day_question(wa, graph, words):
    stack, db = wa
    t = Typist(stack, db, graph)
    t.says("I'd like a natural facial")
    first = offered_times(t.says(words))[0]
    card_of(t.says("the first one"))
    booking = booked(t)
    assert local(booking).date() == days_ahead_named(words)
    assert local(booking).strftime("%H:%M") == first[-5:]


def test_another_day_typed_at_the_time_list(wa, graph):
    stack, db = wa
    t, day, other = Typist(stack, db, graph), weekday_ahead(), weekday_ahead()
    t.says(f"balinese massage on {typed(day)}")
    assert "Free times for Balinese Massage" in t.texts(t.says(f"actually {typed(other)}"))
    card_of(t.says("2pm"))
    assert local(booked(t)) == at(other, 14)


def two_bookings(t: Typist) -> tuple[dict, dict]:
    """A balinese massage at 10:00 and a natural facial at its first free time, two days."""
    day, later = weekday_ahead(), weekday_ahead()
    massage = booked_at(t, day, 10)
    t.says(f"natural facial on {typed(later)}")
    card_of(t.says("the first one"))
    assert any(body_text(m).startswith("Booked") for m in t.says("yes"))
    facial = next(b for b in t.bookings() if b["code"] != massage["code"])
    return massage, facial


def test_cancel_which_one_by_its_time(wa, graph):
    stack, db = wa
    t = Typist(stack, db, graph)
    massage, facial = two_bookings(t)
    assert "Which booking would you like to cancel?" in t.texts(t.says("scrap my booking"))
    start = local(facial)
    said = f"{start.hour % 12 or 12}{start.strftime(':%M') if start.minute else ''}" \
           f"{'am' if start.hour < 12 else 'pm'}"
    assert f"Cancel this booking?\n{facial['code']}" in t.texts(t.says(f"the {said} one"))
    t.says("yes")
    assert db.bookings.find_one({"code": facial["code"]})["status"] == "CANCELLED"
    assert db.bookings.find_one({"code": massage["code"]})["status"] in ACTIVE


def test_reschedule_which_one_by_its_treatment_and_day(wa, graph):
    stack, db = wa
    t = Typist(stack, db, graph)
    massage, facial = two_bookings(t)
    other = weekday_ahead()
    asked = t.texts(t.says("I need to reschedule"))
    assert "Which booking would you like to reschedule?" in asked, asked
    day_asked = t.texts(t.says(f"the massage on {typed(local(massage).date())}"))
    assert "Which day" in day_asked, day_asked
    free = offered_times(t.says(typed(other)))
    card_of(t.says(free[0]))
    done = t.texts(t.says("yes"))
    assert done.startswith("Done, your booking is moved"), done
    moved = db.bookings.find_one({"code": massage["code"]})
    assert local(moved).date() == other and local(moved).strftime("%H:%M") == free[0]
    assert local(db.bookings.find_one({"code": facial["code"]})) == local(facial)


def test_gibberish_at_the_card_books_nothing(wa, graph):
    stack, db = wa
    t, day = Typist(stack, db, graph), weekday_ahead()
    book_to_card(t, day, 10)
    assert "Sorry, I didn't quite get that" in t.texts(t.says("jsjsjs"))
    assert t.bookings(ACTIVE + ("EXPIRED", "CANCELLED")) == []


# ---------------------------------------------------------------- 3. pay again, Flow, anyone
@pytest.mark.parametrize("words", ["yes please", "pay again"])
def test_an_expired_link_answered_by_typing_pays_again(wa, graph, xendit, words):
    from tests.whatsapp.test_payments_e2e import callback

    stack, db = wa
    t, day = Typist(stack, db, graph), weekday_ahead()
    book_to_card(t, day, 11)
    code = booked(t)["code"]
    [first] = xendit.invoices_for(code)
    xendit.set_status(first["id"], "EXPIRED")
    assert callback(stack, xendit, first["id"]) == 200
    expired = graph.wait_for_messages(t.who, t.seen + 1)[t.seen:]
    t.seen += len(expired)
    assert "has expired" in t.texts(expired)
    answer = t.says(words)
    [second] = xendit.invoices_for(f"{code}-2")
    assert any(m.get("type") == "interactive" and second["invoice_url"] in str(m)
               for m in answer), t.texts(answer)
    assert db.bookings.find_one({"code": code})["status"] == "PENDING_PAYMENT"


def test_a_booking_form_answer_corrected_by_typing_at_the_card(wa, graph):
    import json
    from datetime import timezone

    from tests.whatsapp.conftest import envelope

    stack, db = wa
    t, day = Typist(stack, db, graph), weekday_ahead()
    params = {"flow_token": "t", "service": "balinese-massage", "name": "Ayu", "notes": "",
              "slot_time": at(day, 10).astimezone(timezone.utc).isoformat()}
    payload = envelope(t.who, {"type": "interactive", "interactive": {
        "type": "nfm_reply", "nfm_reply": {"name": "flow", "body": "Sent",
                                           "response_json": json.dumps(params)}}})
    assert stack.post(payload) == 200
    wait_done(db, payload["entry"][0]["changes"][0]["value"]["messages"][0]["id"])
    sent = graph.sent_to(t.who)
    t.seen = len(sent)
    assert "10:00" in card_of(sent)
    assert "13:00" in card_of(t.says("no, make it 1pm"))
    assert local(booked(t)) == at(day, 13)


def test_anyone_at_the_time_list_after_naming_a_therapist(wa, graph):
    # as test_a_staff_member_named_at_the_time_list, whose card says "with Wayan", then "anyone"
    stack, db = wa
    t, day = Typist(stack, db, graph), weekday_ahead()
    t.says(f"balinese massage on {typed(day)}")
    assert offered_times(t.says("with Wayan"))
    anyone = t.says("anyone is fine")
    assert "Free times for Balinese Massage" in t.texts(anyone) and offered_times(anyone)
    card = card_of(t.says("3pm"))
    assert "with Wayan" not in card and " with " not in card.split("\n")[1], card
    assert local(booked(t)) == at(day, 15)
