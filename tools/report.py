"""Print funnel figures per business: ``python -m tools.report [--days N | --from D --to D]``."""
from __future__ import annotations

import argparse
import sys
from datetime import date, datetime, time, timedelta, timezone
from typing import Optional

from booking.analytics import Funnel, PaymentFigures, funnel, payment_figures
from booking.catalog import CatalogRepository
from booking.db import connect
from booking.settings import Settings
from tools.mongod import database_url


def _pct(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:6.1%}"


def render(funnels: list[Funnel], start: datetime, end: datetime) -> str:
    """A plain-text table of funnel figures."""
    lines = [f"Order funnel {start:%Y-%m-%d} .. {end - timedelta(seconds=1):%Y-%m-%d} (UTC)",
             f"{'business':28} {'orders':>6} {'slot sel':>8} {'confirm':>8} {'expired':>8} "
             f"{'conflict':>8} {'sel→conf':>9}"]
    for f in funnels:
        wait = "-" if f.avg_selection_to_confirmation_s is None else \
            f"{f.avg_selection_to_confirmation_s:8.1f}s"
        lines.append(f"{f.business_id:28} {f.orders:6d} {_pct(f.slot_selection_rate):>8} "
                     f"{_pct(f.confirmation_rate):>8} {_pct(f.session_expiration_rate):>8} "
                     f"{_pct(f.conflict_rate):>8} {wait:>9}")
    return "\n".join(lines)


def _clawback(refund: dict) -> str:
    """What was already paid out of a refunded payment, to claw back from whom."""
    paid_out = refund.get("paid_out") or {}
    if not paid_out:
        return ""
    parties = ", ".join(f"{party} {p['amount']:,d}" for party, p in sorted(paid_out.items()))
    return f"  (already paid out: {parties}; claw back {refund.get('paid_out_total', 0):,d})"


def render_payments(figures: list[PaymentFigures]) -> str:
    """Payments, payouts by state, and what needs a person (failed payouts, refunds owed)."""
    lines = ["", "Payments (paid in the period) and payouts", f"{'business':28} {'paid':>5} "
             f"{'amount (IDR)':>14}  payouts"]
    for f in figures:
        states = ", ".join(f"{k.lower()} {v}" for k, v in sorted(f.payouts_by_state.items())) or "-"
        lines.append(f"{f.business_id:28} {f.paid_count:5d} {f.paid_amount:14,d}  {states}")
    problems = [(f.business_id, p) for f in figures for p in f.failed_payouts]
    if problems:
        lines += ["", "FAILED PAYOUTS (need a person; `make reconcile` retries those marked retryable)"]
        lines += [f"  {b:28} {p['code']} {p['party']:6} {p['amount']:>10,d} {p.get('failure_code', '')}"
                  + ("  (retryable)" if p.get("retryable") else "") for b, p in problems]
    refunds = [(f.business_id, r) for f in figures for r in f.refunds_needed]
    if refunds:
        lines += ["", "REFUNDS NEEDED"]
        lines += [f"  {b:28} {r['code']} {r['amount']:>10,d}  {r['reason']}" + _clawback(r)
                  for b, r in refunds]
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    """Print the report for every business in the catalog (or the one given)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--business")
    parser.add_argument("--days", type=int, default=30, help="period ending today (default 30)")
    parser.add_argument("--from", dest="start", type=date.fromisoformat)
    parser.add_argument("--to", dest="end", type=date.fromisoformat, help="inclusive")
    args = parser.parse_args(argv)
    today = datetime.now(timezone.utc).date()
    end_day = args.end or today
    start_day = args.start or end_day - timedelta(days=args.days - 1)
    start = datetime.combine(start_day, time(), timezone.utc)
    end = datetime.combine(end_day + timedelta(days=1), time(), timezone.utc)
    with database_url():
        settings = Settings.from_env()
        db = connect(settings.mongodb_url, settings.mongodb_db)
        catalog = CatalogRepository(db).load()
        businesses = [args.business] if args.business else sorted(catalog.businesses)
        print(render([funnel(db, b, start, end) for b in businesses], start, end))
        print(render_payments([payment_figures(db, b, start, end) for b in businesses]))
        db.client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
