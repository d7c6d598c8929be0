"""The console's transcript on a real mongod, from event documents as Rasa's tracker store
writes them: taps read as their titles, news triggers and other events skipped, the team's
messages named, one business's lines only, queued and failed messages, bookings in the timeline."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from console.transcript import BOOKING, BOT, CUSTOMER, STAFF, TAPPED, Transcript

NUMBER = "6281234567890"
T0 = datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc)


class Tracker:
    """Writes one customer's events like ``channels.tracker_store`` does."""

    def __init__(self, db: Any, sender: str = NUMBER) -> None:
        self.db, self.sender, self.seq = db, sender, 0

    def add(self, event: dict[str, Any], minute: float) -> None:
        at = T0 + timedelta(minutes=minute)
        self.db.trackers_events.insert_one({"sender_id": self.sender, "seq": self.seq, "at": at,
                                            "event": {"timestamp": at.timestamp(), **event}})
        self.seq += 1

    def user(self, text: str, minute: float, business: str | None = "spa", title: str = "",
             intent: str = "greet", channel: str = "whatsapp") -> None:
        metadata = {"business_id": business, "title": title} if business else {}
        self.add({"event": "user", "text": text, "input_channel": channel,
                  "message_id": f"wamid.{self.seq}", "metadata": metadata,
                  "parse_data": {"intent": {"name": intent, "confidence": 1.0}}}, minute)

    def bot(self, text: str | None, minute: float, buttons: list[str] | None = None,
            custom: dict | None = None, **metadata: Any) -> None:
        self.add({"event": "bot", "text": text, "metadata": metadata, "data": {
            "buttons": [{"title": b, "payload": f"/choose{{\"x\":\"{b}\"}}"} for b in buttons]
            if buttons else None, "custom": custom}}, minute)

    def other(self, name: str, minute: float) -> None:
        self.add({"event": name, "name": "action_listen"}, minute)


@pytest.fixture
def tracker(db):
    return Tracker(db)


@pytest.fixture
def transcript(db):
    return Transcript(db)


def test_taps_read_as_their_titles_and_news_triggers_and_other_events_are_skipped(
        tracker, transcript):
    tracker.user("hi, a massage tomorrow?", 0)
    tracker.other("action", 0.1)
    tracker.bot("Which time suits you?", 0.2, buttons=["10:00", "14:00"])
    tracker.other("slot", 0.3)
    tracker.user('/choose_slot{"slot":"10:00"}', 1, title="10:00")
    tracker.user('/affirm', 2)
    tracker.user('/EXTERNAL_payment_update{"code":"BK1"}', 3, title="Paid")
    tracker.bot("Paid, thank you!", 3.1)
    lines = transcript.lines("spa", NUMBER)
    assert [(line.who, line.text) for line in lines] == [
        (CUSTOMER, "hi, a massage tomorrow?"), (BOT, "Which time suits you?"),
        (CUSTOMER, "10:00"), (CUSTOMER, TAPPED), (BOT, "Paid, thank you!")]
    assert lines[1].buttons == ("10:00", "14:00")
    assert lines[0].at == T0 and lines[0].at.tzinfo is not None
    assert not any(line.text.startswith("/") for line in lines)


def test_whatsapp_payloads_read_as_words(tracker, transcript):
    tracker.user("book", 0)
    tracker.bot(None, 1, custom={"type": "interactive", "interactive": {
        "type": "cta_url", "body": {"text": "Pay Rp350.000 for BK123456"},
        "action": {"name": "cta_url", "parameters": {"display_text": "Pay now",
                                                     "url": "https://pay.example/x"}}}})
    tracker.bot(None, 2, custom={"type": "document", "document": {
        "link": "https://x.example/r.pdf", "filename": "BK123456.pdf"}})
    tracker.bot(None, 3, custom={"type": "interactive", "interactive": {
        "type": "flow", "body": {"text": "Pick a time in the form"},
        "action": {"name": "flow", "parameters": {"flow_cta": "Booking form"}}}})
    tracker.bot(None, 4, custom={"type": "template", "template": {"name": "booking_follow_up"}})
    tracker.bot(None, 5, custom={"whatsapp": {"type": "cta_url", "text": "Pay again",
                                              "display_text": "Pay", "url": "https://p"}})
    tracker.bot(None, 6, custom={"type": "image", "image": {"link": "https://x"}})
    assert [line.text for line in transcript.lines("spa", NUMBER)][1:] == [
        "Pay Rp350.000 for BK123456 [Pay now]", "📄 BK123456.pdf",
        "Pick a time in the form [Booking form]", "Template: booking_follow_up",
        "Pay again [Pay]"]


def test_the_teams_messages_are_named_and_messages_to_a_person_are_marked(tracker, transcript):
    tracker.user("can I talk to someone?", 0)
    tracker.bot("Ayu will answer you here.", 1, staff="desk@spa", kind="staff", item="staff:1",
                business_id="spa")
    tracker.user("is 3pm free?", 2, intent="message_to_staff")
    tracker.bot("Yes, see you!", 3, staff="WhatsApp Business app", kind="echo", item="echo:1")
    lines = transcript.lines("spa", NUMBER)
    assert [(line.who, line.staff, line.to_staff) for line in lines] == [
        (CUSTOMER, "", False), (STAFF, "desk@spa", False), (CUSTOMER, "", True),
        (STAFF, "WhatsApp Business app", False)]


