"""Shares of a payment always add up exactly, in integer IDR, whatever the odd amounts."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from booking.errors import ValidationError
from booking.models import Business, Villa
from booking.split import split_payment


def business(fee: int) -> Business:
    return Business("b", "B", "Asia/Makassar", "1", platform_fee_percent=fee)


def test_seed_like_example():
    # Rp 350.000 at a 10 % platform fee, hosted by a villa taking 15 %.
    split = split_payment(350_000, business(10), Villa("v", "V", ("b",), share_percent=15))
    assert (split.platform, split.villa, split.vendor) == (35_000, 52_500, 262_500)


def test_flat_villa_share_never_makes_the_vendor_negative():
    split = split_payment(40_000, business(10), Villa("v", "V", ("b",), share_flat=50_000))
    assert (split.platform, split.villa, split.vendor) == (4_000, 36_000, 0)


@pytest.mark.parametrize("amount", [-1, 1.5, "100", True])
def test_bad_amounts_are_refused(amount):
    with pytest.raises(ValidationError):
        split_payment(amount, business(10))


@settings(max_examples=2000, deadline=None)
@given(amount=st.integers(0, 50_000_000), fee=st.integers(0, 100),
       villa=st.one_of(st.none(), st.integers(0, 100).map(lambda p: ("percent", p)),
                       st.integers(0, 60_000_000).map(lambda f: ("flat", f))))
def test_shares_add_up_exactly_and_follow_the_catalog(amount, fee, villa):
    hosted = None
    if villa is not None:
        kind, value = villa
        hosted = Villa("v", "V", ("b",), share_percent=value if kind == "percent" else None,
                       share_flat=value if kind == "flat" else None)
    split = split_payment(amount, business(fee), hosted)
    assert split.platform + split.villa + split.vendor == amount
    assert min(split.platform, split.villa, split.vendor) >= 0
    assert split.platform == amount * fee // 100
    if hosted is None:
        assert split.villa == 0
    elif hosted.share_percent is not None:
        assert split.villa == min(amount * hosted.share_percent // 100, amount - split.platform)
    else:
        assert split.villa == min(hosted.share_flat, amount - split.platform)
