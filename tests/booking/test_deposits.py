"""Deposits and the cancellation policy: the rules (pure), then on a real mongod with the Xendit
stand-in over real HTTP: a deposit is what the invoice asks and what payouts share; cancelled
early it is refunded, cancelled late or not come to it is kept (and paid out); a business that
cancels refunds in full; the terms are on the PDF."""
from __future__ import annotations

import copy
import io
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader

from booking.bookings import BookingRequest
from booking.catalog import parse_catalog
from booking.deposits import (Terms, describe, free_until_after_move, kept_on_cancel,
                              parse_payment, terms)
from booking.errors import SeedDataError
from booking.i18n import texts
from booking.models import (CANCELLED, COMPLETED, CONFIRMED, DEPOSIT, FULL, NO_SHOW, NONE,
                            PENDING_PAYMENT, PaymentPolicy)
from booking.split import split_payment
from tests.booking.test_payments import CHAT, TUE_10, make_payments, pay
from tests.booking.test_payments import payments  # noqa: F401 (the fixture)

BALI = ZoneInfo("Asia/Makassar")
FOUR_HANDS = "four-hands-massage"  # the seed's: Rp650.000, 30 % deposit, 24 h window
DEPOSIT_IDR = 195000


def fail(reason: str) -> SeedDataError:
    return SeedDataError("test", "payment", reason)


# ------------------------------------------------------------------ the rules (pure)
def test_what_is_paid_up_front_under_each_policy():
    assert terms(PaymentPolicy(FULL), 350000, True).due_now == 350000
    assert terms(PaymentPolicy(NONE), 350000, True) == Terms(350000, 0, None)
    thirty = PaymentPolicy(DEPOSIT, deposit_percent=30)
    assert terms(thirty, 333333, True).due_now == 99999  # rounded down, integer IDR
    assert terms(PaymentPolicy(DEPOSIT, deposit_amount=500000), 350000, True).due_now == 350000
    returning = PaymentPolicy(DEPOSIT, deposit_percent=30, first_time_only=True)
    assert terms(returning, 350000, first_time=False).due_now == 0
    assert terms(returning, 350000, first_time=True).due_now == 105000


def test_the_window_decides_refund_or_keep_to_the_minute():
    start = datetime(2026, 11, 24, 2, 0, tzinfo=timezone.utc)
    free_until = Terms(350000, 350000, 24).free_until(start)
    assert free_until == start - timedelta(hours=24)
    assert not kept_on_cancel(free_until, free_until)
    assert kept_on_cancel(free_until, free_until + timedelta(minutes=1))
    assert not kept_on_cancel(None, start - timedelta(minutes=5))  # no window: refund


def test_a_move_never_buys_back_a_free_cancellation_but_the_businesss_move_gives_one():
    start = datetime(2026, 11, 25, 7, 0, tzinfo=timezone.utc)
    ended = start - timedelta(hours=24)
    later = start + timedelta(days=7)
    in_window = start - timedelta(hours=3)
    # the customer moves it after free cancellation ended: it stays ended
    assert free_until_after_move(24, ended, later, in_window, by_business=False) == ended
    # ...while it was still free: the new time's window
    early = start - timedelta(days=2)
    assert free_until_after_move(24, ended, later, early, by_business=False) == (
        later - timedelta(hours=24))
    # the business moves it: the new window, or (already inside it) free until the visit
    assert free_until_after_move(24, ended, later, in_window, by_business=True) == (
        later - timedelta(hours=24))
    soon = in_window + timedelta(hours=5)
    assert free_until_after_move(24, ended, soon, in_window, by_business=True) == soon
    assert free_until_after_move(None, None, later, in_window, by_business=False) is None


