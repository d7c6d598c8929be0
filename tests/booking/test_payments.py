"""Payments in the core, against a real mongod and the local Xendit stand-in over real HTTP."""
from __future__ import annotations

import dataclasses
import io
import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader

from booking.bookings import BookingRequest, BookingService
from booking.errors import SlotConflictError
from booking.models import CONFIRMED, EXPIRED, PENDING_PAYMENT, PayoutDestination
from booking.payments import Conversation, PaymentService, PaymentSettings
from booking.split import split_payment
from booking.xendit import XenditClient, XenditConfig
from tests.conftest import seed_weekday_ahead
from tests.xendit_stub import SECRET_KEY, XenditStub

BALI = ZoneInfo("Asia/Makassar")
TUE_10 = datetime(2026, 11, 24, 10, 0, tzinfo=BALI).astimezone(timezone.utc)
CHAT = Conversation("6281100000001", "whatsapp", "ubud-serenity-spa", "110000000000001")


def make_payments(db, clock, xendit, catalog, **config) -> PaymentService:
    core = BookingService(db, catalog, clock=clock)
    client = XenditClient(XenditConfig(secret_key=SECRET_KEY, api_url=xendit.url,
                                       timeout_seconds=5, retry_base_seconds=0.001, **config))
    service = PaymentService(core, client, PaymentSettings(public_base_url="https://bot.example"))
    service.ensure_indexes()
    return service


@pytest.fixture
def payments(db, clock, xendit, seed_catalog) -> PaymentService:
    return make_payments(db, clock, xendit, seed_catalog)


def book(payments: PaymentService, start: datetime = TUE_10, customer: str = "6281100000001",
         villa: str | None = "villa-sawah-ubud"):
    return payments.core.create(BookingRequest(
        service_id="balinese-massage", start=start, customer_id=customer, customer_name="Ayu",
        staff_id="wayan", villa_id=villa))


def pay(payments: PaymentService, xendit: XenditStub, invoice_id: str, status: str = "PAID",
        times: int = 1) -> None:
    """Xendit sends the callback ``times`` times; each recorded one is processed."""
    xendit.set_status(invoice_id, status)
    for _ in range(times):
        if payments.record_callback(xendit.callback_body(invoice_id)):
            payments.process_callback(f"{invoice_id}:{status}")


def notices(db) -> list[str]:
    return [d["_id"].rsplit(":", 1)[1] for d in db.payment_notices.find().sort("created_at", 1)]


def test_the_invoice_is_priced_on_the_server_and_held_until_it_expires(payments, xendit, db):
    booking = book(payments)
    assert booking.status == PENDING_PAYMENT
    payment = payments.request_payment(booking, CHAT)
    [invoice] = xendit.invoices_for(booking.code)
    assert invoice["external_id"] == f"{booking.code}-1" == payment.id
    assert invoice["amount"] == 350000 and invoice["currency"] == "IDR"
    assert invoice["items"] == [{"name": "Balinese Massage", "price": 350000, "quantity": 1}]
    assert invoice["customer"] == {"given_names": "Ayu", "mobile_number": "+6281100000001"}
    assert payment.invoice_url == invoice["invoice_url"]
    assert payment.expires_at == payments.core.clock() + timedelta(minutes=30)
    assert db.bookings.find_one({"code": booking.code})["hold_until"] == payment.expires_at


