"""Answers from the catalog (services, prices), the menu, out of scope, fallback, session start."""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from booking import metrics
from actions import present
from actions.base import BookingAction, Turn, show_menu
from actions.handoff import handoff_note, previous_action, with_a_person
from booking.conversations import FALLBACKS

CARRIED_OVER = ("customer_name", "language", "language_chosen")
ORDER_DETAILS = ("service", "staff", "people", "villa", "date", "part_of_day")


def price_list(turn: Turn) -> str:
    """Every service of the business by category, with duration and price."""
    blocks = []
    for category in turn.catalog.categories_of(turn.business.id):
        services = [s for s in turn.catalog.services_of(turn.business.id)
                    if s.category_id == category.id]
        blocks.append(category.name_in(turn.language) + "\n" + "\n".join(
            f"• {present.service_line(s, turn.tx)}" for s in services))
    return "\n\n".join(blocks)


class ActionListServices(BookingAction):
    """What the business offers, with prices, as text and tappable choices."""

    reads_open_question = False  # not an answer to the open question
    digression = True

    def name(self) -> Text:
        return "action_list_services"

    def act(self, turn: Turn) -> List[EventType]:
        services = turn.catalog.services_of(turn.business.id)
        turn.say(turn.t("At {business} we offer:\n\n{services}\n\nTap one to book it.",
                        business=turn.business.name, services=price_list(turn)),
                 present.service_buttons(services[:10], turn.tx))
        return []


class ActionShowPrice(BookingAction):
    """The price of one service, or the price list."""

    reads_open_question = False  # not an answer to the open question
    digression = True

    def name(self) -> Text:
        return "action_show_price"

    def act(self, turn: Turn) -> List[EventType]:
        service = turn.catalog.find_service(turn.business.id,
                                            turn.entity("service") or turn.slot("service") or "")
        if service is None:
            turn.say(turn.t("Our prices:\n\n{services}", services=price_list(turn)),
                     present.service_buttons(turn.catalog.services_of(turn.business.id)[:10],
                                             turn.tx))
            return []
        turn.say(turn.t("{service} ({minutes} min) is {price}.",
                        service=present.service_name(service, turn.tx),
                        minutes=service.duration_minutes, price=turn.tx.money(service.price)),
                 [present.button(turn.t("Book it"), "book_service", service=service.id)])
        return [SlotSet("service", service.id)]


class ActionFallback(BookingAction):
    """Low confidence: ask to rephrase and offer the main menu."""

    def name(self) -> Text:
        return "action_fallback"

    def act(self, turn: Turn) -> List[EventType]:
        metrics.FALLBACKS.inc()
        mentioned, _ = turn.catalog.mentioned_service(turn.business.id, turn.text)
        if mentioned is not None and not turn.text.startswith("/"):
            turn.say(turn.t("{service}. Shall I book it?",
                            service=present.service_line(mentioned, turn.tx)),
                     [present.button(turn.t("Book it"), "book_service", service=mentioned.id),
                      *present.menu_buttons(turn.tx)[1:]])
            return []
        note = ""
        if previous_action(turn.tracker) == "action_fallback":  # two in a row: a person helps
            note = handoff_note(turn, FALLBACKS)
        if note:
            turn.say(turn.t("Sorry, I still didn't get that.") + " " + note + " "
                     + turn.t("Meanwhile you can choose:"), present.menu_buttons(turn.tx))
            return []
        turn.say(turn.t("Sorry, I didn't quite get that. Could you say it another way? For "
                        "example \"balinese massage tomorrow at 3pm\" or \"my bookings\". Or "
                        "choose:"), present.menu_buttons(turn.tx))
        return []


class ActionOutOfScope(BookingAction):
    """Something the assistant does not do ("what's the weather?"): it says what it does, then
    asks the open question again in a booking, or shows the menu. Asked what a treatment
    includes (which the NLU may take for out of scope), it answers that instead."""

    reads_open_question = False  # not an answer to the open question
    digression = True

    def name(self) -> Text:
        return "action_out_of_scope"

    def act(self, turn: Turn) -> List[EventType]:
        from actions.open_question import in_question

        turn.say(turn.t("Sorry, I can't help with that. I can book treatments, show our "
                        "services and prices, and manage your bookings."))
        return [] if in_question(turn) else show_menu(turn)


class ActionShowMenu(BookingAction):
    """The main menu."""

    reads_open_question = False  # not an answer to the open question

    def name(self) -> Text:
        return "action_show_menu"

    def act(self, turn: Turn) -> List[EventType]:
        return show_menu(turn)


class ActionSessionStart(Action):
    """A new session (after 15 minutes of silence) keeps only the name and language, and
    what the customer was booking when a person had the conversation (they were told it is
    kept while the team answers)."""

    def name(self) -> Text:
        return "action_session_start"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        kept = CARRIED_OVER + (ORDER_DETAILS if with_a_person(tracker) else ())
        carried = [SlotSet(name, tracker.get_slot(name)) for name in kept
                   if tracker.get_slot(name) is not None]
        return [SessionStarted(), *carried, ActionExecuted("action_listen")]
