"""A customer's own bookings: list, cancel (with confirmation) and reschedule."""
from __future__ import annotations

from typing import List, Optional, Text

from rasa_sdk.events import EventType, SlotSet

from actions import present
from actions.base import BookingAction, Turn, reset_booking
from actions.booking_flow import ActionBookStep
from booking.errors import InvalidTransitionError, UnknownEntityError
from booking.i18n import N_
from booking.models import CANCELLED, COMPLETED, CONFIRMED, EXPIRED, NO_SHOW, Booking

_NOT_CANCELLABLE = {
    CANCELLED: N_("Booking {code} is already cancelled."),
    COMPLETED: N_("Booking {code} is already over, so it can't be cancelled."),
    NO_SHOW: N_("Booking {code} is already over, so it can't be cancelled."),
    EXPIRED: N_("Booking {code} is no longer held for you, so there is nothing to cancel."),
    CONFIRMED: N_("Booking {code} can't be cancelled any more."),
}
_CANNOT_CANCEL = N_("Booking {code} can't be cancelled any more.")


def describe(turn: Turn, booking: Booking) -> str:
    """Code, service, local time, staff and price of one booking."""
    service = turn.catalog.service(booking.service_id)
    staff = turn.catalog.staff_member(booking.staff_id)
    text = present.booking_summary(booking, service, staff.name, turn.tz, turn.tx)
    if booking.status == "PENDING_PAYMENT":
        text += " " + turn.t("(waiting for payment)")
    return text


def pick_booking(turn: Turn, question: str, intent: str,
                 awaiting: str) -> tuple[Optional[Booking], list[EventType]]:
    """The booking the customer means: by code, the only one, or ask which (buttons)."""
    upcoming = turn.core.upcoming(turn.customer_id, turn.business.id)
    code = (turn.entity("booking_code") or turn.slot("booking_code") or "").upper()
    if code:
        match = next((b for b in upcoming if b.code == code), None)
        if match is not None:
            return match, []
        turn.say(turn.t("I couldn't find an upcoming booking {code} for you.", code=code))
    if not upcoming:
        turn.say(turn.t("You have no upcoming bookings."),
                 [present.button(turn.t("Book a treatment"), "book_service")])
        return None, [SlotSet("booking_code", None), SlotSet("awaiting", None)]
    if len(upcoming) == 1 and not code:
        return upcoming[0], []
    turn.say(turn.t(question), [present.button(title, intent, booking_code=b.code)
                                for b, title in zip(upcoming, pick_titles(upcoming[:10], turn))])
    return None, [SlotSet("booking_code", None), SlotSet("awaiting", awaiting)]


def pick_titles(bookings: list, turn: Turn) -> list[str]:
    """A button title per booking that fits a reply button (20 characters): its moment ("Wed
    25 Nov, 10:00"); with the code and the time ("BK123456 10:00") where two share a moment."""
    moments = [turn.tx.moment(b.start, turn.tz) for b in bookings]
    return [m if moments.count(m) == 1 else f"{b.code} {turn.tx.clock(b.start, turn.tz)}"
            for b, m in zip(bookings, moments)]


class ActionMyBookings(BookingAction):
    """Lists upcoming bookings."""

    reads_open_question = False  # not an answer to the open question

    def name(self) -> Text:
        return "action_my_bookings"

    def act(self, turn: Turn) -> List[EventType]:
        upcoming = turn.core.upcoming(turn.customer_id, turn.business.id)
        if not upcoming:
            turn.say(turn.t("You have no upcoming bookings."),
                     [present.button(turn.t("Book a treatment"), "book_service")])
            return []
        heading = (turn.t("Your upcoming booking:") if len(upcoming) == 1
                   else turn.t("Your upcoming bookings:"))
        turn.say(heading + "\n\n" + "\n\n".join(describe(turn, b) for b in upcoming), [
            present.button(turn.t("Reschedule"), "reschedule_booking"),
            present.button(turn.t("Cancel a booking"), "cancel_booking"),
            present.button(turn.t("Book another"), "book_service")])
        return []


class ActionCancelStep(BookingAction):
    """Finds the booking to cancel and asks for confirmation."""

    def name(self) -> Text:
        return "action_cancel_step"

    def act(self, turn: Turn) -> List[EventType]:
        booking, events = pick_booking(turn, N_("Which booking would you like to cancel?"),
                                       "cancel_booking", "which_cancel")
        if booking is None:
            return events
        return ask_to_cancel(turn, booking)


