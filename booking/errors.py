"""Typed errors of the booking core; callers decide what to tell the customer by type."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class BookingError(Exception):
    """Base class of every error the core raises on purpose."""


class ValidationError(BookingError):
    """The request itself is invalid (unknown service, time in the past, ...); never retried."""


class UnknownEntityError(ValidationError):
    """A business, service, staff member, villa or booking does not exist."""

    def __init__(self, kind: str, key: Any) -> None:
        super().__init__(f"unknown {kind}: {key!r}")
        self.kind = kind
        self.key = key


class OutsideWorkingHoursError(ValidationError):
    """The requested time is not inside anyone's working hours for this service."""


class TooSoonError(ValidationError):
    """The requested start is in the past or inside the minimum notice."""


class TooFarError(ValidationError):
    """The requested start lies beyond the booking horizon."""


class OffGridError(ValidationError):
    """The start is not on the business's grid of start times (every ``slot_minutes`` from
    local midnight), e.g. 10:07 on a 15-minute grid."""

    def __init__(self, local_time: str, slot_minutes: int) -> None:
        super().__init__(f"{local_time} is not a start time: bookings start every "
                         f"{slot_minutes} minutes")
        self.local_time = local_time
        self.slot_minutes = slot_minutes


class CustomerLimitError(ValidationError):
    """A customer reached one of their limits at a business: ``kind`` is ``unpaid_holds``
    (times held unpaid at once), ``upcoming`` (upcoming bookings) or ``payment_attempts``
    (payment links of one booking); ``limit`` is the configured maximum."""

    KINDS = ("unpaid_holds", "upcoming", "payment_attempts")

    def __init__(self, kind: str, limit: int) -> None:
        what = {"unpaid_holds": "times held waiting for payment",
                "upcoming": "upcoming bookings",
                "payment_attempts": "payment attempts for this booking",
                "waitlist": "days on the waiting list"}[kind]
        super().__init__(f"at most {limit} {what}")
        self.kind = kind
        self.limit = limit


@dataclass
class SlotConflictError(BookingError):
    """The time is taken; ``alternatives`` holds the next free start times (UTC)."""

    message: str
    alternatives: list[datetime] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.message)


class InvalidTransitionError(BookingError):
    """A status change that the lifecycle does not allow, or whose expected status is stale."""

    def __init__(self, code: str, current: str | None, target: str) -> None:
        super().__init__(f"booking {code}: cannot change status from {current} to {target}")
        self.code = code
        self.current = current
        self.target = target


class PlanLimitReachedError(BookingError):
    """The business has used up its monthly booking allowance."""

    def __init__(self, business_id: str, limit: int, month: str) -> None:
        super().__init__(
            f"business {business_id} has reached its plan limit of {limit} bookings for {month}"
        )
        self.business_id = business_id
        self.limit = limit
        self.month = month


class SeedDataError(BookingError):
    """The seed catalog is invalid; the message names the file and the entry."""

    def __init__(self, path: str, entry: str, reason: str) -> None:
        super().__init__(f"{path}: {entry}: {reason}")
        self.path = path
        self.entry = entry
        self.reason = reason


class DatabaseUnavailableError(BookingError):
    """The database stayed unreachable after the retries."""