def test_the_invoice_speaks_the_customers_language(payments, xendit):
    """What Xendit's checkout page shows (description, item) is in the customer's language."""
    english = book(payments, customer="6281100000011")
    payments.request_payment(english, Conversation("6281100000011", "whatsapp",
                                                   "ubud-serenity-spa", "110000000000001"))
    [invoice] = xendit.invoices_for(english.code)
    assert invoice["description"] == (
        f"Balinese Massage, Tue 24 Nov 2026, 10:00, booking {english.code} at Ubud Serenity Spa")
    indonesian = book(payments, start=TUE_10 + timedelta(hours=4), customer="6281100000012")
    payments.request_payment(indonesian, Conversation("6281100000012", "whatsapp",
                                                      "ubud-serenity-spa", "110000000000001",
                                                      language="id"))
    [invoice] = xendit.invoices_for(indonesian.code)
    assert invoice["description"] == (
        f"Pijat Bali, Sel, 24 Nov 2026, 14.00, booking {indonesian.code} di Ubud Serenity Spa")
    assert invoice["items"] == [{"name": "Pijat Bali", "price": 350000, "quantity": 1}]
    assert invoice["success_redirect_url"] == (  # the page after paying, in Indonesian too
        f"https://bot.example/webhooks/xendit/return?booking={indonesian.code}&lang=id")


def test_asking_twice_gives_the_same_invoice(payments, xendit):
    booking = book(payments)
    first = payments.request_payment(booking, CHAT)
    again = payments.request_payment(booking, CHAT)
    assert again.invoice_id == first.invoice_id
    assert len(xendit.invoices_for(booking.code)) == 1


@pytest.mark.parametrize("failures", [[429], [500, 500], [429, 500, 503]])
def test_refusals_are_retried_with_backoff(payments, xendit, failures):
    xendit.fail["create_invoice"] = list(failures)
    booking = book(payments)
    payment = payments.request_payment(booking, CHAT)
    assert payment.state == "PENDING" and payment.invoice_url
    assert xendit.count("POST", "/v2/invoices") == len(failures) + 1
    assert len(xendit.invoices_for(booking.code)) == 1


def test_a_lost_create_answer_is_looked_up_not_repeated(payments, xendit):
    xendit.fail["create_invoice"] = ["lose"]
    booking = book(payments)
    payment = payments.request_payment(booking, CHAT)
    [invoice] = xendit.invoices_for(booking.code)
    assert payment.invoice_id == invoice["id"] and payment.state == "PENDING"
    assert xendit.count("POST", "/v2/invoices") == 1
    assert xendit.count("GET", "/v2/invoices") >= 1


def test_paid_confirms_once_and_pays_vendor_and_villa_once(payments, xendit, db, seed_catalog):
    booking = book(payments)
    payment = payments.request_payment(booking, CHAT)
    pay(payments, xendit, payment.invoice_id, times=10)
    # Reordered and replayed: a stale EXPIRED callback after the PAID, re-read as PAID.
    assert payments.record_callback(xendit.callback_body(payment.invoice_id, status="EXPIRED"))
    payments.process_callback(f"{payment.invoice_id}:EXPIRED")
    stored = db.bookings.find_one({"code": booking.code})
    assert stored["status"] == CONFIRMED and stored["paid_by"] == payment.id
    assert notices(db) == ["paid"]
    assert db.xendit_callbacks.count_documents({}) == 2
    split = split_payment(350000, seed_catalog.business("ubud-serenity-spa"),
                          seed_catalog.villa("villa-sawah-ubud"))
    payouts = {p["party"]: p for p in db.payouts.find()}
    assert {k: p["amount"] for k, p in payouts.items()} == {"vendor": split.vendor,
                                                              "villa": split.villa}
    assert split.vendor + split.villa + split.platform == 350000
    assert payments.run_payouts() == 0  # already sent
    payments.refresh_payouts()
    assert len(xendit.payouts) == 2
    assert {p["state"] for p in db.payouts.find()} == {"SUCCEEDED"}
    sent = sorted((p["channel_properties"]["account_number"], p["amount"])
                  for p in xendit.payouts.values())
    assert sent == sorted([("5270001111", split.vendor), ("5270003333", split.villa)])


