"""A customer's own bookings: list, cancel (with confirmation) and reschedule."""
from __future__ import annotations

from typing import List, Optional, Text

from rasa_sdk.events import EventType, SlotSet

from actions import present
from actions.base import BookingAction, Turn, reset_booking
from actions.booking_flow import ActionBookStep
from booking.errors import InvalidTransitionError, UnknownEntityError
from booking.models import Booking


def describe(turn: Turn, booking: Booking) -> str:
    """Code, service, local time, staff and price of one booking."""
    service = turn.catalog.service(booking.service_id)
    staff = turn.catalog.staff_member(booking.staff_id)
    text = present.booking_summary(booking, service, staff.name, turn.tz)
    if booking.status == "PENDING_PAYMENT":
        text += " (waiting for payment)"
    return text


def pick_booking(turn: Turn, verb: str, intent: str, awaiting: str) -> tuple[Optional[Booking],
                                                                             list[EventType]]:
    """The booking the customer means: by code, the only one, or ask which (buttons)."""
    upcoming = turn.core.upcoming(turn.customer_id, turn.business.id)
    code = (turn.entity("booking_code") or turn.slot("booking_code") or "").upper()
    if code:
        match = next((b for b in upcoming if b.code == code), None)
        if match is not None:
            return match, []
        turn.say(f"I couldn't find an upcoming booking {code} for you.")
    if not upcoming:
        turn.say("You have no upcoming bookings.", [present.button("Book a treatment",
                                                                    "book_service")])
        return None, [SlotSet("booking_code", None), SlotSet("awaiting", None)]
    if len(upcoming) == 1 and not code:
        return upcoming[0], []
    turn.say(f"Which booking would you like to {verb}?", [
        present.button(f"{b.code} {present.local_time(b.start, turn.tz)}", intent,
                       booking_code=b.code) for b in upcoming[:10]])
    return None, [SlotSet("booking_code", None), SlotSet("awaiting", awaiting)]


class ActionMyBookings(BookingAction):
    """Lists upcoming bookings."""

    reads_open_question = False  # not an answer to the open question

    def name(self) -> Text:
        return "action_my_bookings"

    def act(self, turn: Turn) -> List[EventType]:
        upcoming = turn.core.upcoming(turn.customer_id, turn.business.id)
        if not upcoming:
            turn.say("You have no upcoming bookings.",
                     [present.button("Book a treatment", "book_service")])
            return []
        heading = "Your upcoming booking:" if len(upcoming) == 1 else "Your upcoming bookings:"
        turn.say(heading + "\n\n" + "\n\n".join(describe(turn, b) for b in upcoming), [
            present.button("Reschedule", "reschedule_booking"),
            present.button("Cancel a booking", "cancel_booking"),
            present.button("Book another", "book_service")])
        return []


class ActionCancelStep(BookingAction):
    """Finds the booking to cancel and asks for confirmation."""

    def name(self) -> Text:
        return "action_cancel_step"

    def act(self, turn: Turn) -> List[EventType]:
        booking, events = pick_booking(turn, "cancel", "cancel_booking", "which_cancel")
        if booking is None:
            return events
        turn.say(f"Cancel this booking?\n{describe(turn, booking)}", [
            present.button("Yes, cancel it", "confirm_cancel", booking_code=booking.code),
            present.button("No, keep it", "deny")])
        return [SlotSet("booking_code", booking.code), SlotSet("awaiting", "confirm_cancel")]


class ActionConfirmCancel(BookingAction):
    """Cancels the booking the customer confirmed."""

    def name(self) -> Text:
        return "action_confirm_cancel"

    def act(self, turn: Turn) -> List[EventType]:
        code = (turn.entity("booking_code") or turn.slot("booking_code") or "").upper()
        if not code:
            turn.say("Which booking? Type its code, e.g. BK123456.")
            return [SlotSet("awaiting", "which_cancel")]
        try:
            booking = turn.core.cancel(code, customer_id=turn.customer_id,
                                       business_id=turn.business.id)
        except UnknownEntityError:
            turn.say(f"I couldn't find a booking {code} for you.")
            return [SlotSet("booking_code", None), SlotSet("awaiting", None)]
        except InvalidTransitionError as exc:
            turn.say(f"Booking {code} can't be cancelled any more (it is {exc.current}).")
            return [SlotSet("booking_code", None), SlotSet("awaiting", None)]
        refund = turn.payments.after_cancel(booking)
        text = f"Booking {booking.code} is cancelled."
        if refund:
            text += f" Your payment of {present.rupiah(refund)} will be refunded."
        turn.say(text + " Hope to see you another time 🌺",
                 [present.button("Book another time", "book_service")])
        return [SlotSet("booking_code", None), SlotSet("awaiting", None)]


def keep_booking(turn: Turn) -> List[EventType]:
    """"No" to cancelling: nothing changes."""
    code = turn.slot("booking_code")
    turn.say(f"OK, booking {code} stays as it is." if code else "OK, nothing changed.")
    return [SlotSet("booking_code", None), SlotSet("awaiting", None)]


class ActionRescheduleStep(BookingAction):
    """Finds the booking to move, then continues with the day and time steps."""

    def name(self) -> Text:
        return "action_reschedule_step"

    def act(self, turn: Turn) -> List[EventType]:
        booking, events = pick_booking(turn, "reschedule", "reschedule_booking",
                                       "which_reschedule")
        if booking is None:
            return events
        cleared = {e["name"]: None for e in reset_booking()}
        events = turn.set(**cleared) + turn.set(
            flow="reschedule", booking_code=booking.code, service=booking.service_id)
        # anyone's times (no therapist named): the core keeps the same one when free, and the
        # "moved" message says who it is
        return events + ActionBookStep().act(turn)  # straight on to the new day and time
