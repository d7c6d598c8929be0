"""Refunds through Xendit, exactly once: on a real mongod with the Xendit stand-in over real
HTTP. Races are ordered with the stand-in's gates, never sleeps."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from booking.analytics import payment_figures
from booking.xendit import XenditConfig, XenditError
from tests.booking.test_payment_findings import in_thread, paid_without_payouts
from tests.booking.test_payments import CHAT, book, pay
from tests.booking.test_payments import payments  # noqa: F401 (the fixture)

SPA = "ubud-serenity-spa"
PERIOD = datetime(2026, 11, 1, tzinfo=timezone.utc)  # refunds owed are listed whatever it is


def cancelled_after_payment(payments, xendit):
    """A booking paid (its payouts sent), then cancelled: its refund is recorded, not sent."""
    booking = book(payments)
    payment = payments.request_payment(booking, CHAT)
    pay(payments, xendit, payment.invoice_id)
    payments.core.cancel(booking.code)
    assert payments.after_cancel(payments.core.get(booking.code)) == 350000
    return booking, payment


def owed_refunds(db) -> list[dict]:
    """The refunds the report lists as owed by the spa (whenever they arose)."""
    return payment_figures(db, SPA, PERIOD, PERIOD + timedelta(days=1)).refunds_needed


def owed(db) -> list[str]:
    """Codes of the refunds owed by the spa."""
    return [r["code"] for r in owed_refunds(db)]


def key(payment_id: str, attempt: int = 1) -> str:
    return f"refund-{payment_id}-{attempt}"


# ------------------------------------------------------------------ the refund itself
def test_a_cancelled_paid_booking_is_refunded_once_in_full_with_its_code(payments, xendit, db,
                                                                       clock):
    booking, payment = cancelled_after_payment(payments, xendit)
    refund = db.refunds.find_one({"_id": payment.id})
    assert refund["state"] == "NEEDED" and refund["refund_attempt"] == 1
    assert refund["invoice_id"] == payment.invoice_id and xendit.refunds == {}
    assert owed(db) == [booking.code]  # owed until Xendit takes it on
    summary = payments.reconcile()
    assert (summary["refunds_sent"], summary["refunds_checked"]) == (1, 1)
    [sent] = xendit.refunds.values()
    assert {k: sent[k] for k in ("invoice_id", "reference_id", "amount", "currency", "reason")} \
        == {"invoice_id": payment.invoice_id, "reference_id": booking.code, "amount": 350000,
            "currency": "IDR", "reason": "CANCELLATION"}
    assert xendit.refund_keys_with_prefix("refund-") == [key(payment.id)]
    refund = db.refunds.find_one({"_id": payment.id})
    assert (refund["state"], refund["refund_id"], refund["requested_at"]) == (
        "SUCCEEDED", sent["id"], clock.now)
    assert refund["amount"] == 350000 and refund["paid_out_total"] > 0  # to claw back
    assert owed(db) == []
    payments.after_cancel(payments.core.get(booking.code))  # asked again: recorded once
    for _ in range(2):
        payments.reconcile()
    assert len(xendit.refunds) == 1 and xendit.count("POST", "/refunds") == 1


def test_a_payment_that_came_too_late_is_refunded_at_once(payments, xendit, db):
    booking = book(payments)
    payment = payments.request_payment(booking, CHAT)
    pay(payments, xendit, payment.invoice_id, "EXPIRED")
    book(payments, customer="6281100000002")  # the time is taken
    pay(payments, xendit, payment.invoice_id, "PAID", times=3)
    [sent] = xendit.refunds.values()  # asked while the callback was processed
    assert (sent["reference_id"], sent["amount"], sent["reason"]) == (booking.code, 350000,
                                                                     "OTHERS")
    assert db.refunds.find_one({"_id": payment.id})["state"] == "REQUESTED"
    payments.reconcile()
    assert db.refunds.find_one({"_id": payment.id})["state"] == "SUCCEEDED"
    assert len(xendit.refunds) == 1


def test_a_cancel_found_by_reconciliation_is_refunded_in_the_same_pass(payments, xendit, db):
    booking, payment = paid_without_payouts(payments, xendit)
    payments.core.cancel(booking.code)  # the action server died before after_cancel
    payments.reconcile()
    assert xendit.payouts == {}
    [sent] = xendit.refunds.values()
    assert (sent["invoice_id"], sent["amount"]) == (payment.invoice_id, 350000)
    assert db.refunds.find_one({"_id": payment.id})["state"] == "SUCCEEDED"


# ------------------------------------------------------------------ Xendit misbehaving
@pytest.mark.parametrize("losses", [1, 4])  # retried within the call; or all of the call's
def test_a_lost_answer_is_asked_again_with_the_same_key_and_refunds_once(
        payments, xendit, db, losses):
    _, payment = cancelled_after_payment(payments, xendit)
    xendit.fail["create_refund"] = ["lose"] * losses  # applied, the answer never arrives
    payments.run_refunds()
    if losses == 4:  # the client gave up: owed, to be asked again
        refund = db.refunds.find_one({"_id": payment.id})
        assert refund["state"] == "NEEDED" and refund["retryable"]
        assert len(xendit.refunds) == 1  # ... though Xendit did make it
    payments.reconcile()
    assert len(xendit.refunds) == 1 and xendit.count("POST", "/refunds") == losses + 1
    assert xendit.refund_keys_with_prefix("refund-") == [key(payment.id)]
    refund = db.refunds.find_one({"_id": payment.id})
    assert refund["state"] == "SUCCEEDED" and refund["refund_id"] in xendit.refunds


def test_a_sender_that_died_after_xendit_accepted_is_not_refunded_twice(payments, xendit, db):
    _, payment = cancelled_after_payment(payments, xendit)
    refund = payments.refund(payment.id)
    payments.client.create_refund(payments.refunds.payload(refund, payment.invoice_id),
                                  payments.refunds.idempotency_key(refund))  # then it died
    payments.reconcile()
    assert len(xendit.refunds) == 1
    assert db.refunds.find_one({"_id": payment.id})["state"] == "SUCCEEDED"


def test_rate_limited_then_accepted(payments, xendit, db):
    _, payment = cancelled_after_payment(payments, xendit)
    xendit.fail["create_refund"] = [429]
    assert payments.run_refunds() == 1
    assert xendit.count("POST", "/refunds") == 2 and len(xendit.refunds) == 1
    assert db.refunds.find_one({"_id": payment.id})["state"] == "REQUESTED"


def test_xendit_down_for_a_whole_pass_leaves_the_refund_owed_then_sends_it(payments, xendit,
                                                                          db):
    booking, payment = cancelled_after_payment(payments, xendit)
    xendit.fail["create_refund"] = [503] * 4
    assert payments.run_refunds() == 0
    refund = db.refunds.find_one({"_id": payment.id})
    assert (refund["state"], refund["retryable"], refund["failure_code"]) == (
        "NEEDED", True, "SERVER_ERROR")
    assert owed(db) == [booking.code]
    payments.reconcile()
    assert len(xendit.refunds) == 1 and owed(db) == []
    assert db.refunds.find_one({"_id": payment.id})["state"] == "SUCCEEDED"


def test_without_a_secret_key_nothing_is_given_up(payments, xendit, db):
    _, payment = cancelled_after_payment(payments, xendit)
    payments.client.config = XenditConfig(api_url=xendit.url)  # no key
    payments.run_refunds()
    refund = db.refunds.find_one({"_id": payment.id})
    assert refund["state"] == "NEEDED" and refund["retryable"] and xendit.refunds == {}


def test_a_permanent_refusal_is_failed_and_owed_by_hand(payments, xendit, db):
    booking, payment = cancelled_after_payment(payments, xendit)
    xendit.fail["create_refund"] = [(400, "REFUND_NOT_SUPPORTED")]
    assert payments.reconcile()["refunds_sent"] == 0
    refund = db.refunds.find_one({"_id": payment.id})
    assert (refund["state"], refund["retryable"], refund["failure_code"]) == (
        "FAILED", False, "REFUND_NOT_SUPPORTED")
    assert "400" in refund["last_error"]
    assert owed(db) == [booking.code]
    [listed] = owed_refunds(db)
    assert (listed["state"], listed["failure_code"]) == ("FAILED", "REFUND_NOT_SUPPORTED")
    for _ in range(2):
        payments.reconcile()
    assert xendit.count("POST", "/refunds") == 1 and xendit.refunds == {}


def test_a_key_reused_with_another_body_is_refused_and_never_given_up(payments, xendit, db):
    _, payment = cancelled_after_payment(payments, xendit)
    refund = payments.refund(payment.id)
    body = payments.refunds.payload(refund, payment.invoice_id)
    first = payments.client.create_refund(body, "refund-other")
    assert payments.client.create_refund(body, "refund-other")["id"] == first["id"]
    with pytest.raises(XenditError) as info:
        payments.client.create_refund({**body, "amount": 1000}, "refund-other")
    assert (info.value.status, info.value.code) == (400, "DUPLICATE_ERROR")
    xendit.fail["create_refund"] = [(400, "DUPLICATE_ERROR")]  # as if our key were taken
    payments.run_refunds()
    stored = db.refunds.find_one({"_id": payment.id})
    assert (stored["state"], stored["retryable"]) == ("NEEDED", True)


# ------------------------------------------------------------------ races
def test_two_reconcilers_at_once_make_one_refund(payments, xendit, db):
    _, payment = cancelled_after_payment(payments, xendit)
    gate = xendit.gate("create_refund")
    first, outcome = in_thread(payments.reconcile)  # held at the stand-in, not yet applied
    gate.wait_arrived()
    payments.reconcile()  # read the same NEEDED refund: sends, records, follows it
    gate.release()
    first.join()
    assert not isinstance(outcome[0], Exception), outcome
    assert len(xendit.refunds) == 1 and xendit.count("POST", "/refunds") == 2
    assert xendit.refund_keys_with_prefix("refund-") == [key(payment.id)]
    refund = db.refunds.find_one({"_id": payment.id})
    assert refund["state"] == "SUCCEEDED" and refund["refund_id"] in xendit.refunds


def test_a_stale_reconciler_cannot_undo_a_later_attempt(payments, xendit, db):
    """The held pass's answer for attempt 1 comes back after the other pass saw that refund
    FAILED for a temporary reason and made attempt 2: recording it (without compare-and-swap)
    would put attempt 1 over attempt 2 and make a third refund."""
    xendit.refund_failures = ["INSUFFICIENT_BALANCE"]
    _, payment = cancelled_after_payment(payments, xendit)
    gate = xendit.gate("create_refund")
    held, outcome = in_thread(payments.reconcile)
    gate.wait_arrived()
    payments.reconcile()  # attempt 1 made and read FAILED: attempt 2 due
    payments.reconcile()  # attempt 2 made and SUCCEEDED
    gate.release()
    held.join()
    assert not isinstance(outcome[0], Exception), outcome
    for _ in range(2):
        payments.reconcile()
    assert xendit.refund_keys_with_prefix("refund-") == [key(payment.id, 1), key(payment.id, 2)]
    assert [r["status"] for r in xendit.refunds.values()] == ["FAILED", "SUCCEEDED"]
    assert xendit.count("POST", "/refunds") == 3
    refund = db.refunds.find_one({"_id": payment.id})
    second = xendit.refund_keys[key(payment.id, 2)][0]
    assert (refund["state"], refund["refund_attempt"], refund["refund_id"]) == (
        "SUCCEEDED", 2, second)
    assert [f["failure_code"] for f in refund["failed_refunds"]] == ["INSUFFICIENT_BALANCE"]


# ------------------------------------------------------------------ following
@pytest.mark.parametrize("failure, state", [(None, "SUCCEEDED"),
                                            ("INELIGIBLE_TRANSACTION", "FAILED")])
def test_a_requested_refund_is_followed_to_its_end(payments, xendit, db, failure, state):
    booking, payment = cancelled_after_payment(payments, xendit)
    xendit.refund_failures = [failure] if failure else []
    assert payments.run_refunds() == 1
    refund = db.refunds.find_one({"_id": payment.id})
    assert (refund["state"], refund["xendit_status"]) == ("REQUESTED", "PENDING")
    assert owed(db) == []  # Xendit is on it
    assert payments.refresh_refunds() == 1
    refund = db.refunds.find_one({"_id": payment.id})
    assert refund["state"] == state and refund.get("failure_code") == failure
    assert owed(db) == ([booking.code] if failure else [])
    assert payments.refresh_refunds() == 0 and payments.run_refunds() == 0
    assert len(xendit.refunds) == 1


def test_temporary_failures_are_retried_under_new_keys_then_given_up(payments, xendit, db):
    _, payment = cancelled_after_payment(payments, xendit)
    xendit.refund_failures = ["INSUFFICIENT_BALANCE"] * 3
    for _ in range(5):
        payments.reconcile()
    assert xendit.refund_keys_with_prefix("refund-") == [key(payment.id, n) for n in (1, 2, 3)]
    refund = db.refunds.find_one({"_id": payment.id})
    assert (refund["state"], refund["refund_attempt"], refund["failure_code"]) == (
        "FAILED", 3, "INSUFFICIENT_BALANCE")
    assert len(refund["failed_refunds"]) == 2


def test_final_refunds_never_move(payments, xendit, db):
    _, payment = cancelled_after_payment(payments, xendit)
    payments.run_refunds()
    requested = payments.refund(payment.id)
    payments.refresh_refunds()
    assert payments.refund(payment.id)["state"] == "SUCCEEDED"
    late = {"id": requested["refund_id"], "status": "FAILED",
            "failure_code": "INSUFFICIENT_BALANCE"}
    payments.refunds.apply_status(requested, late)  # a stale read of the REQUESTED refund
    assert payments.refund(payment.id)["state"] == "SUCCEEDED"
    payments.refunds.apply_status({**requested, "refund_id": "rfd-other"}, late)
    assert payments.refund(payment.id)["state"] == "SUCCEEDED"
    assert payments.run_refunds() == 0 and len(xendit.refunds) == 1


def test_refunds_recorded_before_xendit_refunds_existed_are_left_to_a_person(payments, xendit,
                                                                           db):
    booking, payment = cancelled_after_payment(payments, xendit)
    db.refunds.update_one({"_id": payment.id}, {"$unset": {"refund_attempt": ""}})
    for _ in range(2):
        payments.reconcile()
    assert xendit.refunds == {} and owed(db) == [booking.code]