def test_the_terms_read_in_each_language():
    deal = Terms(650000, 195000, 24)
    start = datetime(2026, 11, 25, 7, 0, tzinfo=timezone.utc)  # Wed 15:00 in Bali
    until = deal.free_until(start)
    assert describe(deal, until, BALI, texts("en")) == [
        "Deposit to pay now: Rp195.000; the rest, Rp455.000, at your visit.",
        "Free cancellation until Tue 24 Nov, 15:00. After that, or if you don't come, the "
        "deposit is kept."]
    assert describe(deal, until, BALI, texts("en"), now=until)[1] == (
        "Free cancellation has ended for this time: if you cancel or don't come, the deposit "
        "is kept.")  # a booking made inside the window is told so
    assert describe(Terms(350000, 350000, 24), until, BALI, texts("en"))[0].endswith(
        "the payment is kept.")
    assert describe(Terms(350000, 0, None), None, BALI, texts("en")) == []
    assert all(line and "{" not in line for line in describe(deal, until, BALI, texts("id")))


@pytest.mark.parametrize("raw, reason", [
    ("deposit", "must be a mapping"),
    ({"collect": "half"}, "full, deposit or none"),
    ({"collect": "deposit"}, "{percent: N} or {amount: N}"),
    ({"deposit": {"percent": 130}}, "at most 100"),
    ({"deposit": {"percent": 10, "amount": 5}}, "{percent: N} or {amount: N}"),
    ({"deposit": {"amount": -1}}, "above 0"),
    ({"deposit": {"amount": True}}, "above 0"),
    ({"cancel_window_hours": -2}, "cancel_window_hours"),
    ({"cancel_window_hours": "24h"}, "cancel_window_hours"),
    ({"first_time_only": "yes"}, "true or false"),
    ({"refund": "always"}, "unknown keys"),
])
def test_a_bad_payment_block_is_refused_with_the_reason(raw, reason):
    with pytest.raises(SeedDataError, match=reason.replace("{", r"\{").replace("}", r"\}")):
        parse_payment(raw, fail)


def test_a_payment_block_parses_with_its_defaults():
    assert parse_payment(None, fail) is None
    assert parse_payment({"deposit": {"amount": 100000}}, fail) == PaymentPolicy(
        DEPOSIT, None, 100000, False, 24)
    assert parse_payment({"collect": "full", "cancel_window_hours": 48}, fail) == PaymentPolicy(
        FULL, cancel_window_hours=48)


# ------------------------------------------------------------------ through payments
def deposit_booking(payments, xendit, customer: str = "6281100000001", start=TUE_10):
    """A four-hands massage on Tuesday 10:00 (26 h ahead), its deposit paid."""
    booking = payments.core.create(BookingRequest(
        service_id=FOUR_HANDS, start=start, customer_id=customer, customer_name="Ayu",
        staff_id="wayan", villa_id="villa-sawah-ubud"))
    assert (booking.status, booking.due_now, booking.cancel_window_hours) == (
        PENDING_PAYMENT, DEPOSIT_IDR, 24)
    payment = payments.request_payment(booking, CHAT)
    pay(payments, xendit, payment.invoice_id)
    return payments.core.get(booking.code), payment


@pytest.fixture
def deposits(payments):  # noqa: F811 (the payments fixture)
    return payments


def test_the_invoice_asks_the_deposit_and_payouts_share_it(deposits, xendit, db, seed_catalog):
    booking, payment = deposit_booking(deposits, xendit)
    assert booking.status == CONFIRMED
    assert xendit.invoices[payment.invoice_id]["amount"] == DEPOSIT_IDR
    split = split_payment(DEPOSIT_IDR, seed_catalog.business("ubud-serenity-spa"),
                          seed_catalog.villa("villa-sawah-ubud"))
    assert {p["party"]: p["amount"] for p in db.payouts.find()} == {
        "vendor": split.vendor, "villa": split.villa}  # what was paid, not the price


def test_cancelled_before_the_window_the_deposit_is_refunded(deposits, xendit, db, clock):
    booking, payment = deposit_booking(deposits, xendit)
    clock.now = TUE_10 - timedelta(hours=25)
    cancelled = deposits.core.cancel(booking.code, customer_id=booking.customer_id)
    assert not cancelled.payment_kept
    assert deposits.after_cancel(cancelled) == DEPOSIT_IDR
    assert db.refunds.find_one({"_id": payment.id})["amount"] == DEPOSIT_IDR
    deposits.reconcile()
    [sent] = xendit.refunds.values()
    assert sent["amount"] == DEPOSIT_IDR


