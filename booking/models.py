"""Plain data of the catalog and of bookings (no I/O here)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Optional
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# Booking statuses. Active ones hold a staff member's time.
PENDING_PAYMENT = "PENDING_PAYMENT"
CONFIRMED = "CONFIRMED"
COMPLETED = "COMPLETED"
CANCELLED = "CANCELLED"
EXPIRED = "EXPIRED"
NO_SHOW = "NO_SHOW"
OFFERED = "OFFERED"  # held for a customer on the waiting list until they accept (booking.offers)
WITHDRAWN = "WITHDRAWN"  # an offer nobody took (declined or its hold over): never a booking
NOT_BOOKINGS = (OFFERED, WITHDRAWN)  # waiting-list offers: no customer's booking (yet)
BOOKED_STATUSES = (PENDING_PAYMENT, CONFIRMED, COMPLETED)  # a customer's booking holds the time
ACTIVE_STATUSES = BOOKED_STATUSES + (OFFERED,)
UPCOMING_STATUSES = (PENDING_PAYMENT, CONFIRMED)
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    # Accepted (paid or not, as the business asks), or withdrawn: declined or not taken in
    # time, the time freed (booking.offers; only there, never by the generic lifecycle).
    OFFERED: frozenset({CONFIRMED, PENDING_PAYMENT, WITHDRAWN}),
    WITHDRAWN: frozenset(),
    PENDING_PAYMENT: frozenset({CONFIRMED, EXPIRED, CANCELLED}),
    CONFIRMED: frozenset({COMPLETED, CANCELLED, NO_SHOW}),
    COMPLETED: frozenset({NO_SHOW}),  # only a visit completed by itself, corrected by the desk
    # (BookingService.transition refuses it for one the desk completed)
    CANCELLED: frozenset(),
    # Only by payment: a late PAID re-confirms, "Pay again" holds the time again; both take
    # the time back only if it is still free (BookingService.settle_payment / hold_again).
    EXPIRED: frozenset({CONFIRMED, PENDING_PAYMENT}),
    NO_SHOW: frozenset(),
}


def whatsapp_number_of(customer_id: str) -> str:
    """The WhatsApp number a customer id is, or "" for a customer of another channel. Only the
    WhatsApp channel speaks for a phone number, and its customers are the number itself
    (``actions.base.customer_of``); every other channel's are ``<channel>:<id>``."""
    return customer_id if customer_id.isdigit() else ""


@dataclass(frozen=True)
class TimeRange:
    """A local wall-clock range within one day; ``end`` may be 24:00 (``None`` means midnight)."""

    start: time
    end: Optional[time]

    def minutes(self) -> tuple[int, int]:
        """Start and end as minutes after local midnight."""
        end = 24 * 60 if self.end is None else self.end.hour * 60 + self.end.minute
        return self.start.hour * 60 + self.start.minute, end


@dataclass(frozen=True)
class Break:
    """A recurring break on some weekdays (all days when ``days`` is empty)."""

    range: TimeRange
    days: tuple[str, ...] = ()

    def applies_to(self, day: date) -> bool:
        """Whether the break is taken on ``day``."""
        return not self.days or WEEKDAYS[day.weekday()] in self.days


@dataclass(frozen=True)
class PayoutDestination:
    """Where a party's share is paid (Xendit Payouts v2 channel)."""

    channel_code: str
    account_number: str
    account_holder_name: str


@dataclass(frozen=True)
class ReminderPolicy:
    """When a business reminds its customers (catalog ``reminders:``): hours before the
    visit, and the local quiet hours in which nothing is sent (they may wrap midnight)."""

    hours_before: tuple[int, ...] = (24, 2)
    quiet_start: time = time(21, 0)
    quiet_end: time = time(8, 0)


FULL, DEPOSIT, NONE = "full", "deposit", "none"  # what a booking collects up front


@dataclass(frozen=True)
class PaymentPolicy:
    """What a booking pays up front and when a cancellation refunds it (``booking.deposits``)."""

    collect: str = NONE  # FULL, DEPOSIT or NONE
    deposit_percent: Optional[int] = None  # a deposit: this percent of the price...
    deposit_amount: Optional[int] = None  # ...or this amount (IDR), at most the price
    first_time_only: bool = False  # customers with a completed visit pay nothing up front
    cancel_window_hours: Optional[int] = 24  # None: every cancellation refunds in full


@dataclass(frozen=True)
class Business:
    """A service business with its own WhatsApp number."""

    id: str
    name: str
    timezone: str
    phone_number_id: str
    currency: str = "IDR"
    payment_required: bool = False
    monthly_booking_limit: Optional[int] = None
    platform_fee_percent: int = 0
    payout: Optional[PayoutDestination] = None
    language: str = "en"  # what customers are answered in until they write something telling
    reminders: ReminderPolicy = ReminderPolicy()
    review_url: Optional[str] = None  # where a happy customer is asked to leave a review
    payment_policy: Optional[PaymentPolicy] = None  # the catalog's ``payment:`` block

    @property
    def payment(self) -> PaymentPolicy:
        """The business's payment terms; without a ``payment:`` block, ``payment_required``'s:
        the full price, refunded on any cancellation (or nothing up front)."""
        return self.payment_policy or PaymentPolicy(
            FULL if self.payment_required else NONE, cancel_window_hours=None)

    @property
    def tz(self) -> ZoneInfo:
        """The business time zone."""
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class Category:
    """A group of services shown together."""

    id: str
    business_id: str
    name: str
    translations: tuple[tuple[str, str, str], ...] = ()  # (language, name, "")

    def name_in(self, language: str) -> str:
        """The category's name in ``language`` (its own name when it has none)."""
        return _translated(self.translations, language, 1) or self.name


