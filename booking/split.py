"""Splitting a paid amount between the platform, the villa and the service vendor.

Integer IDR only. The platform's percentage and the villa's percentage are rounded down; a
villa's flat share is capped so nobody's share goes negative; the vendor receives the rest, so
the three shares always add up exactly to the amount paid.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from booking.errors import ValidationError
from booking.models import Business, Villa


@dataclass(frozen=True)
class Split:
    """Who gets what of one payment (integer IDR)."""

    amount: int
    platform: int
    villa: int
    vendor: int


def split_payment(amount: int, business: Business, villa: Optional[Villa] = None) -> Split:
    """The shares of ``amount`` for a booking at ``business`` (hosted at ``villa``, if any)."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise ValidationError(f"amount must be a non-negative integer IDR, got {amount!r}")
    platform = amount * business.platform_fee_percent // 100
    villa_share = 0
    if villa is not None:
        if villa.share_percent is not None:
            villa_share = amount * villa.share_percent // 100
        else:
            villa_share = villa.share_flat or 0
        villa_share = min(villa_share, amount - platform)
    return Split(amount, platform, villa_share, amount - platform - villa_share)