def test_expired_frees_the_time_and_pay_again_holds_it_with_a_new_invoice(payments, xendit, db):
    booking = book(payments)
    first = payments.request_payment(booking, CHAT)
    pay(payments, xendit, first.invoice_id, "EXPIRED", times=3)
    stored = db.bookings.find_one({"code": booking.code})
    assert stored["status"] == EXPIRED and "cells" not in stored
    assert notices(db) == ["expired"]
    second = payments.pay_again(booking.code, "6281100000001", CHAT)
    assert second.id == f"{booking.code}-2" and second.invoice_id != first.invoice_id
    assert db.bookings.find_one({"code": booking.code})["status"] == PENDING_PAYMENT
    assert db.bookings.find_one({"code": booking.code})["cells"] == stored_cells(booking, db)
    pay(payments, xendit, second.invoice_id)
    assert db.bookings.find_one({"code": booking.code})["status"] == CONFIRMED
    assert notices(db) == ["expired", "paid"]


def stored_cells(booking, db) -> list[str]:
    doc = db.bookings.find_one({"code": booking.code})
    return doc.get("cells")


def test_pay_again_when_the_time_was_taken_offers_alternatives(payments, xendit, db):
    booking = book(payments)
    payment = payments.request_payment(booking, CHAT)
    pay(payments, xendit, payment.invoice_id, "EXPIRED")
    book(payments, customer="6281100000002")  # someone else takes it
    with pytest.raises(SlotConflictError) as info:
        payments.pay_again(booking.code, "6281100000001", CHAT)
    assert len(info.value.alternatives) == 3
    assert db.bookings.find_one({"code": booking.code})["status"] == EXPIRED
    assert len(xendit.invoices_for(booking.code)) == 1


def test_paid_after_expired_reconfirms_when_the_time_is_still_free(payments, xendit, db):
    booking = book(payments)
    payment = payments.request_payment(booking, CHAT)
    pay(payments, xendit, payment.invoice_id, "EXPIRED")
    pay(payments, xendit, payment.invoice_id, "PAID")  # the race at expiry
    stored = db.bookings.find_one({"code": booking.code})
    assert stored["status"] == CONFIRMED and len(stored["cells"]) > 0
    assert notices(db) == ["expired", "paid"]
    assert db.payouts.count_documents({}) == 2 and db.refunds.count_documents({}) == 0


def test_paid_after_the_time_was_taken_records_a_refund_and_pays_nobody(payments, xendit, db):
    booking = book(payments)
    payment = payments.request_payment(booking, CHAT)
    pay(payments, xendit, payment.invoice_id, "EXPIRED")
    other = book(payments, customer="6281100000002")
    pay(payments, xendit, payment.invoice_id, "PAID", times=3)
    assert db.bookings.find_one({"code": booking.code})["status"] == EXPIRED
    assert db.bookings.find_one({"code": other.code})["status"] == PENDING_PAYMENT
    [refund] = db.refunds.find()
    assert refund["_id"] == payment.id and refund["amount"] == 350000
    assert notices(db) == ["expired", "refund"]
    assert db.payouts.count_documents({}) == 0


def test_a_callback_whose_invoice_disagrees_confirms_nothing(payments, xendit, db):
    booking = book(payments)
    payment = payments.request_payment(booking, CHAT)
    xendit.invoices[payment.invoice_id]["amount"] = 1000  # tampered / wrong invoice
    pay(payments, xendit, payment.invoice_id)
    assert db.bookings.find_one({"code": booking.code})["status"] == PENDING_PAYMENT
    assert db.payments.find_one({"_id": payment.id})["anomaly"]
    assert notices(db) == []


def test_callbacks_must_name_an_invoice_and_status(payments):
    from booking.payments import CallbackError

    for body in ([], {"status": "PAID"}, {"id": "x"}, {"id": "x", "status": "PAID"},
                 {"id": 5, "status": "PAID", "external_id": "a"}):
        with pytest.raises(CallbackError):
            payments.record_callback(body)


def test_reconcile_applies_a_callback_that_never_came(payments, xendit, db, clock):
    booking = book(payments)
    payment = payments.request_payment(booking, CHAT)
    xendit.set_status(payment.invoice_id, "EXPIRED")  # no callback delivered
    assert payments.reconcile()["invoices_checked"] == 0  # not past its expiry yet
    clock.now += timedelta(minutes=31)
    assert payments.reconcile()["invoices_checked"] == 1
    assert db.bookings.find_one({"code": booking.code})["status"] == EXPIRED
    assert payments.reconcile()["invoices_checked"] == 0
    assert notices(db) == ["expired"]