def _translated(translations: tuple[tuple[str, str, str], ...], language: str,
                index: int) -> str:
    """Field ``index`` (1 name, 2 description) of the ``language`` entry; "" when none."""
    return next((t[index] for t in translations if t[0] == language and t[index]), "")


@dataclass(frozen=True)
class Service:
    """A bookable service with its duration, integer IDR price and buffers."""

    id: str
    business_id: str
    category_id: str
    name: str
    duration_minutes: int
    price: int
    buffer_before_minutes: int = 0
    buffer_after_minutes: int = 0
    description: str = ""
    in_villa: bool = False
    aliases: tuple[str, ...] = ()
    translations: tuple[tuple[str, str, str], ...] = ()  # (language, name, description)
    rebook_days: Optional[int] = None  # "book again?" this many days after a visit (None: never)
    payment_policy: Optional[PaymentPolicy] = None  # its own ``payment:`` (None: the business's)

    def name_in(self, language: str) -> str:
        """The service's name in ``language`` (its own name when it has none)."""
        return _translated(self.translations, language, 1) or self.name

    def description_in(self, language: str) -> str:
        """The description in ``language`` (the own one when there is none in it)."""
        return _translated(self.translations, language, 2) or self.description


@dataclass(frozen=True)
class Staff:
    """A staff member: the services they do and when they work."""

    id: str
    business_id: str
    name: str
    service_ids: tuple[str, ...]
    weekly_hours: dict[str, tuple[TimeRange, ...]]
    breaks: tuple[Break, ...] = ()
    days_off: frozenset[date] = frozenset()
    overrides: dict[date, tuple[TimeRange, ...]] = field(default_factory=dict)
    time_off: dict[date, tuple[TimeRange, ...]] = field(default_factory=dict)  # blocked hours


@dataclass(frozen=True)
class Villa:
    """A villa or facility that hosts in-villa treatments and takes a share of the price."""

    id: str
    name: str
    business_ids: tuple[str, ...]
    share_percent: Optional[int] = None
    share_flat: Optional[int] = None
    payout: Optional[PayoutDestination] = None


@dataclass(frozen=True)
class Booking:
    """A booking as stored; instants are UTC."""

    id: Any
    code: str
    business_id: str
    service_id: str
    staff_id: str
    customer_id: str
    customer_name: str
    start: datetime
    end: datetime
    status: str
    price: int
    currency: str
    version: int
    created_at: datetime
    villa_id: Optional[str] = None
    order_id: Optional[str] = None
    notes: str = ""
    payment_attempt: int = 1
    paid_by: Optional[str] = None
    hold_until: Optional[datetime] = None
    occupied_start: Optional[datetime] = None
    occupied_end: Optional[datetime] = None
    arrived_at: Optional[datetime] = None  # the front desk saw the customer arrive
    auto_completed: bool = False  # completed by the scheduler: nobody marked the visit
    from_waitlist: bool = False  # first held as a waiting-list offer (booking.offers)
    amount_due: Optional[int] = None  # paid up front (None: the price; ``booking.deposits``)
    cancel_window_hours: Optional[int] = None  # cancelled later than this before: paid is kept
    payment_kept: bool = False  # cancelled by the customer after the window: not refunded
    free_until: Optional[datetime] = None  # when free cancellation ends (moves keep it honest)

    @property
    def cancel_free_until(self) -> Optional[datetime]:
        """When cancelling stops being free (``None``: never)."""
        if self.free_until is not None or self.cancel_window_hours is None:
            return self.free_until
        return self.start - timedelta(hours=self.cancel_window_hours)  # (stored before moves)

    @property
    def due_now(self) -> int:
        """What is paid online for this booking (the deposit, or the price)."""
        return self.price if self.amount_due is None else self.amount_due

    @property
    def whatsapp_number(self) -> str:
        """The customer's WhatsApp number ("" when they came another way)."""
        return whatsapp_number_of(self.customer_id)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> "Booking":
        """Build a booking from its MongoDB document."""
        return cls(
            id=doc["_id"],
            code=doc["code"],
            business_id=doc["business_id"],
            service_id=doc["service_id"],
            staff_id=doc["staff_id"],
            customer_id=doc["customer_id"],
            customer_name=doc.get("customer_name", ""),
            start=doc["start"],
            end=doc["end"],
            status=doc["status"],
            price=doc["price"],
            currency=doc["currency"],
            version=doc["version"],
            created_at=doc["created_at"],
            villa_id=doc.get("villa_id"),
            order_id=doc.get("order_id"),
            notes=doc.get("notes", ""),
            payment_attempt=doc.get("payment_attempt", 1),
            paid_by=doc.get("paid_by"),
            hold_until=doc.get("hold_until"),
            occupied_start=doc.get("occupied_start"),
            occupied_end=doc.get("occupied_end"),
            arrived_at=doc.get("arrived_at"),
            auto_completed=bool(doc.get("auto_completed")),
            from_waitlist=bool(doc.get("waitlist")),
            amount_due=doc.get("amount_due"),
            cancel_window_hours=doc.get("cancel_window_hours"),
            payment_kept=bool(doc.get("payment_kept")),
            free_until=doc.get("free_until"),
        )
