"""The reminder in the customer's chat (``action_reminder``) and its Confirm
(``action_confirm_visit``, and "yes" right after it), on a real mongod: only reminders the
server planned, only in the booking's own conversation, once, never for a changed booking."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from actions.answers import ActionYes
from actions.reminders import ActionConfirmVisit, ActionReminder
from booking.bookings import BookingRequest
from booking.scheduler import ScheduledMessages
from tests.actions.conftest import Chat, buttons, texts

SPA_NUMBER = "110000000000001"
TUE_15 = datetime(2026, 11, 24, 7, 0, tzinfo=timezone.utc)  # 15:00 in Bali


def whatsapp_chat(sender: str = "6281234567890") -> Chat:
    return Chat(sender=sender, input_channel="whatsapp",
                metadata={"phone_number_id": SPA_NUMBER})


def reminder_due(core, clock, customer: str = "6281234567890"):
    """A confirmed booking and its 24 h reminder, claimed by the sender when due."""
    booking = core.create(BookingRequest(service_id="balinese-massage", start=TUE_15,
                                         customer_id=customer, customer_name="Ayu",
                                         staff_id="wayan"))
    if booking.status != "CONFIRMED":
        booking = core.transition(booking.code, "CONFIRMED")
    queue = ScheduledMessages.of(core)
    queue.plan()
    clock.now = TUE_15 - timedelta(days=1)
    return booking, queue, queue.claim()


def remind(chat: Chat, code: str, message_id: str):
    return chat.run(ActionReminder(), "EXTERNAL_reminder", booking_code=code, notice=message_id)


def test_the_reminder_says_when_and_offers_confirm_reschedule_cancel(core, clock):
    booking, queue, message = reminder_due(core, clock)
    _, msgs = remind(whatsapp_chat(), booking.code, message["_id"])
    assert texts(msgs) == [f"Reminder: your Balinese Massage at Ubud Serenity Spa is on Tue 24 "
                           f"Nov, 15:00 with Wayan (booking {booking.code}). Will you make it?"]
    code = '{"booking_code":"%s"}' % booking.code
    assert buttons(msgs) == [("Confirm", f"/confirm_visit{code}"),
                             ("Reschedule", f"/reschedule_booking{code}"),
                             ("Cancel", f"/cancel_booking{code}")]
    assert msgs[0]["outside_window"] == {
        "template": "reminder", "parameters": ["Balinese Massage", "Tue 24 Nov, 15:00"],
        "payloads": [p for _, p in buttons(msgs)]}
    _, again = remind(whatsapp_chat(), booking.code, message["_id"])
    assert again == []  # told once: a retry says nothing


def test_an_indonesian_customer_is_reminded_in_indonesian(core, clock):
    booking, queue, message = reminder_due(core, clock)
    chat = whatsapp_chat()
    chat.slots["language"] = "id"
    _, msgs = remind(chat, booking.code, message["_id"])
    assert texts(msgs)[0].startswith("Pengingat: Pijat Bali Anda di Ubud Serenity Spa pada Sel")
    assert [t for t, _ in buttons(msgs)] == ["Konfirmasi", "Ubah jadwal", "Batalkan"]


def test_a_typed_or_someone_elses_reminder_says_nothing_of_the_booking(core, clock):
    booking, queue, message = reminder_due(core, clock)
    _, forged = remind(whatsapp_chat(), booking.code, f"{booking.code}:reminder_24h:x")
    assert not any(booking.code in (t or "") for t in texts(forged))  # the menu instead
    _, other = remind(whatsapp_chat("6289999999999"), booking.code, message["_id"])
    assert other == []
    assert not queue.get(message["_id"]).get("told_at")  # still to tell its own customer
    # the customer typing their own reminder's (guessable) payload before it is due
    queue.again(message["_id"], "not yet")  # (back to waiting)
    _, early = remind(whatsapp_chat(), booking.code, message["_id"])
    assert not any(booking.code in (t or "") for t in texts(early))
    assert not queue.get(message["_id"]).get("told_at")


def test_a_booking_cancelled_after_the_claim_gets_no_reminder(core, clock):
    booking, queue, message = reminder_due(core, clock)
    core.cancel(booking.code)
    _, msgs = remind(whatsapp_chat(), booking.code, message["_id"])
    assert msgs == [] and not queue.get(message["_id"]).get("told_at")


def test_confirm_is_noted_on_the_reminder_and_thanked_and_so_is_yes(core, clock):
    booking, queue, message = reminder_due(core, clock)
    chat = whatsapp_chat()
    _, reminder = remind(chat, booking.code, message["_id"])
    chat.history.append({"event": "bot", "text": reminder[0]["text"],
                         "data": {"buttons": reminder[0]["buttons"]}})
    _, thanks = chat.run(ActionYes(), "affirm", "yes see you then")
    assert texts(thanks) == ["Thank you! We look forward to seeing you on Tue 24 Nov, 15:00 ✨"]
    assert queue.get(message["_id"])["answer"] == "confirmed"
    _, tapped = whatsapp_chat().run(ActionConfirmVisit(), "confirm_visit",
                                    booking_code=booking.code)
    assert texts(tapped)[0].startswith("Thank you!")  # again: still thanked, noted once


def test_confirm_of_someone_elses_or_a_cancelled_booking_confirms_nothing(core, clock):
    booking, queue, message = reminder_due(core, clock)
    _, msgs = whatsapp_chat("6289999999999").run(ActionConfirmVisit(), "confirm_visit",
                                                 booking_code=booking.code)
    assert texts(msgs)[0].startswith("That booking is not coming up any more")
    core.cancel(booking.code)
    _, msgs = whatsapp_chat().run(ActionConfirmVisit(), "confirm_visit",
                                  booking_code=booking.code)
    assert texts(msgs)[0].startswith("That booking is not coming up any more")
    assert "answer" not in queue.get(message["_id"])