def test_one_number_talking_to_two_businesses_sees_one_business_each(tracker, transcript):
    tracker.user("spa: hi", 0, business="spa")
    tracker.bot("Welcome to the spa", 1)
    tracker.user("salon: hi", 2, business="salon")
    tracker.bot("Welcome to the salon", 3)
    tracker.bot("Spa news for you", 4, business_id="spa")
    tracker.user("spa again", 5, business="spa")
    tracker.bot("Spa answer", 6)
    assert [line.text for line in transcript.lines("spa", NUMBER)] == [
        "spa: hi", "Welcome to the spa", "Spa news for you", "spa again", "Spa answer"]
    assert [line.text for line in transcript.lines("salon", NUMBER)] == [
        "salon: hi", "Welcome to the salon"]
    assert transcript.lines("nobody", NUMBER) == []


def test_the_latest_events_are_read_oldest_first_and_a_cut_keeps_the_business(tracker,
                                                                               transcript):
    tracker.user("salon: hi", 0, business="salon")
    tracker.user("spa: hi", 1, business="spa")
    for i in range(10):
        tracker.bot(f"answer {i}", 2 + i)
    lines = transcript.lines("spa", NUMBER, limit=5)
    assert [line.text for line in lines] == [f"answer {i}" for i in range(5, 10)]
    assert transcript.lines("salon", NUMBER, limit=5) == []


def test_queued_and_failed_team_messages_come_after_the_tracker_ones(db, tracker, transcript):
    tracker.user("hello", 0)
    tracker.bot("written already", 1, staff="desk@spa", kind="staff", item="staff:written")
    base = {"sender": NUMBER, "business_id": "spa", "phone_number_id": "1001", "seq": 1,
            "received_at": T0 + timedelta(minutes=5), "extra": {"who": "desk@spa"}}
    db.wa_inbox.insert_many([
        {**base, "_id": "staff:written", "kind": "staff", "text": "written already",
         "status": "processing"},
        {**base, "_id": "staff:a", "kind": "staff", "text": "on its way", "status": "received",
         "seq": 2},
        {**base, "_id": "staff:b", "kind": "staff", "text": "refused", "status": "failed",
         "error": "Graph 131047: re-engagement message", "seq": 3},
        {**base, "_id": "template:c", "kind": "template", "text": "", "status": "received",
         "seq": 4},
        {**base, "_id": "staff:d", "kind": "staff", "text": "sent", "status": "done", "seq": 5},
        {**base, "_id": "handback:e", "kind": "handback", "text": "", "status": "received"},
        {**base, "_id": "staff:f", "kind": "staff", "text": "other business", "seq": 6,
         "status": "received", "business_id": "salon"},
        {**base, "_id": "m1", "kind": "text", "text": "a customer message", "seq": 7,
         "status": "received"}])
    lines = transcript.lines("spa", NUMBER)
    assert [(line.text, line.pending, line.failed) for line in lines] == [
        ("hello", False, False), ("written already", False, False),
        ("on its way", True, False), ("refused", False, True), ("Template", True, False)]
    assert lines[3].error == "Graph 131047: re-engagement message"
    assert {line.staff for line in lines[1:]} == {"desk@spa"}


def test_bookings_are_merged_in_by_when_they_were_made(db, tracker, transcript):
    tracker.user("a massage please", 0)
    tracker.bot("Booked! See you.", 10)

    def booking(code: str, minute: float, business: str = "spa", customer: str = NUMBER) -> dict:
        made = T0 + timedelta(minutes=minute)
        return {"code": code, "business_id": business, "customer_id": customer,
                "service_id": "massage", "staff_id": "wayan", "customer_name": "Ayu",
                "start": made + timedelta(days=1), "end": made + timedelta(days=1, hours=1),
                "status": "CONFIRMED", "price": 350000, "currency": "IDR", "version": 1,
                "created_at": made}
    db.bookings.insert_many([booking("BK000001", 5), booking("BK000002", 5, business="salon"),
                             booking("BK000003", 6, customer="6281100000009")])
    lines = transcript.lines("spa", NUMBER)
    assert [(line.who, line.text) for line in lines] == [
        (CUSTOMER, "a massage please"), (BOOKING, "Booked BK000001"), (BOT, "Booked! See you.")]
    assert lines[1].booking_code == "BK000001" and lines[1].booking.service_id == "massage"


def test_a_local_chat_customer_reads_the_default_business_and_their_own_channel(db):
    local = Tracker(db, sender="me")
    local.user("hi from the shell", 0, business=None, channel="rest")
    local.bot("Hello!", 1)
    local.user("hi from socket", 2, business=None, channel="socketio")
    local.bot("Hello socket", 3)
    lines = Transcript(db, default_business_id="spa").lines("spa", "rest:me")
    assert [line.text for line in lines] == ["hi from the shell", "Hello!"]
    assert Transcript(db).lines("spa", "rest:me") == []


def test_a_whatsapp_message_of_no_known_business_is_nobodys(tracker, db):
    tracker.user("to an unknown number", 0, business=None)
    tracker.bot("refused", 1)
    assert Transcript(db, default_business_id="spa").lines("spa", NUMBER) == []
