"""The waiting list in the chat: [Tell me if something opens] when a day has no free time, the
offer of a freed time (triggered by the server as the external intent
``EXTERNAL_waitlist_offer``: see ``channels/waitlist.py``), and its [Confirm] / [No thanks].

Who joins, accepts or declines is the conversation's own customer (``Turn.customer_id``); a
payload names only what they wait for or which offer, and the core checks the offer is theirs
at this business (``booking.waitlist``)."""
from __future__ import annotations

from datetime import date
from typing import List, Optional, Text

from rasa_sdk.events import EventType, SlotSet

from actions import present
from actions.base import BookingAction, Turn
from actions.booking_flow import limit_reached, plan_limit_reached, tell_booked
from actions.desk_news import server_news
from booking import deposits
from booking.errors import (CustomerLimitError, InvalidTransitionError, PlanLimitReachedError,
                            UnknownEntityError, ValidationError)
from booking.models import whatsapp_number_of
from booking.settings import Settings
from booking.waitlist import Waitlist, Wish, still_offered


def _wished_day(turn: Turn) -> Optional[date]:
    try:
        return date.fromisoformat(str(turn.entity("date") or turn.slot("date") or ""))
    except ValueError:
        return None


class ActionJoinWaitlist(BookingAction):
    """Puts the customer on the waiting list for a service on a day."""

    def name(self) -> Text:
        return "action_join_waitlist"

    def act(self, turn: Turn) -> List[EventType]:
        service = turn.catalog.find_service(turn.business.id,
                                            turn.entity("service") or turn.slot("service") or "")
        day = _wished_day(turn)
        today = turn.now.astimezone(turn.tz).date()
        if (service is None or day is None or day < today
                or day > (turn.now + turn.core.rules.horizon).astimezone(turn.tz).date()):
            turn.say(turn.t("Let's choose a treatment and a day first."),
                     present.menu_buttons(turn.tx))
            return []
        same = turn.slot("service") == service.id and turn.slot("date") == day.isoformat()
        wish = Wish(turn.business.id, turn.customer_id, service.id, day,
                    staff_id=turn.slot("staff") if same else None,
                    part_of_day=turn.slot("part_of_day") if same else None,
                    villa_id=(turn.slot("villa") if same else None) if service.in_villa else None,
                    customer_name=turn.customer_name, order_id=turn.slot("order_id"))
        name, when = present.service_name(service, turn.tx), turn.tx.day(day)
        waitlist = Waitlist(turn.core)
        if not whatsapp_number_of(turn.customer_id):  # the server can reach them first only there
            turn.say(turn.t("I can tell you when a time opens up only on WhatsApp. Here is what "
                            "I can do:"), present.menu_buttons(turn.tx))
            return []
        free = waitlist.free_for(wish)
        if free:  # a time freed up meanwhile (or the payload was typed): show it, hold nothing
            turn.say(turn.t("Good news: there are free times for {service} on {day}:",
                            service=name, day=when),
                     present.slot_buttons([s.start for s in free], turn.tz, 0, turn.tx))
            return [SlotSet("service", service.id), SlotSet("date", day.isoformat()),
                    SlotSet("awaiting", "slot")]
        conversation = turn.conversation
        try:
            _, new = waitlist.join(wish, {
                "sender_id": conversation.sender_id, "channel": conversation.channel,
                "business_id": conversation.business_id,
                "phone_number_id": conversation.phone_number_id})
        except CustomerLimitError as exc:
            turn.say(turn.t("You are already waiting for {limit} days, the most we keep. "
                            "Type \"talk to a human\" and our team will help.", limit=exc.limit))
            return []
        except ValidationError:
            turn.say(turn.t("Let's choose a treatment and a day first."),
                     present.menu_buttons(turn.tx))
            return []
        if not new:
            turn.say(turn.t("You are already on the waiting list for {service} on {day}.",
                            service=name, day=when), present.menu_buttons(turn.tx))
            return []
        turn.say(turn.t("Done: if a time for {service} opens up on {day}, I'll message you "
                        "here and hold it for you for {minutes} minutes.", service=name,
                        day=when, minutes=Settings.from_env().waitlist_hold_minutes),
                 present.menu_buttons(turn.tx))
        return []


