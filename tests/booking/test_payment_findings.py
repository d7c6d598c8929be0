"""The payment review's money findings (issue 11, section 4), each on a real mongod with the
Xendit stand-in over real HTTP. Races are ordered with the stand-in's gates, never sleeps."""
from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any, Callable

import pytest

from booking.models import CANCELLED, CONFIRMED, EXPIRED, PENDING_PAYMENT
from booking.split import split_payment
from tests.booking.test_db_faults import fail_point
from tests.booking.test_payments import CHAT, book, make_payments, notices, pay
from tests.booking.test_payments import payments  # noqa: F401 (the fixture)

VENDOR_ACCOUNT = "5270001111"  # ubud-serenity-spa's payout account in the seed catalog


def paid_without_payouts(payments, xendit, **book_args: Any):
    """A booking paid through its invoice; the payouts are scheduled but not sent yet."""
    booking = book(payments, **book_args)
    payment = payments.request_payment(booking, CHAT)
    xendit.set_status(payment.invoice_id, "PAID")
    payments.record_callback(xendit.callback_body(payment.invoice_id))
    payments.process_callback(f"{payment.invoice_id}:PAID", payouts=False)
    return booking, payment


def in_thread(call: Callable[[], Any]) -> tuple[threading.Thread, list]:
    """Run ``call`` in a thread; the list gets its result or the exception it raised."""
    outcome: list = []

    def run() -> None:
        try:
            outcome.append(call())
        except Exception as exc:  # handed to the test, which asserts on it
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


# ------------------------------------------------------------------ a. cancel vs payouts
def test_cancelling_a_paid_booking_before_its_payouts_went_out_sends_none(payments, xendit, db):
    booking, payment = paid_without_payouts(payments, xendit)
    payments.core.cancel(booking.code)
    assert payments.after_cancel(payments.core.get(booking.code)) == 350000
    payments.reconcile()
    payments.reconcile()
    assert xendit.payouts == {}
    assert {p["state"] for p in db.payouts.find()} == {"CANCELLED"}
    refund = db.refunds.find_one({"_id": payment.id})
    assert refund["amount"] == 350000 and refund["paid_out"] == {}
    assert refund["paid_out_total"] == 0


def test_a_cancel_whose_after_cancel_never_ran_still_stops_the_payouts(payments, xendit, db):
    booking, payment = paid_without_payouts(payments, xendit)
    payments.core.cancel(booking.code)  # the action server died before after_cancel
    payments.reconcile()
    assert xendit.payouts == {}
    assert {p["state"] for p in db.payouts.find()} == {"CANCELLED"}
    assert db.refunds.find_one({"_id": payment.id})["amount"] == 350000


def test_payouts_already_sent_are_netted_in_the_refund_record(payments, xendit, db, seed_catalog):
    booking = book(payments)
    payment = payments.request_payment(booking, CHAT)
    pay(payments, xendit, payment.invoice_id)
    payments.refresh_payouts()
    assert {p["state"] for p in db.payouts.find()} == {"SUCCEEDED"}
    payments.core.cancel(booking.code)
    assert payments.after_cancel(payments.core.get(booking.code)) == 350000
    split = split_payment(350000, seed_catalog.business("ubud-serenity-spa"),
                          seed_catalog.villa("villa-sawah-ubud"))
    refund = db.refunds.find_one({"_id": payment.id})
    assert {party: p["amount"] for party, p in refund["paid_out"].items()} == {
        "vendor": split.vendor, "villa": split.villa}
    assert {p["payout_id"] for p in refund["paid_out"].values()} == set(xendit.payouts)
    assert refund["paid_out_total"] == split.vendor + split.villa
    assert refund["amount"] == 350000  # the customer gets everything back
    payments.reconcile()
    assert len(xendit.payouts) == 2