def test_cancelled_after_the_window_the_deposit_is_kept_and_paid_out(deposits, xendit, db,
                                                                      clock):
    booking, payment = deposit_booking(deposits, xendit)
    clock.now = TUE_10 - timedelta(hours=23)
    assert deposits.core.keeps_payment(booking)
    cancelled = deposits.core.cancel(booking.code, customer_id=booking.customer_id)
    assert (cancelled.status, cancelled.payment_kept) == (CANCELLED, True)
    assert deposits.after_cancel(cancelled) == 0
    deposits.reconcile()
    assert db.refunds.count_documents({}) == 0 and xendit.refunds == {}
    assert {p["state"] for p in db.payouts.find()} == {"SUCCEEDED"}  # not clawed back


def test_a_no_show_keeps_the_deposit(deposits, xendit, db, clock):
    booking, payment = deposit_booking(deposits, xendit)
    clock.now = TUE_10 + timedelta(hours=2)
    assert deposits.core.transition(booking.code, NO_SHOW).status == NO_SHOW
    deposits.reconcile()
    assert db.refunds.count_documents({}) == 0
    assert {p["state"] for p in db.payouts.find()} == {"SUCCEEDED"}


def test_a_business_that_cancels_late_refunds_in_full(deposits, xendit, db, clock):
    booking, payment = deposit_booking(deposits, xendit)
    clock.now = TUE_10 - timedelta(hours=1)
    cancelled = deposits.core.transition(booking.code, CANCELLED)  # the desk's own path
    assert not cancelled.payment_kept
    assert deposits.after_cancel(cancelled) == DEPOSIT_IDR


def test_a_returning_customer_pays_nothing_up_front_under_first_time_only(db, clock, xendit,
                                                                          seed_catalog):
    raw = copy.deepcopy(seed_catalog.raw)
    salon = next(b for b in raw["businesses"] if b["id"] == "canggu-glow-salon")
    salon["payment"] = {"deposit": {"amount": 50000}, "first_time_only": True}
    catalog = parse_catalog(raw, "test")
    core = make_payments(db, clock, xendit, catalog).core
    service = catalog.services_of("canggu-glow-salon")[0]
    first = core.create(BookingRequest(service_id=service.id, start=TUE_10,
                                       customer_id="6281100000009", customer_name="Sari"))
    assert (first.status, first.due_now) == (PENDING_PAYMENT, 50000)
    db.bookings.update_one({"code": first.code}, {"$set": {"status": COMPLETED}})
    again = core.create(BookingRequest(service_id=service.id, start=TUE_10 + timedelta(days=7),
                                       customer_id="6281100000009", customer_name="Sari"))
    assert (again.status, again.due_now) == (CONFIRMED, 0)


def test_the_pdf_shows_the_deposit_the_rest_and_the_policy(deposits, xendit, db):
    booking, payment = deposit_booking(deposits, xendit)
    token = db.payments.find_one({"_id": payment.id})["receipt_token"]
    text = PdfReader(io.BytesIO(deposits.receipt_pdf(token))).pages[0].extract_text()
    for expected in ("Rp195.000", "To pay at your visit", "Rp455.000",
                     "Free cancellation until Mon 23 Nov, 10:00"):
        assert expected in " ".join(text.split()), expected


