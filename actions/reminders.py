"""Reminders before a visit, told in the customer's conversation (triggered by the server as
the external intent ``EXTERNAL_reminder`` from ``scheduled_messages``: see
``channels/scheduled.py``), and the customer's "I'll be there" tap (``confirm_visit``).

The reminder offers [Confirm] [Reschedule] [Cancel]; Reschedule and Cancel are the very
payloads the chat's own choices send, so a tap continues as if the customer had asked. Outside
WhatsApp's 24-hour window the channel sends the approved reminder template instead, with the
same three payloads on its quick-reply buttons (``outside_window``)."""
from __future__ import annotations

from typing import List, Text

from rasa_sdk.events import EventType, SlotSet

from actions import present
from actions.base import BookingAction, Turn
from actions.after_visit import ask_feedback, offer_again
from actions.desk_news import server_news
from booking.errors import UnknownEntityError
from booking.models import CONFIRMED
from booking.reminders import FEEDBACK, NUDGE, is_reminder
from booking.scheduler import ScheduledMessages


class ActionReminder(BookingAction):
    """Reminds the customer of their visit, once, with what they can do about it (and, after
    the visit, asks how it was or offers it again: ``actions.after_visit``)."""

    reads_open_question = False  # not an answer to the open question

    def name(self) -> Text:
        return "action_reminder"

    def act(self, turn: Turn) -> List[EventType]:
        queue = ScheduledMessages.of(turn.core)
        found = server_news(turn, queue)
        if isinstance(found, list):
            return found
        message, booking = found
        code = booking.code
        kind = message.get("kind", "")
        if not (is_reminder(kind) or kind in (FEEDBACK, NUDGE)):
            return []
        if queue.still_due(message, booking) or not queue.mark_told(message["_id"]):
            return []  # changed since it was claimed, or told already (a retry)
        if kind == FEEDBACK:
            ask_feedback(turn, booking)
            return []
        if kind == NUDGE:
            offer_again(turn, booking)
            return []
        service = present.service_name(turn.catalog.service(booking.service_id), turn.tx)
        when = turn.tx.moment(booking.start, turn.tz)
        staff = turn.catalog.staff_member(booking.staff_id).name
        buttons = [present.button(turn.t("Confirm"), "confirm_visit", booking_code=code),
                   present.button(turn.t("Reschedule"), "reschedule_booking", booking_code=code),
                   present.button(turn.t("Cancel"), "cancel_booking", booking_code=code)]
        turn.dispatcher.utter_message(
            text=turn.t("Reminder: your {service} at {business} is on {when} with {staff} "
                        "(booking {code}). Will you make it?", service=service,
                        business=turn.business.name, when=when, staff=staff, code=code),
            buttons=buttons, language=turn.language,
            outside_window={"template": "reminder", "parameters": [service, when],
                            "payloads": [b["payload"] for b in buttons]})
        return [SlotSet("booking_code", None)]


def confirm_visit(turn: Turn, code: str) -> List[EventType]:
    """The customer said they will come to booking ``code`` (a Confirm tap, or "yes" to the
    reminder): noted on the reminder for the business, and thanked."""
    try:
        booking = turn.core.get_owned(code, turn.customer_id, turn.business.id)
    except UnknownEntityError:
        booking = None
    if booking is None or booking.status != CONFIRMED or booking.start <= turn.now:
        turn.say(turn.t("That booking is not coming up any more. Here is what I can do:"),
                 present.menu_buttons(turn.tx))
        return [SlotSet("booking_code", None)]
    ScheduledMessages.of(turn.core).answer(code, "confirmed")
    turn.say(turn.t("Thank you! We look forward to seeing you on {when} ✨",
                    when=turn.tx.moment(booking.start, turn.tz)),
             present.menu_buttons(turn.tx))
    return [SlotSet("booking_code", None)]


class ActionConfirmVisit(BookingAction):
    """The customer tapped Confirm on a reminder."""

    def name(self) -> Text:
        return "action_confirm_visit"

    def act(self, turn: Turn) -> List[EventType]:
        return confirm_visit(turn, (turn.entity("booking_code") or "").upper())