def money_if_cancelled(turn: Turn, booking: Booking) -> str:
    """What happens to what the customer paid if they cancel now ("" when they paid nothing)."""
    if not booking.paid_by:
        return ""
    paid = turn.tx.money(booking.due_now)
    if turn.core.keeps_payment(booking):
        return turn.t("Free cancellation ended at {when}, so the {amount} you paid would be "
                      "kept.", amount=paid, when=turn.tx.moment(booking.cancel_free_until,
                                                                turn.tz))
    return turn.t("The {amount} you paid would be refunded.", amount=paid)


def ask_to_cancel(turn: Turn, booking: Booking) -> List[EventType]:
    """Cancel this booking? With what happens to the money, before they decide."""
    text = turn.t("Cancel this booking?") + f"\n{describe(turn, booking)}"
    money = money_if_cancelled(turn, booking)
    turn.say(text + (f"\n{money}" if money else ""), [
        present.button(turn.t("Yes, cancel it"), "confirm_cancel", booking_code=booking.code),
        present.button(turn.t("No, keep it"), "deny")])
    return [SlotSet("booking_code", booking.code), SlotSet("awaiting", "confirm_cancel")]


def promised_refund(turn: Turn, booking: Booking) -> bool:
    """Whether the bot's last message, the question the customer answers, said that what they
    paid for ``booking`` would be refunded."""
    promise = turn.t("The {amount} you paid would be refunded.",
                     amount=turn.tx.money(booking.due_now))
    for event in reversed(turn.tracker.events):
        if event.get("event") == "bot":
            return promise in (event.get("text") or "")
    return False


class ActionConfirmCancel(BookingAction):
    """Cancels the booking the customer confirmed."""

    def name(self) -> Text:
        return "action_confirm_cancel"

    def act(self, turn: Turn) -> List[EventType]:
        code = (turn.entity("booking_code") or turn.slot("booking_code") or "").upper()
        if not code:
            turn.say(turn.t("Which booking? Type its code, e.g. BK123456."))
            return [SlotSet("awaiting", "which_cancel")]
        try:
            before = turn.core.get_owned(code, turn.customer_id, turn.business.id)
            if turn.core.keeps_payment(before) and promised_refund(turn, before):
                return ask_to_cancel(turn, before)  # free cancellation ended since they asked
            booking = turn.core.cancel(code, customer_id=turn.customer_id,
                                       business_id=turn.business.id)
        except UnknownEntityError:
            turn.say(turn.t("I couldn't find a booking {code} for you.", code=code))
            return [SlotSet("booking_code", None), SlotSet("awaiting", None)]
        except InvalidTransitionError as exc:
            turn.say(turn.t(_NOT_CANCELLABLE.get(exc.current or "", _CANNOT_CANCEL), code=code))
            return [SlotSet("booking_code", None), SlotSet("awaiting", None)]
        refund = turn.payments.after_cancel(booking)
        if booking.payment_kept:
            text = turn.t("Booking {code} is cancelled. As free cancellation had ended, the "
                          "{amount} you paid is kept. Hope to see you another time 🌺",
                          code=booking.code, amount=turn.tx.money(booking.due_now))
        elif refund:
            text = turn.t("Booking {code} is cancelled. Your payment of {amount} will be "
                          "refunded. Hope to see you another time 🌺", code=booking.code,
                          amount=turn.tx.money(refund))
        else:
            text = turn.t("Booking {code} is cancelled. Hope to see you another time 🌺",
                          code=booking.code)
        turn.say(text, [present.button(turn.t("Book another time"), "book_service")])
        return [SlotSet("booking_code", None), SlotSet("awaiting", None)]


def keep_booking(turn: Turn) -> List[EventType]:
    """"No" to cancelling: nothing changes."""
    code = turn.slot("booking_code")
    turn.say(turn.t("OK, booking {code} stays as it is.", code=code) if code
             else turn.t("OK, nothing changed."))
    return [SlotSet("booking_code", None), SlotSet("awaiting", None)]


class ActionRescheduleStep(BookingAction):
    """Finds the booking to move, then continues with the day and time steps."""

    def name(self) -> Text:
        return "action_reschedule_step"

    def act(self, turn: Turn) -> List[EventType]:
        booking, events = pick_booking(turn, N_("Which booking would you like to reschedule?"),
                                       "reschedule_booking", "which_reschedule")
        if booking is None:
            return events
        cleared = {e["name"]: None for e in reset_booking()}
        events = turn.set(**cleared) + turn.set(
            flow="reschedule", booking_code=booking.code, service=booking.service_id)
        # anyone's times (no therapist named): the core keeps the same one when free, and the
        # "moved" message says who it is
        return events + ActionBookStep().act(turn)  # straight on to the new day and time