def test_xendit_unreachable_then_reconciled_creates_one_invoice_and_sends_the_link(
        payments, xendit, db, clock):
    xendit.fail["create_invoice"] = [500] * 4
    booking = book(payments)
    payment = payments.request_payment(booking, CHAT)
    assert payment.invoice_url is None and payment.state == "CREATING"
    clock.now += timedelta(minutes=3)
    assert payments.reconcile()["invoices_created"] == 1
    assert payments.reconcile()["invoices_created"] == 0
    assert len(xendit.invoices_for(booking.code)) == 1
    assert notices(db) == ["link"]


def test_a_hold_whose_invoice_never_got_made_is_released(payments, xendit, db, clock):
    xendit.fail["create_invoice"] = [500] * 4
    booking = book(payments)
    payments.request_payment(booking, CHAT)
    clock.now += timedelta(minutes=31)
    payments.reconcile()
    assert db.bookings.find_one({"code": booking.code})["status"] == EXPIRED
    assert notices(db) == ["expired"] and xendit.invoices_for(booking.code) == []


def test_payouts_retry_temporary_failures_then_give_up_visibly(db, clock, xendit, seed_catalog):
    spa = seed_catalog.business("ubud-serenity-spa")
    flaky = dataclasses.replace(spa, payout=PayoutDestination("ID_BCA", "123456", "Flaky"))
    catalog = dataclasses.replace(seed_catalog, businesses={**seed_catalog.businesses,
                                                           spa.id: flaky})
    payments = make_payments(db, clock, xendit, catalog)
    booking = book(payments, villa=None)
    payment = payments.request_payment(booking, CHAT)
    xendit.fail["create_payout"] = [500, 429]  # request refused twice, then accepted
    pay(payments, xendit, payment.invoice_id)
    [payout] = db.payouts.find()
    assert payout["state"] == "REQUESTED"
    for _ in range(3):  # the account always fails temporarily: 3 transfers, then FAILED
        payments.reconcile()
    payout = db.payouts.find_one()
    assert payout["state"] == "FAILED" and payout["failure_code"] == "TEMPORARY_TRANSFER_ERROR"
    assert payout["transfer_attempt"] == 3
    keys = sorted(p["idempotency_key"] for p in xendit.payouts.values())
    assert len(keys) == 3 and len(set(keys)) == 3
    payments.reconcile()
    assert len(xendit.payouts) == 3  # final: nothing more is sent


def test_payouts_survive_xendit_being_down(payments, xendit, db):
    booking = book(payments)
    payment = payments.request_payment(booking, CHAT)
    xendit.fail["create_payout"] = [503] * 8
    pay(payments, xendit, payment.invoice_id)
    assert {p["state"] for p in db.payouts.find()} == {"FAILED"}
    assert all(p["retryable"] for p in db.payouts.find())
    payments.reconcile()
    assert {p["state"] for p in db.payouts.find()} == {"SUCCEEDED"}
    assert len(xendit.payouts) == 2


def test_the_pdf_confirmation_has_the_booking_details(payments, xendit, db):
    booking = book(payments)
    payment = payments.request_payment(booking, CHAT)
    pay(payments, xendit, payment.invoice_id)
    token = db.payments.find_one({"_id": payment.id})["receipt_token"]
    assert len(token) >= 32
    assert payments.receipt_url(token) == f"https://bot.example/webhooks/xendit/receipts/{token}.pdf"
    text = PdfReader(io.BytesIO(payments.receipt_pdf(token))).pages[0].extract_text()
    for expected in ("Ubud Serenity Spa", "Ayu", "+6281100000001", booking.code,
                     "Balinese Massage", "Wayan", "Tuesday 24 November 2026", "10:00",
                     "Villa Sawah Ubud", "Rp350.000", "QRIS", payment.invoice_id):
        assert expected in text, expected
    assert payments.receipt_pdf("not-a-token") is None


