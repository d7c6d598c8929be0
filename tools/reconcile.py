"""Reconcile payments with Xendit once: ``python -m tools.reconcile`` (``make reconcile``).

Processes callbacks recorded but never processed, creates invoices Xendit could not make at
first (only for bookings still waiting for that payment), re-reads invoices still pending past
their expiry, releases every hold past its ``hold_until`` (whatever Xendit says), sends payouts
not yet accepted (only for bookings that stand paid) and follows payouts to a final status. The Rasa server runs the same job every
XENDIT_RECONCILE_SECONDS (default 60) and sends the customer notices this one writes.
Run it from cron as well if you like: every step is idempotent.
"""
from __future__ import annotations

import logging
import sys
from typing import Optional

from tools.mongod import database_url


def main(argv: Optional[list[str]] = None) -> int:
    """Run one reconciliation pass and print what it did."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    with database_url():
        from booking.runtime import payment_service

        summary = payment_service().reconcile()
    print("reconciled: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in summary.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