def test_the_flows_summary_screen_shows_the_terms(db, clock, seed_catalog):
    from booking.bookings import BookingService
    from booking.flow_tokens import FlowTokens
    from channels.whatsapp.flows import BookingFlow

    core = BookingService(db, seed_catalog, clock=clock)
    tokens = FlowTokens(db)
    flow = BookingFlow(core, tokens)
    token = tokens.issue("6281100000001", "ubud-serenity-spa", clock.now)

    def step(screen: str, **data) -> dict:
        return flow.answer({"action": "data_exchange", "screen": screen, "data": data,
                            "flow_token": token})

    step("SERVICE", service=FOUR_HANDS)
    slot = step("DATE", date="2026-11-25")["data"]["slots"][0]["id"]
    step("TIME", slot=slot)
    summary = step("DETAILS", name="Ayu")["data"]["summary"].split("\n")
    assert summary[-2:] == [
        "Deposit to pay now: Rp195.000; the rest, Rp455.000, at your visit.",
        "Free cancellation until Tue 24 Nov, 09:00. After that, or if you don't come, the "
        "deposit is kept."]


def test_moving_a_paid_deposit_booking_after_the_window_does_not_make_it_refundable(
        deposits, xendit, db, clock):
    booking, payment = deposit_booking(deposits, xendit)
    clock.now = TUE_10 - timedelta(hours=3)  # free cancellation ended 21 hours ago
    moved = deposits.core.reschedule(booking.code, TUE_10 + timedelta(days=7),
                                     customer_id=booking.customer_id,
                                     business_id="ubud-serenity-spa")
    assert moved.cancel_free_until == TUE_10 - timedelta(hours=24)
    cancelled = deposits.core.cancel(booking.code, customer_id=booking.customer_id)
    assert cancelled.payment_kept and deposits.after_cancel(cancelled) == 0
    assert db.refunds.count_documents({}) == 0


def test_a_kept_deposit_is_not_refunded_by_the_payouts_crash_recovery(deposits, xendit, db,
                                                                       clock):
    booking, payment = deposit_booking(deposits, xendit)
    clock.now = TUE_10 - timedelta(hours=2)
    cancelled = deposits.core.cancel(booking.code, customer_id=booking.customer_id)
    assert cancelled.payment_kept  # (and the server died before after_cancel)
    for payout in db.payouts.find():
        deposits.payouts._refund_cancelled(payout)
    deposits.reconcile()
    assert db.refunds.count_documents({}) == 0


def test_a_waiting_list_offer_accepted_takes_the_services_deposit_terms(deposits, clock):
    from booking.waitlist import Waitlist, Wish

    waitlist = Waitlist(deposits.core)
    waitlist.join(Wish("ubud-serenity-spa", "6281100000007", FOUR_HANDS,
                       TUE_10.astimezone(BALI).date()), {"sender_id": "6281100000007"})
    (offer,) = waitlist.match()
    accepted = waitlist.accept(offer.code, "6281100000007", "ubud-serenity-spa")
    assert (accepted.status, accepted.due_now, accepted.cancel_window_hours) == (
        PENDING_PAYMENT, DEPOSIT_IDR, 24)
    assert accepted.cancel_free_until == accepted.start - timedelta(hours=24)


def test_revenue_counts_the_deposit_online_and_the_balance_at_the_visit(deposits, xendit, db,
                                                                       clock, seed_catalog):
    from datetime import date

    from booking.dashboard import Period, revenue

    spa = seed_catalog.business("ubud-serenity-spa")
    week = Period(date(2026, 11, 23), date(2026, 11, 29))
    visited, _ = deposit_booking(deposits, xendit)
    kept, _ = deposit_booking(deposits, xendit, customer="6281100000002",
                              start=TUE_10 + timedelta(days=1))
    clock.now = TUE_10 + timedelta(hours=2)
    deposits.core.transition(visited.code, COMPLETED)  # the balance was paid at the spa
    clock.now = TUE_10 + timedelta(days=1) - timedelta(hours=1)
    assert deposits.core.cancel(kept.code, customer_id=kept.customer_id).payment_kept
    figures = revenue(db, seed_catalog, spa, week)
    assert figures.total.amount == 650000 + 195000  # the visit in full, the kept deposit
    assert figures.bookings == 2
    by_day = {d.isoformat(): s.amount for d, s in figures.by_day.items() if s.amount}
    assert by_day == {"2026-11-23": 2 * 195000, "2026-11-24": 455000}
