"""Review findings of issue 11 in the core: a payment marked PAID whose booking was never
settled (a database fault or a crash between the two writes) is settled by reconciliation, and
a hold that ends while its payment is being marked paid is not given away. Real mongod, the
Xendit stand-in over real HTTP; races ordered with the stand-in's gates, never sleeps."""
from __future__ import annotations

from datetime import timedelta

import pytest

from booking.errors import DatabaseUnavailableError
from booking.models import CONFIRMED, PENDING_PAYMENT
from tests.booking.test_payment_findings import in_thread
from tests.booking.test_payments import CHAT, book, notices
from tests.booking.test_payments import payments  # noqa: F401 (the fixture)


def settle_fails_once(payments, monkeypatch) -> list[str]:
    """The core's ``settle_payment`` raises ``DatabaseUnavailableError`` on its first call
    (the database stepped down right after the payment was marked PAID), then works; the
    list records the calls."""
    real = payments.core.settle_payment
    calls: list[str] = []

    def flaky(code: str, payment_id: str):
        calls.append(payment_id)
        if len(calls) == 1:
            raise DatabaseUnavailableError("database unavailable: primary stepped down")
        return real(code, payment_id)

    monkeypatch.setattr(payments.core, "settle_payment", flaky)
    return calls


def test_a_payment_marked_paid_but_not_settled_is_settled_by_reconciliation(
        payments, xendit, db, clock, monkeypatch):
    booking = book(payments)
    payment = payments.request_payment(booking, CHAT)
    xendit.set_status(payment.invoice_id, "PAID")  # and the callback never came
    calls = settle_fails_once(payments, monkeypatch)
    clock.now += timedelta(minutes=31)  # past the invoice's expiry: reconciliation reads it
    payments.reconcile()  # marks the payment PAID; settling it fails
    doc = db.payments.find_one({"_id": payment.id})
    assert doc["state"] == "PAID" and doc.get("outcome") is None and calls == [payment.id]
    stored = db.bookings.find_one({"code": booking.code})
    assert stored["status"] == PENDING_PAYMENT and stored["cells"]  # paid: the time stays held
    assert notices(db) == []
    clock.now += timedelta(minutes=1)  # no processor is still on it
    payments.reconcile()
    stored = db.bookings.find_one({"code": booking.code})
    assert stored["status"] == CONFIRMED and stored["paid_by"] == payment.id
    assert db.payments.find_one({"_id": payment.id})["outcome"] == "confirmed"
    assert notices(db) == ["paid"]
    assert {p["state"] for p in db.payouts.find()} == {"SUCCEEDED"}
    clock.now += timedelta(minutes=1)
    payments.reconcile()
    assert notices(db) == ["paid"] and len(calls) == 2  # settled once, told once
    assert len(xendit.payouts) == 2 and db.refunds.count_documents({}) == 0


def test_a_payment_marked_paid_and_not_settled_is_left_to_its_processor_for_a_while(
        payments, xendit, db, clock, monkeypatch):
    booking = book(payments)
    payment = payments.request_payment(booking, CHAT)
    xendit.set_status(payment.invoice_id, "PAID")
    settle_fails_once(payments, monkeypatch)
    clock.now += timedelta(minutes=31)
    payments.reconcile()
    clock.now += timedelta(seconds=5)  # marked PAID moments ago: a processor may be on it
    payments.reconcile()
    assert db.bookings.find_one({"code": booking.code})["status"] == PENDING_PAYMENT
    clock.now += timedelta(minutes=1)
    payments.reconcile()
    assert db.bookings.find_one({"code": booking.code})["status"] == CONFIRMED
    assert notices(db) == ["paid"]


def test_a_hold_ending_while_its_payment_is_marked_paid_keeps_the_time(
        payments, xendit, db, clock, monkeypatch):
    booking = book(payments)
    payment = payments.request_payment(booking, CHAT)
    clock.now += timedelta(minutes=31)  # the hold is over ...
    gate = xendit.gate("expire_invoice")
    releasing, outcome = in_thread(payments.reconcile)  # ... and a reconciler expires the link
    gate.wait_arrived()
    xendit.set_status(payment.invoice_id, "PAID")  # the customer paid just before
    assert payments.record_callback(xendit.callback_body(payment.invoice_id))
    settle_fails_once(payments, monkeypatch)
    with pytest.raises(DatabaseUnavailableError):  # marked PAID, not settled
        payments.process_callback(f"{payment.invoice_id}:PAID")
    gate.release()  # the expiry comes back "not pending": the hold must not be given away
    releasing.join()
    assert not isinstance(outcome[0], Exception), outcome
    stored = db.bookings.find_one({"code": booking.code})
    assert stored["status"] == PENDING_PAYMENT and stored["cells"]
    assert notices(db) == []  # nobody told "your link expired"
    clock.now += timedelta(minutes=1)
    payments.reconcile()
    stored = db.bookings.find_one({"code": booking.code})
    assert stored["status"] == CONFIRMED and stored["paid_by"] == payment.id
    assert notices(db) == ["paid"] and db.refunds.count_documents({}) == 0
