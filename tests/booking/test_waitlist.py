"""The waiting list on a real mongod with a hand-moved clock: freed time offered in the order
customers joined, held so that it stays one booking, passed on when nobody answers, once
whatever two servers or a crash do."""
from __future__ import annotations

import threading
from datetime import date, datetime, timedelta

import pytest

from booking.bookings import BookingRequest, BookingService
from booking.errors import (CustomerLimitError, SlotConflictError, UnknownEntityError,
                            ValidationError)
from booking.limits import CustomerLimits
from booking.models import ACTIVE_STATUSES, CONFIRMED, OFFERED, PENDING_PAYMENT, WITHDRAWN
from booking.waitlist import (BOOKED, CLAIM_STALE, ENDED, LEFT, MAX_WAITING, OFFERING, PASSED,
                              WAITING, Waitlist, Wish, entry_id)
from tests.booking.factories import catalog, staff
from tests.booking.test_scheduler import WEDNESDAY, bali

SHORT_DAY = {d: "10:00-12:00" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
ANN, BUDI, CITRA = "6281100000101", "6281100000102", "6281100000103"


def make_core(db, clock, **business) -> BookingService:
    return BookingService(db, catalog(staff_members=[staff(weekly_hours=SHORT_DAY)], **business),
                          clock=clock)


@pytest.fixture
def core(db, clock):
    return make_core(db, clock)


def book(core, hhmm: str, customer: str = "6281100000001", day: date = WEDNESDAY):
    return core.create(BookingRequest(service_id="massage", start=bali(day, hhmm),
                                      customer_id=customer, customer_name="Guest"))


def full_day(core):
    """Wayan's Wednesday, 10:00-12:00, holds two one-hour massages: nothing is free."""
    first = book(core, "10:00", customer="6281100000001")
    second = book(core, "11:00", customer="6281100000002")
    assert core.free_slots("massage", WEDNESDAY) == []
    return first, second


def join(waitlist: Waitlist, customer: str, day: date = WEDNESDAY, **wish) -> dict:
    entry, _ = waitlist.join(Wish("spa", customer, "massage", day, **wish),
                             {"sender_id": customer, "channel": "whatsapp"})
    return entry


def state_of(waitlist: Waitlist, customer: str, day: date = WEDNESDAY) -> str:
    return waitlist.entries.find_one({"_id": entry_id(Wish("spa", customer, "massage", day))})[
        "state"]


def holding(core, start: datetime) -> list[dict]:
    return list(core.db.bookings.find({"start": start, "status": {"$in": list(ACTIVE_STATUSES)}}))


def test_a_freed_time_is_offered_to_the_first_customer_who_joined_and_held_for_them(core, clock):
    first, _ = full_day(core)
    waitlist = Waitlist(core)
    join(waitlist, ANN)
    clock.now += timedelta(minutes=1)
    join(waitlist, BUDI)
    assert waitlist.match() == []  # nothing is free yet
    core.cancel(first.code)
    offers = waitlist.match()
    assert [(o.customer_id, o.status, o.start) for o in offers] == [
        (ANN, OFFERED, bali(WEDNESDAY, "10:00"))]
    assert offers[0].hold_until == clock.now + timedelta(minutes=10)
    assert core.free_slots("massage", WEDNESDAY) == []  # held: nobody else can book it
    with pytest.raises(SlotConflictError):
        book(core, "10:00", customer=CITRA)
    assert waitlist.match() == []  # one freed time, one offer
    assert state_of(waitlist, ANN) == "OFFERED" and state_of(waitlist, BUDI) == WAITING
    told = waitlist.offers.get(f"{offers[0].code}:offer")
    assert told["conversation"]["sender_id"] == ANN and told["state"] == "PENDING"


def test_no_answer_in_time_passes_the_time_to_the_next_customer(core, clock):
    first, _ = full_day(core)
    waitlist = Waitlist(core)
    join(waitlist, ANN)
    clock.now += timedelta(minutes=1)
    join(waitlist, BUDI)
    core.cancel(first.code)
    (to_ann,) = waitlist.match()
    clock.now += timedelta(minutes=9)
    assert waitlist.match() == []  # Ann still has a minute
    clock.now += timedelta(minutes=1)
    (to_budi,) = waitlist.match()
    assert to_budi.customer_id == BUDI and to_budi.start == to_ann.start
    assert state_of(waitlist, ANN) == PASSED
    with pytest.raises(UnknownEntityError):  # Ann's late tap: the time is no longer hers
        waitlist.accept(to_ann.code, ANN, "spa")
    assert [b["customer_id"] for b in holding(core, to_ann.start)] == [BUDI]


def test_accepting_makes_it_one_confirmed_booking_and_a_repeated_tap_changes_nothing(core, clock):
    first, _ = full_day(core)
    waitlist = Waitlist(core)
    join(waitlist, ANN)
    core.cancel(first.code)
    (offer,) = waitlist.match()
    booking = waitlist.accept(offer.code, ANN, "spa")
    assert (booking.code, booking.status, booking.from_waitlist) == (offer.code, CONFIRMED, True)
    assert waitlist.accept(offer.code, ANN, "spa").version == booking.version  # a second tap
    assert state_of(waitlist, ANN) == BOOKED
    assert [b["code"] for b in holding(core, offer.start)] == [offer.code]
    # now it counts like any booking: the customer's limit slot and the plan's month
    doc = core.db.bookings.find_one({"code": offer.code})
    assert doc["upcoming_slot"] == f"spa:{ANN}:1" and doc["usage_month"] == "2026-11"
    assert core.upcoming(ANN, "spa")[0].code == offer.code
    clock.now += timedelta(hours=1)
    assert waitlist.match() == [] and core.get(offer.code).status == CONFIRMED


def test_a_business_that_takes_payment_first_holds_the_accepted_offer_for_payment(db, clock):
    core = make_core(db, clock, payment_required=True)
    first, _ = full_day(core)
    waitlist = Waitlist(core)
    join(waitlist, ANN)
    core.release_hold(first.code, 1)  # an unpaid hold ran out: its time frees up too
    (offer,) = waitlist.match()
    booking = waitlist.accept(offer.code, ANN, "spa")
    assert booking.status == PENDING_PAYMENT
    assert booking.hold_until == clock.now + core.hold
    assert db.bookings.find_one({"code": offer.code})["hold_slot"] == f"spa:{ANN}:1"


def test_only_the_customer_offered_can_accept_or_decline(core, clock):
    first, _ = full_day(core)
    waitlist = Waitlist(core)
    join(waitlist, ANN)
    core.cancel(first.code)
    (offer,) = waitlist.match()
    for attempt in (lambda: waitlist.accept(offer.code, BUDI, "spa"),
                    lambda: waitlist.accept(offer.code, ANN, "other-spa")):
        with pytest.raises(UnknownEntityError):
            attempt()
    assert not waitlist.decline(offer.code, BUDI, "spa")
    assert not waitlist.decline(offer.code, ANN, "other-spa")
    assert core.get(offer.code).status == OFFERED
    with pytest.raises(Exception):  # nor can the desk's generic lifecycle confirm it
        core.transition(offer.code, CONFIRMED)


def test_declining_frees_the_time_for_the_next_customer_and_leaves_the_list(core, clock):
    first, _ = full_day(core)
    waitlist = Waitlist(core)
    join(waitlist, ANN)
    clock.now += timedelta(minutes=1)
    join(waitlist, BUDI)
    core.cancel(first.code)
    (to_ann,) = waitlist.match()
    assert waitlist.decline(to_ann.code, ANN, "spa")
    assert not waitlist.decline(to_ann.code, ANN, "spa")  # a repeated tap
    assert state_of(waitlist, ANN) == LEFT
    (to_budi,) = waitlist.match()
    assert to_budi.customer_id == BUDI
    entry, new = waitlist.join(Wish("spa", ANN, "massage", WEDNESDAY), {"sender_id": ANN})
    assert new and entry["state"] == WAITING  # Ann may join again, at the end


def test_a_booking_moved_away_frees_its_time_for_the_list(core, clock):
    first, _ = full_day(core)
    waitlist = Waitlist(core)
    join(waitlist, ANN)
    core.reschedule(first.code, bali(WEDNESDAY + timedelta(days=1), "10:00"))
    (offer,) = waitlist.match()
    assert offer.start == bali(WEDNESDAY, "10:00")


def test_the_wished_part_of_the_day_and_the_customers_own_booking_are_respected(core, clock):
    first, second = full_day(core)
    waitlist = Waitlist(core)
    join(waitlist, ANN, part_of_day="afternoon")  # 10:00-12:00 is no afternoon
    clock.now += timedelta(minutes=1)
    join(waitlist, BUDI)
    book(core, "10:00", customer=BUDI, day=WEDNESDAY + timedelta(days=7))  # another day: fine
    core.cancel(first.code)
    (offer,) = waitlist.match()
    assert offer.customer_id == BUDI
    assert state_of(waitlist, ANN) == WAITING
    # Citra joined, then booked that service that day herself: she is not offered another
    join(waitlist, CITRA)
    waitlist.decline(offer.code, BUDI, "spa")
    core.cancel(second.code)
    book(core, "11:00", customer=CITRA)
    assert waitlist.match() == [] or all(o.customer_id != CITRA for o in waitlist.match())
    assert state_of(waitlist, CITRA) == ENDED


def test_nothing_is_offered_in_quiet_hours(core, clock):
    first, _ = full_day(core)
    waitlist = Waitlist(core)
    join(waitlist, ANN)
    clock.now = bali(WEDNESDAY - timedelta(days=1), "22:30")
    core.cancel(first.code)
    assert waitlist.match() == []
    clock.now = bali(WEDNESDAY, "08:00")
    assert [o.customer_id for o in waitlist.match()] == [ANN]


def test_a_day_that_has_come_ends_its_entries(core, clock):
    waitlist = Waitlist(core)
    join(waitlist, ANN)
    clock.now = bali(WEDNESDAY + timedelta(days=1), "08:00")
    assert waitlist.match() == []
    assert state_of(waitlist, ANN) == ENDED


def test_a_customer_waits_for_a_few_days_at_most_and_joining_twice_keeps_the_place(core, clock):
    waitlist = Waitlist(core)
    first = join(waitlist, ANN)
    clock.now += timedelta(minutes=5)
    again, new = waitlist.join(Wish("spa", ANN, "massage", WEDNESDAY), {"sender_id": ANN})
    assert not new and again["joined_at"] == first["joined_at"]
    for n in range(1, MAX_WAITING):
        join(waitlist, ANN, day=WEDNESDAY + timedelta(days=n))
    with pytest.raises(CustomerLimitError):
        join(waitlist, ANN, day=WEDNESDAY + timedelta(days=MAX_WAITING))


def test_an_offer_takes_no_limit_slot_until_it_is_accepted(db, clock):
    core = BookingService(db, catalog(staff_members=[staff(weekly_hours=SHORT_DAY)]),
                          clock=clock, limits=CustomerLimits(max_upcoming=1))
    first, _ = full_day(core)
    waitlist = Waitlist(core)
    join(waitlist, ANN)
    core.cancel(first.code)
    (offer,) = waitlist.match()
    assert "upcoming_slot" not in db.bookings.find_one({"code": offer.code})
    book(core, "10:00", customer=ANN, day=WEDNESDAY + timedelta(days=1))  # her one booking
    with pytest.raises(CustomerLimitError):
        waitlist.accept(offer.code, ANN, "spa")
    assert core.get(offer.code).status == OFFERED


def test_two_servers_matching_at_once_make_one_offer_per_freed_time(core, clock):
    first, _ = full_day(core)
    for n, customer in enumerate((ANN, BUDI, CITRA)):
        clock.now += timedelta(seconds=n)
        join(Waitlist(core), customer)
    core.cancel(first.code)
    made: list = []
    barrier = threading.Barrier(4)

    def server() -> None:
        waitlist = Waitlist(make_core(core.db, clock))  # another process's objects
        barrier.wait()
        made.extend(waitlist.match())

    threads = [threading.Thread(target=server) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [o.customer_id for o in made] == [ANN]
    assert len(holding(core, bali(WEDNESDAY, "10:00"))) == 1
    assert core.db.waitlist_offers.count_documents({}) == 1


def test_a_crash_between_holding_and_telling_is_finished_once_by_the_next_round(core, clock):
    first, _ = full_day(core)
    waitlist = Waitlist(core)
    join(waitlist, ANN)
    core.cancel(first.code)
    key = entry_id(Wish("spa", ANN, "massage", WEDNESDAY))
    # what a server did before it died: claimed the entry and made the hold, told nobody
    waitlist.entries.update_one({"_id": key}, {"$set": {"state": OFFERING, "claimed_at": clock.now,
                                                        "offers": 1}})
    held = core.create(BookingRequest(service_id="massage", start=bali(WEDNESDAY, "10:00"),
                                      customer_id=ANN, idempotency_key=f"waitlist:{key}:1",
                                      offer_until=clock.now + timedelta(minutes=10)))
    assert waitlist.match() == [] and state_of(waitlist, ANN) == OFFERING  # not stale yet
    clock.now += CLAIM_STALE + timedelta(seconds=1)
    waitlist.match()
    assert state_of(waitlist, ANN) == "OFFERED"
    assert waitlist.entry_of_offer(held.code)["_id"] == key
    assert waitlist.offers.get(f"{held.code}:offer") is not None
    assert len(holding(core, held.start)) == 1


# --- what the review found: no entry stuck, no second hold, no hold for nothing -------------

def test_a_late_tap_before_the_next_round_leaves_no_entry_stuck(core, clock):
    first, _ = full_day(core)
    waitlist = Waitlist(core)
    join(waitlist, ANN)
    core.cancel(first.code)
    (offer,) = waitlist.match()
    clock.now += timedelta(minutes=11)  # over, and no round has run since
    with pytest.raises(UnknownEntityError):
        waitlist.accept(offer.code, ANN, "spa")
    assert core.get(offer.code).status == WITHDRAWN and state_of(waitlist, ANN) == PASSED
    _, new = waitlist.join(Wish("spa", ANN, "massage", WEDNESDAY), {"sender_id": ANN})
    assert new  # she may wait again


def test_a_crash_after_the_offer_was_recorded_but_not_written_to_tell_is_told(core, clock):
    first, _ = full_day(core)
    waitlist = Waitlist(core)
    join(waitlist, ANN)
    core.cancel(first.code)
    (offer,) = waitlist.match()
    waitlist.offers.collection.delete_many({})  # as if the server died before writing it
    waitlist.match()
    assert waitlist.offers.get(f"{offer.code}:offer")["code"] == offer.code


def test_a_claim_recovered_by_another_server_gives_its_own_hold_up(db, clock):
    core = BookingService(db, catalog(staff_members=[staff(weekly_hours={
        d: "10:00-13:00" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")})]),
        clock=clock)
    waitlist = Waitlist(core)
    join(waitlist, ANN)
    key = entry_id(Wish("spa", ANN, "massage", WEDNESDAY))
    slow = waitlist.entries.find_one_and_update(  # server A claims, then stalls
        {"_id": key}, {"$set": {"state": OFFERING, "claimed_at": clock.now}, "$inc": {"offers": 1}},
        return_document=True)
    clock.now += CLAIM_STALE + timedelta(seconds=1)
    (fresh,) = waitlist.match()  # server B: A's claim looks dead, nothing was held: B offers
    a_hold = core.create(BookingRequest(  # A wakes up and holds another time for Ann
        service_id="massage", start=bali(WEDNESDAY, "12:00"), customer_id=ANN,
        idempotency_key=f"waitlist:{key}:1", offer_until=clock.now + timedelta(minutes=10)))
    assert waitlist._offered(slow, a_hold) is None
    assert core.get(a_hold.code).status == WITHDRAWN  # Ann holds one time, told once
    assert core.get(fresh.code).status == OFFERED
    assert waitlist.offers.get(f"{a_hold.code}:offer") is None


def test_one_held_offer_per_customer_and_none_they_could_not_accept(db, clock):
    core = BookingService(db, catalog(staff_members=[staff(weekly_hours=SHORT_DAY)]),
                          clock=clock, limits=CustomerLimits(max_upcoming=1))
    waitlist = Waitlist(core)
    join(waitlist, ANN)  # Wednesday and Thursday are free: one offer at a time
    join(waitlist, ANN, day=WEDNESDAY + timedelta(days=1))
    assert [o.start.date() for o in waitlist.match()] == [bali(WEDNESDAY, "10:00").date()]
    assert waitlist.match() == []
    book(core, "10:00", customer=BUDI, day=WEDNESDAY + timedelta(days=5))  # Budi: at his limit
    join(waitlist, BUDI, day=WEDNESDAY + timedelta(days=2))
    clock.now += timedelta(seconds=1)
    join(waitlist, CITRA, day=WEDNESDAY + timedelta(days=2))
    assert [o.customer_id for o in waitlist.match()] == [CITRA]  # Budi could not take it


def test_a_wish_the_business_cannot_book_is_refused(core):
    waitlist = Waitlist(core)
    for wish in (Wish("spa", ANN, "facial", WEDNESDAY),
                 Wish("spa", ANN, "massage", WEDNESDAY, staff_id="nobody"),
                 Wish("spa", ANN, "massage", WEDNESDAY, villa_id="elsewhere")):
        with pytest.raises(ValidationError):
            waitlist.join(wish, {"sender_id": ANN})


def test_a_withdrawn_offer_is_in_no_figure_and_no_day_plan(core, clock):
    from booking.dashboard import Period, bookings_per_day
    from booking.desk import FrontDesk

    first, _ = full_day(core)
    waitlist = Waitlist(core)
    join(waitlist, ANN)
    core.cancel(first.code)
    (offer,) = waitlist.match()
    assert waitlist.decline(offer.code, ANN, "spa")
    plan = FrontDesk(core).day("spa", WEDNESDAY)
    assert offer.code not in [b.code for b in plan.released + plan.bookings]
    counts = bookings_per_day(core.db, core.catalog.business("spa"), Period(WEDNESDAY, WEDNESDAY))
    assert set(counts) == {"CANCELLED", "CONFIRMED"}
