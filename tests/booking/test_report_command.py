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
