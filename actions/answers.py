"""What "yes", "no" or a typed answer means depends on what the bot just asked (the
``awaiting`` slot). Each table below is the whole answer to that question."""
from __future__ import annotations

from typing import Callable, List, Text

from rasa_sdk.events import EventType

from actions.base import BookingAction, Turn, show_menu
from actions.booking_flow import ActionBookStep, ActionConfirmBooking, decline_booking
from actions.manage import ActionCancelStep, ActionConfirmCancel, ActionRescheduleStep, keep_booking

Handler = Callable[[Turn], List[EventType]]


ON_YES: dict[str, Handler] = {
    "confirm_booking": ActionConfirmBooking().act,
    "confirm_cancel": ActionConfirmCancel().act,
}
ON_NO: dict[str, Handler] = {
    "confirm_booking": decline_booking,
    "confirm_cancel": keep_booking,
}
ON_ANSWER: dict[str, Handler] = {
    "which_cancel": ActionCancelStep().act,
    "which_reschedule": ActionRescheduleStep().act,
}


def yes_to_the_offer(turn: Turn) -> List[EventType]:
    """"Yes" right after a message that offered one thing to do: "the payment link has expired
    [Pay again] [Pick another time]" pays again; a reminder's "Will you make it? [Confirm]..."
    confirms the visit; anything else shows the menu."""
    from actions.open_question import offered
    from actions.payment import ActionPayAgain
    from actions.reminders import confirm_visit

    codes = offered(turn, "pay_again", "booking_code", last_only=True)
    if len(codes) == 1:
        return ActionPayAgain.pay(turn, codes[0].upper())
    visits = offered(turn, "confirm_visit", "booking_code", last_only=True)
    if len(visits) == 1:
        return confirm_visit(turn, visits[0].upper())
    held = offered(turn, "accept_offer", "booking_code", last_only=True)
    if len(held) == 1:  # a freed time held for them (the waiting list)
        from actions.waitlist import accept_offer

        return accept_offer(turn, held[0].upper())
    return show_menu(turn)


def no_to_the_offer(turn: Turn) -> List[EventType]:
    """"No" right after the waiting list's offer of a freed time lets it go to the next person;
    anything else shows the menu."""
    from actions.open_question import offered
    from actions.waitlist import decline_offer

    held = offered(turn, "decline_offer", "booking_code", last_only=True)
    if len(held) == 1:
        return decline_offer(turn, held[0].upper())
    return show_menu(turn)


class ActionYes(BookingAction):
    """"Yes": confirms what is awaiting confirmation, else takes up the offer just made."""

    def name(self) -> Text:
        return "action_yes"

    def act(self, turn: Turn) -> List[EventType]:
        return ON_YES.get(turn.slot("awaiting") or "", yes_to_the_offer)(turn)


class ActionNo(BookingAction):
    """"No": declines what is awaiting confirmation, else the offer just made (the menu)."""

    def name(self) -> Text:
        return "action_no"

    def act(self, turn: Turn) -> List[EventType]:
        return ON_NO.get(turn.slot("awaiting") or "", no_to_the_offer)(turn)


class ActionContinue(BookingAction):
    """A typed answer (a code, a day, a time, a treatment) continues the open question."""

    def name(self) -> Text:
        return "action_continue"

    def act(self, turn: Turn) -> List[EventType]:
        return ON_ANSWER.get(turn.slot("awaiting") or "", ActionBookStep().act)(turn)