def test_a_payout_in_flight_when_the_booking_is_cancelled_is_netted(payments, xendit, db):
    booking, payment = paid_without_payouts(payments, xendit)
    gate = xendit.gate("create_payout")  # the vendor's transfer is on its way
    thread, outcome = in_thread(lambda: payments.run_payouts(booking.code))
    gate.wait_arrived()
    payments.core.cancel(booking.code)
    payments.after_cancel(payments.core.get(booking.code))
    gate.release()
    thread.join()
    assert outcome == [1]
    states = {p["party"]: p["state"] for p in db.payouts.find()}
    assert states == {"vendor": "REQUESTED", "villa": "CANCELLED"}
    [sent] = xendit.payouts.values()
    refund = db.refunds.find_one({"_id": payment.id})
    assert list(refund["paid_out"]) == ["vendor"]
    assert refund["paid_out"]["vendor"]["payout_id"] == sent["id"]
    assert refund["paid_out_total"] == sent["amount"]


# ------------------------------------------------------------------ b. holds end at hold_until
def test_a_hold_without_a_payment_document_is_released_at_hold_until(payments, db, clock):
    booking = book(payments)  # the action server died before asking for the invoice
    assert booking.hold_until == clock.now + timedelta(minutes=30)
    payments.reconcile()
    assert payments.core.get(booking.code).status == PENDING_PAYMENT
    clock.now += timedelta(minutes=31)
    payments.reconcile()
    stored = db.bookings.find_one({"code": booking.code})
    assert stored["status"] == EXPIRED and "cells" not in stored
    assert notices(db) == []  # nobody to tell: no conversation was recorded


def test_a_hold_whose_invoice_cannot_be_made_without_a_key_is_released(
        db, clock, xendit, seed_catalog):
    payments = make_payments(db, clock, xendit, seed_catalog)
    payments.client.config = type(payments.client.config)(api_url=xendit.url)  # no secret key
    booking = book(payments)
    assert payments.request_payment(booking, CHAT).state == "CREATING"
    clock.now += timedelta(minutes=31)
    payments.reconcile()
    assert db.bookings.find_one({"code": booking.code})["status"] == EXPIRED
    assert db.payments.find_one({"_id": f"{booking.code}-1"})["state"] == "EXPIRED"
    assert notices(db) == ["expired"]


def test_a_hold_is_released_while_xendit_is_down(payments, xendit, db, clock):
    xendit.fail["create_invoice"] = [500] * 4
    uncreated = book(payments)
    payments.request_payment(uncreated, CHAT)
    pending = book(payments, start=uncreated.start + timedelta(days=1))
    payments.request_payment(pending, CHAT)
    xendit.go_down()
    try:
        clock.now += timedelta(minutes=31)
        payments.reconcile()
    finally:
        xendit.come_back()
    for booking in (uncreated, pending):
        stored = db.bookings.find_one({"code": booking.code})
        assert stored["status"] == EXPIRED and "cells" not in stored
    assert sorted(notices(db)) == ["expired", "expired"]


def test_a_live_invoice_of_a_lapsing_hold_is_expired_at_xendit_first(payments, xendit, db, clock):
    xendit.fail["create_invoice"] = ["lose"]  # made at Xendit, the answer lost ...
    xendit.fail["find_invoices"] = [500] * 3  # ... and the look-ups refused
    booking = book(payments)
    assert payments.request_payment(booking, CHAT).state == "CREATING"
    [invoice] = xendit.invoices_for(booking.code)
    clock.now += timedelta(minutes=31)
    payments.reconcile()
    assert xendit.invoices[invoice["id"]]["status"] == "EXPIRED"
    assert db.bookings.find_one({"code": booking.code})["status"] == EXPIRED


def test_a_lapsing_hold_whose_invoice_was_paid_is_confirmed(payments, xendit, db, clock):
    xendit.fail["create_invoice"] = ["lose"]
    xendit.fail["find_invoices"] = [500] * 3
    booking = book(payments)
    payments.request_payment(booking, CHAT)
    [invoice] = xendit.invoices_for(booking.code)
    xendit.set_status(invoice["id"], "PAID")  # and the callback went missing
    clock.now += timedelta(minutes=31)
    payments.reconcile()
    assert db.bookings.find_one({"code": booking.code})["status"] == CONFIRMED
    assert notices(db) == ["paid"]


