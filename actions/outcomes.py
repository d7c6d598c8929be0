"""What a customer is told when a booking is made or cannot be: the booking as made with its
payment link, and why a time or a booking cannot be had (shared by the booking flow, the
waiting list and payments)."""
from __future__ import annotations

from typing import Sequence

from actions import present
from actions.base import Turn
from booking.errors import (CustomerLimitError, OffGridError, OutsideWorkingHoursError,
                            TooFarError, TooSoonError, ValidationError)
from booking.models import PENDING_PAYMENT, Booking
from booking.payments import Payment


def tell_booked(turn: Turn, booking: Booking, heading: str, extra: Sequence[str] = ()) -> None:
    """The booking as made (``heading``, its summary and ``extra`` lines), then the payment
    link when it waits for payment."""
    service = turn.catalog.service(booking.service_id)
    staff = turn.catalog.staff_member(booking.staff_id)
    villa = turn.catalog.villa(booking.villa_id).name if booking.villa_id else None
    summary = present.booking_summary(booking, service, staff.name, turn.tz, turn.tx, villa)
    turn.say("\n".join([heading, summary, *extra]))
    if booking.status == PENDING_PAYMENT:
        send_payment_request(turn, turn.payments.request_payment(booking, turn.conversation))


def plan_limit_reached(turn: Turn) -> None:
    """The business's plan has no online booking left this month."""
    turn.say(turn.t("Sorry, we can't take more online bookings this month. Type \"talk to a "
                    "human\" and our team will find you a time."))


def limit_reached(turn: Turn, exc: CustomerLimitError) -> str:
    """What a customer at one of their limits is told (SECURITY.md, "Abuse limits")."""
    if exc.kind == "unpaid_holds":
        return turn.t("You already have {limit} bookings waiting for payment. Please pay or "
                      "cancel one of them before booking another.", limit=exc.limit)
    if exc.kind == "payment_attempts":
        return turn.t("This booking has had {limit} payment links already, so I can't hold its "
                      "time again. You're welcome to book a new time.", limit=exc.limit)
    return turn.t("You already have {limit} upcoming bookings with us, the most we take "
                  "online. Type \"talk to a human\" and our team will help with more.",
                  limit=exc.limit)


def cannot_book(turn: Turn, exc: ValidationError) -> str:
    """Why a time cannot be booked, in whole sentences of the customer's language."""
    if isinstance(exc, TooSoonError):
        return turn.t("Sorry, that time is too soon to book.")
    if isinstance(exc, TooFarError):
        return turn.t("Sorry, that is further ahead than we take bookings.")
    if isinstance(exc, OffGridError):
        return turn.t("Sorry, bookings start every {minutes} minutes.",
                      minutes=exc.slot_minutes)
    if isinstance(exc, OutsideWorkingHoursError):
        return turn.t("Sorry, nobody does that treatment at that time.")
    return turn.t("Sorry, I can't book that time.")


def send_payment_request(turn: Turn, payment: Payment) -> None:
    """The amount, until when the time is held, and the "Pay now" link."""
    for message in present.pay_messages(payment, turn.tz,
                                        turn.payments.settings.invoice_duration_minutes,
                                        turn.tx, whatsapp=turn.channel == "whatsapp"):
        turn.dispatcher.utter_message(**message)
