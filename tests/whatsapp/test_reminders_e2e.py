"""Reminders through the running stack (Rasa with its scheduler's sender, the action server, a
Graph stand-in): planned from a confirmed booking, sent when due (brought forward as the
console's "send now" does), once; outside the 24-hour window as the approved template with the
same buttons; and each button continues the conversation: Confirm is noted, Reschedule leads
to a new time (with new reminders), Cancel cancels and the next reminder is dropped."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from booking.bookings import BookingRequest, BookingService
from booking.db import connect
from booking.errors import SlotConflictError
from booking.models import CONFIRMED, Booking
from booking.runtime import CachedCatalog
from booking.scheduler import DROPPED, ScheduledMessages
from tests.whatsapp.conftest import SPA, envelope, tap
from tests.whatsapp.test_payments_e2e import body_text, choices, eventually
from tests.whatsapp.conftest import wait_done
from tests.whatsapp.test_typed_conversations_e2e import (Typist, at, booked, card_of, local,
                                                         offered_times, typed)

pytestmark = pytest.mark.e2e
BALI = ZoneInfo("Asia/Makassar")


def near_weekdays() -> list[date]:
    """Monday-to-Friday days 2 to 6 days ahead (reminders are planned 8 days ahead)."""
    today = datetime.now(BALI).date()
    days = [today + timedelta(days=n) for n in range(2, 7)]
    return [d for d in days if d.weekday() < 5 and (d.month, d.day) not in ((12, 25), (12, 31),
                                                                            (1, 1))]


class Reminded(Typist):
    """A customer with a confirmed booking made at the desk days ago (no chat yet)."""

    def __init__(self, stack: Any, db: Any, graph: Any) -> None:
        super().__init__(stack, db, graph)
        core_db = connect(stack.env["MONGODB_URL"], stack.env["MONGODB_DB"])
        self.core = BookingService(core_db, CachedCatalog(core_db))
        self.scheduled = ScheduledMessages.of(self.core)
        booking = self.free_booking()
        self.day = local({"start": booking.start}).date()
        if booking.status != CONFIRMED:  # (paid for: what the Xendit webhook does)
            booking = self.core.transition(booking.code, CONFIRMED)
        self.code = booking.code
        eventually(lambda: len(self.messages(False)) == 5, "the sender planned the 5 messages")

    def free_booking(self) -> Booking:
        """A booking at 10:00 on one of the next weekdays within the planning horizon."""
        for day in near_weekdays():
            try:
                return self.core.create(BookingRequest(
                    service_id="balinese-massage", start=at(day, 10), customer_id=self.who,
                    customer_name="Ayu"))
            except SlotConflictError:
                continue
        raise AssertionError("no free 10:00 in the coming days")

    def messages(self, reminders_only: bool = True) -> list[dict[str, Any]]:
        """The booking's reminders (or all its scheduled messages), in due order."""
        found = self.scheduled.of_booking(self.code)
        return [m for m in found if m["kind"].startswith("reminder_")] if reminders_only \
            else found

    def send_now(self) -> dict[str, Any]:
        """The console's "send the next scheduled message now"; the message once handled."""
        message = self.scheduled.send_now(self.code)
        return eventually(lambda: (m := self.scheduled.get(message["_id"]))["state"] in (
            "SENT", DROPPED, "FAILED") and m, f"{message['kind']} handled")

    def received(self) -> list[dict[str, Any]]:
        """What the bot sent since last asked (``says`` counts from there too)."""
        sent = self.graph.sent_to(self.who)
        new, self.seen = sent[self.seen:], len(sent)
        return new

    def taps(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        payload = message
        assert self.stack.post(payload) == 200
        wamid = payload["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
        assert wait_done(self.db, wamid)["status"] == "done"
        return self.received()


def test_a_reminder_comes_once_with_its_buttons_and_confirm_is_noted(wa, graph):
    stack, db = wa
    r = Reminded(stack, db, graph)
    first, second = r.messages()
    assert (first["kind"], second["kind"]) == ("reminder_24h", "reminder_2h")
    assert local({"start": first["next_at"]}) == at(r.day - timedelta(days=1), 10)
    assert local({"start": second["next_at"]}) == at(r.day, 8)  # 10:00 less 2 hours
    assert r.send_now()["state"] == "SENT"
    [reminder] = r.received()
    assert body_text(reminder).startswith("Reminder: your Balinese Massage at Ubud Serenity Spa")
    assert r.code in body_text(reminder)
    buttons = choices(reminder)
    assert list(buttons) == ["Confirm", "Reschedule", "Cancel"]
    assert buttons["Reschedule"] == '/reschedule_booking{"booking_code":"%s"}' % r.code

    [thanks] = r.taps(tap(r.who, buttons["Confirm"], "Confirm"))
    assert body_text(thanks).startswith("Thank you! We look forward to seeing you on")
    assert r.scheduled.get(first["_id"])["answer"] == "confirmed"

    assert r.send_now()["kind"] == "reminder_2h"  # the next one; the first never again
    [again] = r.received()
    assert body_text(again).startswith("Reminder:")
    assert [m["state"] for m in r.messages()] == ["SENT", "SENT"]


def test_outside_the_window_the_template_comes_and_its_reschedule_tap_leads_to_a_new_time(
        wa, graph):
    stack, db = wa
    r = Reminded(stack, db, graph)
    graph.outside_window.add(r.who)  # they last wrote days ago
    try:
        assert r.send_now()["state"] == "SENT"
    finally:
        graph.outside_window.discard(r.who)  # (writing back opens the window again)
    [template] = r.received()
    assert template["type"] == "template"
    assert template["template"]["name"] == "booking_reminder"
    components = template["template"]["components"]
    assert components[0]["parameters"][0]["text"] == "Balinese Massage"
    payloads = [c["parameters"][0]["payload"] for c in components[1:]]
    assert payloads[1] == '/reschedule_booking{"booking_code":"%s"}' % r.code

    asked = r.taps(envelope(r.who, {"type": "button",
                                    "button": {"payload": payloads[1], "text": "Reschedule"}}))
    assert asked, "the tap got no answer"
    later = next(d for d in near_weekdays() if d != r.day)
    free = offered_times(r.says(typed(later)))
    assert "Move booking" in card_of(r.says(free[0]))
    moved = booked(r)
    assert moved["code"] == r.code and local(moved).date() == later
    # the old reminders are dropped and new ones planned for the new time
    start = r.core.get(r.code).start

    def replanned() -> bool:
        messages = r.messages(False)
        return [m["state"] for m in messages if m["start"] == start] == ["PENDING"] * 5 and \
            [m["state"] for m in messages if m["start"] != start] == ["SENT"] + [DROPPED] * 4
    eventually(replanned, "the messages planned for the new time, the old ones dropped")


def test_a_reminders_cancel_tap_cancels_and_the_next_reminder_is_dropped(wa, graph):
    stack, db = wa
    r = Reminded(stack, db, graph)
    r.send_now()
    [reminder] = r.received()
    [question] = r.taps(tap(r.who, choices(reminder)["Cancel"], "Cancel"))
    [answer] = r.taps(tap(r.who, choices(question)["Yes, cancel it"], "Yes, cancel it"))
    assert r.core.get(r.code).status == "CANCELLED", body_text(answer)
    assert r.scheduled.send_now(r.code) is None  # (the console: nothing of it can go now)
    later = next(m for m in r.messages() if m["state"] == "PENDING")
    r.scheduled.collection.update_one({"_id": later["_id"]},  # its time comes
                                      {"$set": {"next_at": r.core.clock()}})
    dropped = eventually(lambda: (m := r.scheduled.get(later["_id"]))["state"] == DROPPED
                         and m, "the 2 h reminder handled")
    assert (dropped["kind"], dropped["state"]) == ("reminder_2h", DROPPED)
    assert dropped["error"] == "the booking is cancelled"
    assert r.received() == []  # nothing was said about it


def test_a_reminder_refused_later_as_outside_the_window_comes_as_its_own_template(wa, graph):
    """Meta may take a message and refuse it afterwards (a failed status, 131047): the
    reminder's own template then goes, not the generic "we have news" one."""
    stack, db = wa
    r = Reminded(stack, db, graph)
    r.send_now()
    [reminder] = r.received()
    sent = db.wa_outbox.find_one({"to": r.who, "status": "sent", "instead": {"$exists": True}})
    receipt = {"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{
        "field": "messages", "value": {"metadata": {"phone_number_id": SPA}, "statuses": [{
            "id": sent["wamid"], "status": "failed", "timestamp": "1", "recipient_id": r.who,
            "errors": [{"code": 131047, "title": "Re-engagement message"}]}]}}]}]}
    assert stack.post(receipt) == 200
    [template] = graph.wait_for_messages(r.who, r.seen + 1)[r.seen:]
    assert template["template"]["name"] == "booking_reminder"
    assert [c["parameters"][0]["payload"] for c in template["template"]["components"][1:]] == \
        list(choices(reminder).values())
