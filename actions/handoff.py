"""Handing a customer to a person and back: the request, the automatic flags (two fallbacks in
a row, a technical failure), and the bot's return. States: ``booking.conversations``."""
from __future__ import annotations

import logging
from datetime import timedelta
from typing import List, Optional, Text

from rasa_sdk import Tracker
from rasa_sdk.events import EventType

from booking import metrics
from actions import present
from actions.base import BookingAction, Turn, channel_facts, show_menu
from booking.availability import opening_hours
from booking.conversations import ASKED, TO_STAFF_INTENT, Conversations
from booking.i18n import N_

logger = logging.getLogger(__name__)
KEPT = N_("I'll keep your booking details, so nothing you've told me is lost.")


def when_staff_answer(turn: Turn) -> str:
    """When the team usually answers, from the staff's hours in the catalog."""
    staff = [s for s in turn.catalog.staff.values() if s.business_id == turn.business.id]
    local = turn.now.astimezone(turn.tz)
    for ahead in range(8):
        day = local.date() + timedelta(days=ahead)
        hours = opening_hours(staff, day, turn.tz)
        if hours is None or hours[1] <= turn.now:
            continue
        start, end = (turn.tx.clock(moment, turn.tz) for moment in hours)
        if hours[0] <= turn.now:
            return turn.t("They're in until {time} today and usually answer within the hour.",
                          time=end)
        if ahead == 0:
            return turn.t("They start at {time} today and will answer then.", time=start)
        if ahead == 1:
            return turn.t("They're back tomorrow at {time} and will answer then.", time=start)
        return turn.t("They're back on {day} at {time} and will answer then.",
                      day=turn.tx.weekday(day), time=start)
    return turn.t("They'll answer as soon as they can.")


def flag(turn: Turn, reason: str) -> None:
    """Put the customer in the business's inbox as waiting for a person."""
    facts = channel_facts(turn.tracker)
    Conversations(turn.core.db, turn.core.clock).flag(
        turn.business.id, turn.customer_id, reason, channel=turn.channel or "local",
        phone_number_id=str(facts.get("phone_number_id") or ""),
        customer_name=turn.customer_name)
    metrics.HANDOFFS.labels(reason).inc()  # (asked again while waiting: counted again)


def previous_action(tracker: Tracker) -> Optional[str]:
    """The bot's last action before the customer's latest message (None at the start)."""
    seen_user = False
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            if seen_user:
                continue
            seen_user = True
        elif seen_user and event.get("event") == "action" and event.get("name") not in (
                "action_listen", None):
            return event["name"]
    return None


def with_a_person(tracker: Tracker) -> bool:
    """Whether the conversation went to a person in the events the bot still sees (the
    customer asked, or wrote while a person had the chat)."""
    for event in tracker.events:
        if event.get("event") == "action" and event.get("name") == "action_handoff":
            return True
        if event.get("event") == "user" and ((event.get("parse_data") or {}).get(
                "intent") or {}).get("name") == TO_STAFF_INTENT:
            return True
    return False


class ActionHandoff(BookingAction):
    """The customer asked for a person: waiting in the business's inbox, and told when the
    team answers."""

    reads_open_question = False  # not an answer to the open question

    def name(self) -> Text:
        return "action_handoff"

    def act(self, turn: Turn) -> List[EventType]:
        from actions.open_question import details_first  # (it uses actions)

        answered = details_first(turn)  # "tell me more about it" asks the bot, not a person
        if answered is not None:
            return answered
        flag(turn, ASKED)
        turn.say(turn.t("I've asked the {business} team to reply to you here.",
                        business=turn.business.name)
                 + f" {when_staff_answer(turn)} {turn.t(KEPT)}")
        return []


class ActionHandback(BookingAction):
    """A person handed the conversation back: the bot says so and shows the menu."""

    reads_open_question = False  # not an answer to the open question

    def name(self) -> Text:
        return "action_handback"

    def act(self, turn: Turn) -> List[EventType]:
        turn.say(turn.t("I'm back to help you again. Our team is still here if you need them."))
        service = turn.catalog.services.get(turn.slot("service") or "")
        if service is not None and service.business_id == turn.business.id:
            turn.say(turn.t("You were booking a {service}: I still have what you told me.",
                            service=present.service_name(service, turn.tx)),
                     [present.button(turn.t("Carry on booking"), "book_service",
                                     service=service.id),
                      *present.menu_buttons(turn.tx)[1:]])
            return []
        return show_menu(turn)


def handoff_note(turn: Turn, reason: str) -> str:
    """Flag the customer for a person (after a fallback, a failure) and the sentence that
    says so; '' when the flag could not be written."""
    try:
        flag(turn, reason)
    except Exception:  # never stop the answer for it
        logger.exception("could not flag the conversation for a person (%s)", reason)
        return ""
    return turn.t("I've also asked the {business} team to look at this and reply here.",
                  business=turn.business.name)
