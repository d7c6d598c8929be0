"""`make report` prints the funnel of every business in the catalog."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timezone

from booking import orders
from booking.catalog import CatalogRepository
from tests.conftest import ROOT


def test_report_prints_a_row_per_business(db, db_name, mongo_url, seed_catalog):
    CatalogRepository(db).save(seed_catalog)
    log = orders.OrderLog(db)
    at = datetime(2026, 11, 10, 3, tzinfo=timezone.utc)
    for oid, selected in (("a", True), ("b", False)):
        log.record(oid, "ubud-serenity-spa", orders.ORDER_RECEIVED, at)
        if selected:
            log.record(oid, "ubud-serenity-spa", orders.SLOT_SELECTED, at)
    env = dict(os.environ, MONGODB_URL=mongo_url, MONGODB_DB=db_name)
    result = subprocess.run([sys.executable, "-m", "tools.report", "--from", "2026-11-01",
                             "--to", "2026-11-30"], cwd=ROOT, env=env, capture_output=True,
                            text=True, check=True)
    lines = result.stdout.splitlines()
    assert lines[0] == "Order funnel 2026-11-01 .. 2026-11-30 (UTC)"
    spa = next(line for line in lines if line.startswith("ubud-serenity-spa"))
    assert spa.split()[1:3] == ["2", "50.0%"]
    assert any(line.startswith("canggu-glow-salon") for line in lines)


def test_report_shows_failed_payouts_and_refunds_owed(db, db_name, mongo_url, seed_catalog):
    CatalogRepository(db).save(seed_catalog)
    paid_at = datetime(2026, 11, 10, 3, tzinfo=timezone.utc)
    db.payments.insert_many([
        {"_id": "BK111111-1", "business_id": "ubud-serenity-spa", "state": "PAID",
         "amount": 350000, "paid_at": paid_at},
        {"_id": "BK222222-1", "business_id": "ubud-serenity-spa", "state": "PAID",
         "amount": 450000, "paid_at": paid_at}])
    db.payouts.insert_many([
        {"_id": "BK111111:vendor", "code": "BK111111", "business_id": "ubud-serenity-spa",
         "party": "vendor", "amount": 315000, "state": "SUCCEEDED"},
        {"_id": "BK222222:villa", "code": "BK222222", "business_id": "ubud-serenity-spa",
         "party": "villa", "amount": 67500, "state": "FAILED",
         "failure_code": "INVALID_DESTINATION", "retryable": False}])
    db.refunds.insert_one({"_id": "BK333333-1", "code": "BK333333",
                           "business_id": "ubud-serenity-spa", "amount": 350000,
                           "reason": "paid after the time was given up", "state": "NEEDED"})
    env = dict(os.environ, MONGODB_URL=mongo_url, MONGODB_DB=db_name)
    out = subprocess.run([sys.executable, "-m", "tools.report", "--from", "2026-11-01", "--to",
                          "2026-11-30"], cwd=ROOT, env=env, capture_output=True, text=True,
                         check=True).stdout
    spa = [line for line in out.splitlines() if line.startswith("ubud-serenity-spa")][1]
    assert spa.split()[1:3] == ["2", "800,000"] and "failed 1, succeeded 1" in spa
    failed = out.split("FAILED PAYOUTS")[1].splitlines()[1].split()
    assert failed == ["ubud-serenity-spa", "BK222222", "villa", "67,500", "INVALID_DESTINATION"]
    assert "BK333333" in out.split("REFUNDS NEEDED")[1]


def test_a_refund_shows_what_was_already_paid_out_to_claw_back():
    from booking.analytics import PaymentFigures
    from tools.report import render_payments

    refund = {"code": "BK000001", "amount": 350000, "reason": "booking cancelled after payment",
              "paid_out": {"vendor": {"amount": 280000, "payout_id": "disb-1",
                                      "state": "SUCCEEDED"}}, "paid_out_total": 280000}
    text = render_payments([PaymentFigures("spa", 1, 350000, {"SUCCEEDED": 1}, [], [refund])])
    assert "already paid out: vendor 280,000; claw back 280,000" in text