def test_make_reconcile_applies_what_xendit_knows(db, db_name, mongo_url, xendit, seed_catalog):
    import os
    import subprocess
    import sys

    from booking.catalog import CatalogRepository
    from tests.conftest import ROOT
    from tests.xendit_stub import CALLBACK_TOKEN

    xendit.clock = lambda: datetime.now(timezone.utc)
    CatalogRepository(db).save(seed_catalog)
    payments = make_payments(db, xendit.clock, xendit, seed_catalog)
    day = seed_weekday_ahead(2)
    booking = book(payments, datetime(day.year, day.month, day.day, 10, tzinfo=BALI))
    payment = payments.request_payment(booking, CHAT)
    xendit.set_status(payment.invoice_id, "EXPIRED")  # and the callback never came
    db.payments.update_one({"_id": payment.id},
                           {"$set": {"expires_at": datetime.now(timezone.utc) - timedelta(seconds=1)}})
    env = dict(os.environ, MONGODB_URL=mongo_url, MONGODB_DB=db_name, XENDIT_API_URL=xendit.url,
               XENDIT_SECRET_KEY=SECRET_KEY, XENDIT_CALLBACK_TOKEN=CALLBACK_TOKEN)
    out = subprocess.run([sys.executable, "-m", "tools.reconcile"], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True).stdout
    assert "invoices checked 1" in out
    assert db.bookings.find_one({"code": booking.code})["status"] == EXPIRED
    assert notices(db) == ["expired"]


def test_any_callback_body_is_stored_whole_or_refused_cleanly(payments, db):
    from hypothesis import HealthCheck, given, settings, strategies as st

    from booking.payments import CallbackError

    scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=20)
    json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                               | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                               max_leaves=8)
    bodies = json_values | st.fixed_dictionaries(
        {"id": scalars, "status": scalars, "external_id": scalars}, optional={
            "amount": scalars, "currency": scalars, "extra": json_values})

    @settings(max_examples=300, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(bodies)
    def check(body):
        before = db.xendit_callbacks.count_documents({})
        try:
            fresh = payments.record_callback(body)
        except CallbackError:
            assert db.xendit_callbacks.count_documents({}) == before
            return
        stored = db.xendit_callbacks.find_one({"_id": f"{body['id']}:{body['status']}"})
        assert stored is not None and (not fresh or json.loads(stored["body"]) == body)

    check()


def test_odd_field_names_in_a_callback_are_stored_as_sent(payments, db):
    body = {"id": "inv-odd", "status": "PAID", "external_id": "x", "$where": 1, "a.b": {"$gt": 2},
            "amount": 10 ** 30}
    assert payments.record_callback(body) is True
    assert payments.record_callback(body) is False  # a replay
    assert json.loads(db.xendit_callbacks.find_one({"_id": "inv-odd:PAID"})["body"]) == body


def ttl_of(collection, field: str):
    [ttl] = [i.get("expireAfterSeconds") for i in collection.index_information().values()
             if i["key"] == [(field, 1)]]
    return ttl


def test_callbacks_and_notices_are_kept_for_the_retention_period(
        db, clock, xendit, seed_catalog, monkeypatch):
    make_payments(db, clock, xendit, seed_catalog)  # the default: 90 days
    assert ttl_of(db.xendit_callbacks, "received_at") == 90 * 86400
    assert ttl_of(db.payment_notices, "created_at") == 90 * 86400
    monkeypatch.setenv("DATA_RETENTION_DAYS", "7")
    settings = PaymentSettings.from_env()
    assert settings.retention_days == 7
    payments = make_payments(db, clock, xendit, seed_catalog)
    PaymentService(payments.core, payments.client, settings).ensure_indexes()  # changed: collMod
    assert ttl_of(db.xendit_callbacks, "received_at") == 7 * 86400
    assert ttl_of(db.payment_notices, "created_at") == 7 * 86400