class ActionWaitlistOffer(BookingAction):
    """Tells a waiting customer that a time opened up and is held for them."""

    reads_open_question = False  # not an answer to the open question

    def name(self) -> Text:
        return "action_waitlist_offer"

    def act(self, turn: Turn) -> List[EventType]:
        waitlist = Waitlist(turn.core)
        found = server_news(turn, waitlist.offers)
        if isinstance(found, list):
            return found
        notice, booking = found
        if not still_offered(booking, turn.now) or not waitlist.offers.mark_told(notice["_id"]):
            return []  # answered or over since it was claimed, or told already (a retry)
        service = present.service_name(turn.catalog.service(booking.service_id), turn.tx)
        when = turn.tx.moment(booking.start, turn.tz)
        until = turn.tx.clock(booking.hold_until, turn.tz)
        staff = turn.catalog.staff_member(booking.staff_id).name
        service_obj = turn.catalog.service(booking.service_id)
        deal = turn.core.terms(service_obj, turn.customer_id)
        terms = "".join("\n" + line for line in deposits.describe(
            deal, deal.free_until(booking.start), turn.tz, turn.tx, turn.now))
        buttons = [present.button(turn.t("Confirm"), "accept_offer", booking_code=booking.code),
                   present.button(turn.t("No thanks"), "decline_offer",
                                  booking_code=booking.code)]
        turn.dispatcher.utter_message(
            text=turn.t("Good news: {service} on {when} with {staff} has opened up. I'm holding "
                        "it for you until {until}. Would you like it?", service=service,
                        when=when, staff=staff, until=until) + terms,
            buttons=buttons, language=turn.language,
            outside_window={"template": "waitlist", "parameters": [service, when, until],
                            "payloads": [b["payload"] for b in buttons]})
        return []


def _gone(turn: Turn) -> List[EventType]:
    turn.say(turn.t("Sorry, that time is no longer held for you: it has gone to the next "
                    "person on the list."), present.menu_buttons(turn.tx))
    return [SlotSet("booking_code", None)]


def accept_offer(turn: Turn, code: str) -> List[EventType]:
    """The customer takes the time held for them (a Confirm tap, or "yes" to the offer):
    booked, and the payment link if the business takes payment first."""
    try:
        booking = Waitlist(turn.core).accept(code, turn.customer_id, turn.business.id)
    except (UnknownEntityError, InvalidTransitionError):
        return _gone(turn)
    except CustomerLimitError as exc:
        turn.say(limit_reached(turn, exc), [present.button(turn.t("My bookings"), "my_bookings")])
        return []
    except PlanLimitReachedError:
        plan_limit_reached(turn)
        return []
    tell_booked(turn, booking, turn.t("Booked ✅"), deposits.describe(
        deposits.terms_of(booking), booking.cancel_free_until, turn.tz, turn.tx, turn.now))
    return [SlotSet("booking_code", None)]


def decline_offer(turn: Turn, code: str) -> List[EventType]:
    """The customer does not want the time offered (No thanks, or "no" to the offer): it goes
    to the next person."""
    if not Waitlist(turn.core).decline(code, turn.customer_id, turn.business.id):
        turn.say(turn.t("That offer has already ended. Here is what I can do:"),
                 present.menu_buttons(turn.tx))
        return [SlotSet("booking_code", None)]
    turn.say(turn.t("No problem, I've let it go to the next person on the list."),
             present.menu_buttons(turn.tx))
    return [SlotSet("booking_code", None)]


class ActionAcceptOffer(BookingAction):
    """A Confirm tap on an offer."""

    def name(self) -> Text:
        return "action_accept_offer"

    def act(self, turn: Turn) -> List[EventType]:
        return accept_offer(turn, (turn.entity("booking_code") or "").upper())


class ActionDeclineOffer(BookingAction):
    """A No thanks tap on an offer."""

    def name(self) -> Text:
        return "action_decline_offer"

    def act(self, turn: Turn) -> List[EventType]:
        return decline_offer(turn, (turn.entity("booking_code") or "").upper())