# ------------------------------------------------------------------ c. cancelled while creating
def test_a_booking_cancelled_while_its_invoice_was_being_created_gets_no_link(
        payments, xendit, db, clock):
    xendit.fail["create_invoice"] = [500] * 4
    booking = book(payments)
    assert payments.request_payment(booking, CHAT).state == "CREATING"
    payments.core.cancel(booking.code)
    payments.after_cancel(payments.core.get(booking.code))
    clock.now += timedelta(minutes=3)
    assert payments.reconcile()["invoices_created"] == 0
    assert xendit.invoices_for(booking.code) == [] and notices(db) == []
    doc = db.payments.find_one({"_id": f"{booking.code}-1"})
    assert doc["state"] == "EXPIRED" and doc["outcome"] == "withdrawn"


@pytest.mark.parametrize("minutes", [3, 31])  # within the hold, and after it
def test_reconciliation_checks_the_booking_before_creating_an_invoice(
        payments, xendit, db, clock, minutes):
    xendit.fail["create_invoice"] = [500] * 4
    booking = book(payments)
    payments.request_payment(booking, CHAT)
    payments.core.cancel(booking.code)  # cancelled elsewhere; after_cancel never ran
    clock.now += timedelta(minutes=minutes)
    assert payments.reconcile()["invoices_created"] == 0
    assert xendit.invoices_for(booking.code) == [] and notices(db) == []
    assert db.bookings.find_one({"code": booking.code})["status"] == CANCELLED
    doc = db.payments.find_one({"_id": f"{booking.code}-1"})
    assert doc["state"] == "EXPIRED" and doc["outcome"] == "withdrawn"


# ------------------------------------------------------------------ d. stale payout refresh
def test_a_stale_payout_refresh_sends_no_second_transfer(payments, xendit, db):
    xendit.payout_failures[VENDOR_ACCOUNT] = ["TEMPORARY_TRANSFER_ERROR"]
    booking = book(payments, villa=None)
    payment = payments.request_payment(booking, CHAT)
    pay(payments, xendit, payment.invoice_id)  # transfer 1 requested
    gate = xendit.gate("get_payout")
    stale, outcome = in_thread(payments.refresh_payouts)  # reads transfer 1 as REQUESTED ...
    gate.wait_arrived()
    payments.reconcile()  # another reconciler: transfer 1 FAILED, a second one is due
    assert payments.run_payouts() == 1  # transfer 2 requested
    gate.release()  # ... and only now learns transfer 1 FAILED
    stale.join()
    assert not isinstance(outcome[0], Exception)
    for _ in range(3):
        payments.reconcile()
    keys = [p["idempotency_key"] for p in xendit.payouts_with_key_prefix(
        f"payout-{booking.id}-vendor-")]
    assert keys == [f"payout-{booking.id}-vendor-1", f"payout-{booking.id}-vendor-2"]
    assert [p["status"] for p in xendit.payouts.values()] == ["FAILED", "SUCCEEDED"]
    # one request per transfer: the stale read did not put transfer 2 back to be sent again
    assert xendit.count("POST", "/v2/payouts") == 2
    [doc] = db.payouts.find()
    assert doc["state"] == "SUCCEEDED" and doc["transfer_attempt"] == 2


