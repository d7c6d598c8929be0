"""Greeting, goodbye, thanks, "are you a bot?", and switching language: said by actions (not
the domain's responses), so that they are in the customer's language like everything else."""
from __future__ import annotations

from typing import List, Text

from rasa_sdk.events import EventType

from actions import present
from actions.base import BookingAction, Turn, remember_language, show_menu
from booking.customer_prefs import LanguageChoice
from booking.i18n import LANGUAGES, N_

# Said in the new language ("Oke, mulai sekarang saya menulis dalam Bahasa Indonesia.").
SWITCHED = N_("OK, I'll write in English from now on.")


class ActionGreet(BookingAction):
    """Hello, what the assistant does, and the menu."""

    reads_open_question = False  # not an answer to the open question

    def name(self) -> Text:
        return "action_greet"

    def act(self, turn: Turn) -> List[EventType]:
        turn.say(turn.t("Hi! 👋 I'm the booking assistant. I can show our treatments, find a "
                        "free time and book it for you."), present.main_menu(turn.tx))
        return []


class ActionGoodbye(BookingAction):
    """Goodbye."""

    reads_open_question = False

    def name(self) -> Text:
        return "action_goodbye"

    def act(self, turn: Turn) -> List[EventType]:
        turn.say(turn.t("Goodbye, and see you soon! 🌺"))
        return []


class ActionThank(BookingAction):
    """You're welcome."""

    reads_open_question = False

    def name(self) -> Text:
        return "action_thank"

    def act(self, turn: Turn) -> List[EventType]:
        turn.say(turn.t("You're welcome! Anything else I can do for you?"))
        return []


class ActionBotChallenge(BookingAction):
    """Yes, a bot; a person is one message away."""

    reads_open_question = False

    def name(self) -> Text:
        return "action_bot_challenge"

    def act(self, turn: Turn) -> List[EventType]:
        turn.say(turn.t("I'm a booking assistant (a bot). If you'd like a person, just say "
                        "\"talk to a human\"."))
        return []


class ActionSwitchLanguage(BookingAction):
    """"Bahasa Indonesia" / "English please" / the menu's language item: that language from
    now on, this session and the next ones, whatever the customer writes in."""

    reads_open_question = False  # (a booking in progress stays as it is)
    digression = True  # ... and its open question comes again, in the new language

    def name(self) -> Text:
        return "action_switch_language"

    def act(self, turn: Turn) -> List[EventType]:
        wanted = turn.entity("language")
        if wanted not in LANGUAGES:  # "change language" without saying which: the other one
            wanted = "id" if turn.language == "en" else "en"
        remember_language(turn, LanguageChoice(wanted, chosen=True))
        events = turn.set(language=wanted, language_chosen=True)
        turn.say(turn.t(SWITCHED), present.main_menu(turn.tx))
        return events
