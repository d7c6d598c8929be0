"""Greeting, goodbye, thanks, "are you a bot?", and switching language: said by actions (not
the domain's responses), so that they are in the customer's language like everything else."""
from __future__ import annotations

from typing import List, Text

from rasa_sdk.events import EventType

from actions import present
from actions.base import BookingAction, Turn, remember_language, show_menu
from actions.open_question import BOOKING_QUESTIONS
from booking.customer_prefs import LanguageChoice
from booking.i18n import LANGUAGES, N_, NAMES as LANGUAGE_NAMES

# Said in the new language ("Oke, mulai sekarang saya menulis dalam Bahasa Indonesia.").
SWITCHED = N_("OK, I'll write in English from now on.")
WHICH_LANGUAGE = N_("I can write in English or Bahasa Indonesia. Which would you like?")


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

    # A short answer at an open question is read as the answer first: "anyone is fine" at the
    # time list is close to "are you a bot?" for the NLU, but "are you a bot?" is no answer
    reads_open_question = True

    def name(self) -> Text:
        return "action_bot_challenge"

    def act(self, turn: Turn) -> List[EventType]:
        turn.say(turn.t("I'm a booking assistant (a bot). If you'd like a person, just say "
                        "\"talk to a human\"."))
        return []


class ActionSwitchLanguage(BookingAction):
    """"Bahasa Indonesia" / "English please" / the menu's language item: that language from
    now on, this session and the next ones, whatever the customer writes in."""

    reads_open_question = False  # (a booking in progress stays as it is, and its open
    # question comes again in the new language: asked anew, not replayed from the tracker)

    def name(self) -> Text:
        return "action_switch_language"

    def act(self, turn: Turn) -> List[EventType]:
        wanted = turn.entity("language")
        if wanted is not None and wanted not in LANGUAGES:  # "do you speak japanese?"
            turn.say(turn.t(WHICH_LANGUAGE), [present.button(LANGUAGE_NAMES[language],
                                                             "switch_language",
                                                             language=language)
                                              for language in LANGUAGES])
            return []
        if wanted is None:  # "change language" without saying which: the other one than
            # before this message (which may itself have been read as the other language)
            before = turn.tracker.get_slot("language") or turn.business.language
            wanted = "id" if before == "en" else "en"
        remember_language(turn, LanguageChoice(wanted, chosen=True))
        events = turn.set(language=wanted, language_chosen=True)
        if (turn.slot("awaiting") or "") in BOOKING_QUESTIONS:  # in the middle of booking
            from actions.booking_flow import ActionBookStep

            turn.say(turn.t(SWITCHED))
            return events + ActionBookStep().step(turn, fix={})  # the same question, anew
        turn.say(turn.t(SWITCHED), present.main_menu(turn.tx))
        return events
