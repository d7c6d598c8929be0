"""The waiting list through the running stack (Rasa with the waiting list's sender, the action
server, a Graph stand-in): a day with no free time offers [Tell me if one opens]; when a booking
on it is cancelled, the first customer who joined is offered the time, held for them; No thanks
passes it to the next one, whose Confirm books it: one booking, with its payment link."""
from __future__ import annotations

from contextlib import contextmanager
from datetime import date, datetime, timedelta
from typing import Any, Iterator
from zoneinfo import ZoneInfo

import pytest

from booking.bookings import BookingRequest, BookingService
from booking.catalog_store import CatalogRepository
from booking.db import connect
from booking.models import ACTIVE_STATUSES, Booking
from booking.runtime import CachedCatalog
from tests.whatsapp.conftest import tap, wait_done
from tests.whatsapp.test_payments_e2e import body_text, choices, eventually
from tests.whatsapp.test_typed_conversations_e2e import Typist

pytestmark = pytest.mark.e2e
BALI = ZoneInfo("Asia/Makassar")
FACIAL = "natural-facial"  # Nyoman's alone


class Waiting(Typist):
    """A customer who asks for a facial on a full day and may wait for it."""

    def taps(self, payload: str, title: str) -> list[dict[str, Any]]:
        message = tap(self.who, payload, title)
        assert self.stack.post(message) == 200
        assert wait_done(self.db, message["entry"][0]["changes"][0]["value"]["messages"][0][
            "id"])["status"] == "done"
        return self.received()

    def received(self) -> list[dict[str, Any]]:
        sent = self.graph.sent_to(self.who)
        new, self.seen = sent[self.seen:], len(sent)
        return new

    def next_message(self, what: str) -> dict[str, Any]:
        """The next message the server sends of itself (the offer)."""
        return eventually(lambda: (new := self.graph.sent_to(self.who)[self.seen:]) and (
            self.received()[0] if new else None), what)


def full_day(core: BookingService) -> tuple[date, list[Booking]]:
    """A day 2 to 6 days ahead on which Nyoman works, filled with facials of other customers."""
    today = datetime.now(BALI).date()
    for n in range(2, 7):
        day = today + timedelta(days=n)
        if day.weekday() == 1 or (day.month, day.day) in ((12, 25), (12, 31), (1, 1)):
            continue  # Nyoman's Tuesday off; holidays
        made = []
        while slots := core.free_slots(FACIAL, day):
            made.append(core.create(BookingRequest(
                service_id=FACIAL, start=slots[0].start, customer_id=f"62812300099{len(made):02d}",
                customer_name="Guest")))
        if made:
            return day, made
    raise AssertionError("no day of Nyoman's to fill")


@contextmanager
def awake(core_db: Any, core: BookingService,
          business: str = "ubud-serenity-spa") -> Iterator[None]:
    """The business's quiet hours (no offer is sent in them: 21:00-08:00 in Bali) moved away
    from now while the test runs, wherever in Bali's day the suite runs; put back after."""
    hour = datetime.now(BALI).hour
    quiet = f"{(hour + 3) % 24:02d}:00-{(hour + 4) % 24:02d}:00"
    repository = CatalogRepository(core_db)
    before = core_db.catalog_businesses.find_one({"_id": business}).get("reminders")
    core_db.catalog_businesses.update_one({"_id": business},
                                          {"$set": {"reminders": {"quiet_hours": quiet}}})
    repository.bump()  # every server's catalog reloads within a second
    version = repository.version()
    try:
        assert eventually(lambda: core.catalog.businesses[business].reminders.quiet_start.hour
                          == (hour + 3) % 24, "the catalog reloaded")
        yield
    finally:
        change = {"$set": {"reminders": before}} if before else {"$unset": {"reminders": ""}}
        core_db.catalog_businesses.update_one({"_id": business}, change)
        if repository.version() == version:
            repository.bump()


def test_freed_time_goes_to_the_waiting_list_in_order_and_becomes_one_booking(wa, graph):
    stack, db = wa
    core_db = connect(stack.env["MONGODB_URL"], stack.env["MONGODB_DB"])
    core = BookingService(core_db, CachedCatalog(core_db))
    with awake(core_db, core):
        offered_in_order(stack, db, graph, core)


def offered_in_order(stack: Any, db: Any, graph: Any, core: BookingService) -> None:
    day, bookings = full_day(core)
    first, second = Waiting(stack, db, graph), Waiting(stack, db, graph)
    for customer in (first, second):
        answer = customer.says(f"natural glow facial on {day.day}/{day.month}")
        asked = answer[-1]
        assert body_text(asked).startswith("Sorry, there are no free times for Natural Glow "
                                           "Facial on"), customer.texts(answer)
        join = choices(asked)["Tell me if one opens"]
        assert join == '/join_waitlist{"service":"%s","date":"%s"}' % (FACIAL, day.isoformat())
        [done] = customer.taps(join, "Tell me if one opens")
        assert body_text(done).startswith("Done: if a time for Natural Glow Facial opens up on")

    freed = bookings[len(bookings) // 2]
    core.cancel(freed.code)  # another customer cancels: the time frees up
    offer = first.next_message("the first customer's offer")
    assert body_text(offer).startswith("Good news: Natural Glow Facial on")
    assert f"{freed.start.astimezone(BALI):%H:%M}" in body_text(offer)
    buttons = choices(offer)
    assert list(buttons) == ["Confirm", "No thanks"]
    assert second.received() == []  # held for the first: the second hears nothing
    held = db.bookings.find_one({"status": "OFFERED"})
    assert held["customer_id"] == first.who and held["start"] == freed.start.replace(tzinfo=None)

    [let_go] = first.taps(buttons["No thanks"], "No thanks")
    assert body_text(let_go) == "No problem, I've let it go to the next person on the list."
    offer = second.next_message("the second customer's offer")
    assert body_text(offer).startswith("Good news: Natural Glow Facial on")
    booked = second.taps(choices(offer)["Confirm"], "Confirm")
    assert body_text(booked[0]).startswith("Booked ✅")
    assert any("Pay now" in str(m) for m in booked)
    at_that_time = list(db.bookings.find({"start": freed.start.replace(tzinfo=None),
                                          "staff_id": freed.staff_id,
                                          "status": {"$in": list(ACTIVE_STATUSES)}}))
    assert [(b["customer_id"], b["status"]) for b in at_that_time] == [
        (second.who, "PENDING_PAYMENT")]
    assert first.received() == []  # nothing more for the first
