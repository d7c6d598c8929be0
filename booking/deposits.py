"""What a booking asks to be paid up front, and what a cancellation gives back (pure rules).

A business's ``payment:`` block (and a service's own, which wins) says what is collected when
booking: ``full`` (the price), ``deposit`` (a percent of the price or a fixed amount, never more
than the price), or ``none``; optionally only from first-time customers (no completed visit at
the business yet); and a cancellation window (default 24 hours): a customer who cancels
before it gets back what they paid, one who cancels after it, or does not come, leaves it
with the business. A business that cancels always refunds in full. The booking keeps the terms
it was made under (``amount_due``, ``cancel_window_hours``), so a later catalog change alters
no booking already made.

The legacy ``payment_required: true`` without a ``payment:`` block means ``full`` with no
cancellation window (every cancellation refunds in full), as before this policy existed.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Optional

from booking.i18n import N_
from booking.models import DEPOSIT, FULL, NONE, PaymentPolicy

MAX_WINDOW_HOURS = 24 * 14
DEPOSIT_LINE = N_("Deposit to pay now: {deposit}; the rest, {rest}, at your visit.")
KEPT_DEPOSIT = N_("Free cancellation until {when}. After that, or if you don't come, the "
                  "deposit is kept.")
KEPT_PAYMENT = N_("Free cancellation until {when}. After that, or if you don't come, the "
                  "payment is kept.")
NOT_FREE_DEPOSIT = N_("Free cancellation has ended for this time: if you cancel or don't come, "
                      "the deposit is kept.")
NOT_FREE_PAYMENT = N_("Free cancellation has ended for this time: if you cancel or don't come, "
                      "the payment is kept.")


@dataclass(frozen=True)
class Terms:
    """What one booking asks: paid now, paid at the venue, and until when it cancels free."""

    price: int
    due_now: int
    cancel_window_hours: Optional[int]  # None: every cancellation refunds in full

    @property
    def at_venue(self) -> int:
        return self.price - self.due_now

    @property
    def deposit(self) -> bool:
        """A part of the price, not all of it, is paid now."""
        return 0 < self.due_now < self.price

    def free_until(self, start: datetime) -> Optional[datetime]:
        """Until when a cancellation refunds what was paid (``None``: always)."""
        if self.cancel_window_hours is None:
            return None
        return start - timedelta(hours=self.cancel_window_hours)


def describe(deal: Terms, free_until: Optional[datetime], tz: Any, tx: Any,
             now: Optional[datetime] = None) -> list[str]:
    """The terms as the customer reads them (the confirmation card, the Flow's summary, an
    offer, the PDF), in ``tx``'s language; nothing for a booking with nothing to pay up front.
    ``free_until``: when free cancellation ends (``None``: never); passed already at ``now``,
    it says so."""
    lines = []
    if deal.deposit:
        lines.append(tx(DEPOSIT_LINE, deposit=tx.money(deal.due_now), rest=tx.money(deal.at_venue)))
    if deal.due_now and free_until is not None:
        if now is not None and now >= free_until:
            lines.append(tx(NOT_FREE_DEPOSIT if deal.deposit else NOT_FREE_PAYMENT))
        else:
            lines.append(tx(KEPT_DEPOSIT if deal.deposit else KEPT_PAYMENT,
                            when=tx.moment(free_until, tz)))
    return lines


def free_until_after_move(window_hours: Optional[int], free_until: Optional[datetime],
                          new_start: datetime, now: datetime,
                          by_business: bool) -> Optional[datetime]:
    """When free cancellation ends after a booking moves to ``new_start``. The customer's own
    move made while cancelling was still free gets the new time's window; one made after it
    keeps it ended (moving is no way round the policy). A move by the business gives the new
    time's window, or, when that has passed already, free cancellation until the visit."""
    if window_hours is None:
        return None
    new = new_start - timedelta(hours=window_hours)
    if by_business:
        return new if new > now else new_start
    return new if free_until is None or now <= free_until else free_until


def terms_of(booking: Any) -> Terms:
    """The terms a booking was made under."""
    return Terms(booking.price, booking.due_now, booking.cancel_window_hours)


def policy_of(business: Any, service: Any) -> PaymentPolicy:
    """The terms a service is sold under: its own ``payment:``, else its business's."""
    return service.payment_policy or business.payment


def terms(policy: PaymentPolicy, price: int, first_time: bool) -> Terms:
    """What a booking at ``price`` asks under ``policy`` (``first_time``: the customer has no
    completed visit at the business)."""
    due = 0
    if policy.collect == FULL:
        due = price
    elif policy.collect == DEPOSIT:
        due = policy.deposit_amount if policy.deposit_amount is not None else (
            price * (policy.deposit_percent or 0) // 100)
        due = max(0, min(price, due))
    if policy.first_time_only and not first_time:
        due = 0
    return Terms(price, due, policy.cancel_window_hours if due else None)


def kept_on_cancel(free_until: Optional[datetime], at: datetime) -> bool:
    """Whether a customer cancelling at ``at`` leaves what they paid (free cancellation ended
    at ``free_until``; ``None``: it never ends)."""
    return free_until is not None and at > free_until


def parse_payment(raw: Any, fail: Callable[[str], Exception]) -> Optional[PaymentPolicy]:
    """A catalog ``payment:`` block (``None`` when absent); raises ``fail(reason)`` for a bad
    one."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise fail("payment must be a mapping (collect, deposit, first_time_only, "
                   "cancel_window_hours)")
    unknown = set(raw) - {"collect", "deposit", "first_time_only", "cancel_window_hours"}
    if unknown:
        raise fail(f"payment has unknown keys: {', '.join(sorted(unknown))}")
    collect = raw.get("collect", DEPOSIT if "deposit" in raw else FULL)
    if collect not in (FULL, DEPOSIT, NONE):
        raise fail(f"payment.collect must be full, deposit or none, got {collect!r}")
    percent = amount = None
    if collect == DEPOSIT:
        deposit = raw.get("deposit")
        if not isinstance(deposit, dict) or len(deposit) != 1 or not (
                set(deposit) <= {"percent", "amount"}):
            raise fail("payment.deposit must be {percent: N} or {amount: N}")
        (key, value), = deposit.items()
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0 or (
                key == "percent" and value > 100):
            raise fail(f"payment.deposit.{key} must be a whole number above 0"
                       + (" and at most 100" if key == "percent" else "") + f", got {value!r}")
        percent, amount = (value, None) if key == "percent" else (None, value)
    window = raw.get("cancel_window_hours", 24)
    if isinstance(window, bool) or not isinstance(window, int) or not (
            0 <= window <= MAX_WINDOW_HOURS):
        raise fail(f"payment.cancel_window_hours must be 0 to {MAX_WINDOW_HOURS}, got {window!r}")
    first_time = raw.get("first_time_only", False)
    if not isinstance(first_time, bool):
        raise fail("payment.first_time_only must be true or false")
    return PaymentPolicy(collect, percent, amount, first_time, window)