def test_two_reconcilers_sending_at_once_make_one_transfer_per_party(payments, xendit, db):
    """Both passes read the same SCHEDULED payouts. The held one's answer for the vendor's
    transfer 1 comes back only after the other pass saw that transfer FAILED for a temporary
    reason and sent transfer 2: its read is stale, and recording it (without compare-and-swap)
    would put transfer 1's failure over transfer 2 and send a third transfer."""
    xendit.payout_failures[VENDOR_ACCOUNT] = ["TEMPORARY_TRANSFER_ERROR"]
    booking, _ = paid_without_payouts(payments, xendit)
    gate = xendit.gate("create_payout")
    first, outcome = in_thread(payments.reconcile)  # held at the stand-in: vendor transfer 1
    gate.wait_arrived()
    payments.reconcile()  # the same payouts, read at the same time: vendor 1 FAILED, villa paid
    payments.reconcile()  # vendor transfer 2 sent and SUCCEEDED
    gate.release()  # the held pass now records what it got for transfer 1
    first.join()
    assert not isinstance(outcome[0], Exception), outcome
    for _ in range(2):
        payments.reconcile()
    prefix = f"payout-{booking.id}-"
    assert [p["idempotency_key"] for p in xendit.payouts_with_key_prefix(prefix)] == [
        prefix + "vendor-1", prefix + "villa-1", prefix + "vendor-2"]
    assert [p["status"] for p in xendit.payouts.values()] == ["FAILED", "SUCCEEDED", "SUCCEEDED"]
    assert {p["party"]: (p["state"], p["transfer_attempt"], p["payout_id"])
            for p in db.payouts.find()} == {
        "vendor": ("SUCCEEDED", 2, xendit.payouts_with_key_prefix(prefix + "vendor-2")[0]["id"]),
        "villa": ("SUCCEEDED", 1, xendit.payouts_with_key_prefix(prefix + "villa-1")[0]["id"])}


# ------------------------------------------------------------------ e. withdrawn, then paid
def test_a_withdrawn_invoice_paid_later_is_refunded_and_the_customer_told(payments, xendit, db):
    booking = book(payments)
    payment = payments.request_payment(booking, CHAT)
    payments.core.cancel(booking.code)
    assert payments.after_cancel(payments.core.get(booking.code)) == 0
    assert db.payments.find_one({"_id": payment.id})["outcome"] == "withdrawn"
    pay(payments, xendit, payment.invoice_id)  # the customer paid as it was withdrawn
    refund = db.refunds.find_one({"_id": payment.id})
    assert refund["amount"] == 350000 and refund["state"] == "REQUESTED"  # asked at once
    [sent] = xendit.refunds.values()
    assert (sent["id"], sent["invoice_id"], sent["amount"]) == (
        refund["refund_id"], payment.invoice_id, 350000)
    assert notices(db) == ["refund"]
    assert db.payouts.count_documents({}) == 0
    pay(payments, xendit, payment.invoice_id)  # a replay changes nothing
    assert db.refunds.count_documents({}) == 1 and notices(db) == ["refund"]
    assert len(xendit.refunds) == 1


# ------------------------------------------------------------------ f. one clock, retried reads
def test_payments_keep_the_cores_time(payments, xendit, db, clock):
    booking = book(payments)
    payment = payments.request_payment(booking, CHAT)
    xendit.set_status(payment.invoice_id, "PAID")
    assert payments.record_callback(xendit.callback_body(payment.invoice_id))
    assert db.xendit_callbacks.find_one()["received_at"] == clock.now
    clock.now += timedelta(minutes=1)  # the processor died after the 200
    assert payments.reconcile()["callbacks"] == 1
    assert db.bookings.find_one({"code": booking.code})["status"] == CONFIRMED
    assert db.payment_notices.find_one()["created_at"] == clock.now
    assert {p["updated_at"] for p in db.payouts.find()} == {clock.now}


def test_payment_reads_are_retried_like_writes(payments, xendit, db):
    booking = book(payments)
    payment = payments.request_payment(booking, CHAT)
    pay(payments, xendit, payment.invoice_id)
    gate = xendit.gate("get_payout")
    thread, outcome = in_thread(payments.refresh_payouts)
    gate.wait_arrived()
    # A primary step-down for the next reads: pymongo's own retry takes one, ours the rest.
    with fail_point(db, ["find"], {"times": 2}, 189):
        gate.release()
        thread.join()
    assert not isinstance(outcome[0], Exception), outcome
    assert {p["state"] for p in db.payouts.find()} == {"SUCCEEDED"}
