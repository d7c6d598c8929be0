"""Internals shared by the booking lifecycle modules: claim cells and what a refused write
means (no I/O here)."""
from __future__ import annotations

from datetime import timezone
from typing import Any

from pymongo.errors import DuplicateKeyError

from booking.availability import Interval, cells


class CellTaken(Exception):
    """Internal: a claim cell of this staff member is already owned."""


class Stale(Exception):
    """Internal: the booking changed between read and compare-and-swap."""


class SlotTaken(Exception):
    """Internal: a per-customer limit slot was taken by a concurrent request."""


def claim_ids(staff_id: str, interval: Interval) -> list[str]:
    """The claim cell ids (``<staff>@<cell>``, the cell's UTC start) of a staff member's
    occupied interval. UTC whatever zone the instants come in: one instant must be one cell
    id, or a booking made in local time and one made in UTC would not collide."""
    return [f"{staff_id}@{_utc(cell).strftime('%Y-%m-%dT%H:%M')}" for cell in cells(interval)]


def _utc(moment: Any) -> Any:
    """An instant in UTC (one read back without a zone is UTC already, as MongoDB keeps it)."""
    return moment if moment.tzinfo is None else moment.astimezone(timezone.utc)


def duplicate_key_of(exc: DuplicateKeyError) -> dict[str, Any]:
    """The key pattern of the unique index a write ran into."""
    return (exc.details or {}).get("keyPattern") or {}
