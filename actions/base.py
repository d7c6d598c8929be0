"""What every custom action shares: a ``Turn`` (tracker, core, business, now), core calls off
the event loop, and an answer to the customer whatever fails."""
from __future__ import annotations

import abc
import asyncio
import logging
import math
import os
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Callable, Dict, List, Optional, Text
from zoneinfo import ZoneInfo

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import present
from booking import metrics
from booking.bookings import BookingService
from booking.catalog import Catalog
from booking.customer_prefs import CustomerLanguages, LanguageChoice
from booking.language import decide
from booking.i18n import N_, Texts, language_or_default, texts
from booking.logsafe import mask_phone
from booking.models import Business
from booking.payments import Conversation, PaymentService
from booking.runtime import booking_service, payment_service

logger = logging.getLogger(__name__)

DEFAULT_BUSINESS_ID = "ubud-serenity-spa"
# What the domain's utter_technical_problem says (in each language's variation), for the catalogs.
TECHNICAL_PROBLEM = N_("Sorry, something went wrong on our side. Please try again in a moment, "
                       "or type \"help\".")
_service_provider: Callable[[], BookingService] = booking_service
_payments_provider: Callable[[], PaymentService] = payment_service


def use_booking_service(provider: Callable[[], BookingService],
                        payments: Optional[Callable[[], PaymentService]] = None) -> None:
    """Replace where actions get the core (and payments) from (tests use their own)."""
    global _service_provider, _payments_provider
    _service_provider = provider
    if payments is not None:
        _payments_provider = payments


def session_expiration_minutes() -> int:
    """How long a chosen time may wait for its confirmation."""
    return int(os.environ.get("SESSION_EXPIRATION_MINUTES") or 15)


@dataclass
class Turn:
    """One run of an action: who is talking, to which business, and when."""

    dispatcher: CollectingDispatcher
    tracker: Tracker
    core: BookingService
    catalog: Catalog
    business: Business
    now: datetime
    overrides: dict[str, Any] = field(default_factory=dict)
    answered: bool = False  # the message answered a question already: later steps don't reread it

    @property
    def tz(self) -> ZoneInfo:
        return self.business.tz

    @property
    def language(self) -> str:
        """The language to answer in: the customer's (slot ``language``), else the business's."""
        return language_or_default(self.slot("language") or self.business.language)

    @property
    def tx(self) -> Texts:
        """Messages and formats in the customer's language."""
        return texts(self.language)

    def t(self, message: str, **values: Any) -> str:
        """``message`` in the customer's language, placeholders filled in."""
        return self.tx(message, **values)

    @property
    def payments(self) -> PaymentService:
        return _payments_provider()

    @property
    def channel(self) -> str:
        return self.tracker.get_latest_input_channel() or ""

    @property
    def customer_name(self) -> str:
        """The name the customer gave, else their WhatsApp profile name."""
        return self.slot("customer_name") or str(channel_facts(self.tracker).get(
            "profile_name") or "")

    @property
    def conversation(self) -> Conversation:
        """Where payment news for this customer goes: this very conversation."""
        return Conversation(self.tracker.sender_id, self.channel, self.business.id,
                            channel_facts(self.tracker).get("phone_number_id"), self.language)

    @property
    def customer_id(self) -> str:
        """Who is speaking, as *(channel, id)*: see ``customer_of``."""
        return customer_of(self.tracker)

    @property
    def intent(self) -> str:
        return (self.tracker.latest_message.get("intent") or {}).get("name") or ""

    @property
    def text(self) -> str:
        return "" if self.answered else self.tracker.latest_message.get("text") or ""

    def slot(self, name: str) -> Any:
        """A slot's value, as changed earlier in this same action run if it was.

        Payloads are text anyone can type (``/book_service{"service": true}``) and slots take
        entity values as they come, so values are cleaned: numbers for the numeric slots, text
        for the others, None for what cannot be either.
        """
        if name in self.overrides:
            return self.overrides[name]
        return clean_slot(name, self.tracker.get_slot(name))

    def set(self, **values: Any) -> list[EventType]:
        """Change slots now (for the rest of this run) and return the events recording it."""
        self.overrides.update(values)
        return [SlotSet(k, v) for k, v in values.items()]

    def entity(self, name: str) -> Optional[str]:
        """The latest message's value of an entity (payload or NLU), if any."""
        value = next(self.tracker.get_latest_entity_values(name), None)
        return None if value is None else str(value)

    def say(self, text: str, buttons: Optional[list[dict]] = None) -> None:
        """A message (with its choices) to the customer; its language goes along for the
        channel's own labels (a WhatsApp list's "Choose")."""
        if buttons:
            self.dispatcher.utter_message(text=text, buttons=buttons, language=self.language)
        else:
            self.dispatcher.utter_message(text=text, buttons=[])


NUMERIC_SLOTS = frozenset({"slots_page", "slot_chosen_at"})


def clean_slot(name: str, value: Any) -> Any:
    """A slot value of the type the actions expect (see ``Turn.slot``)."""
    if value is None or isinstance(value, (dict, list)):
        return None
    if name in NUMERIC_SLOTS:
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            return None
        return number if math.isfinite(number) else None
    return value if isinstance(value, str) else str(value)


def moment(raw: Any) -> Optional[datetime]:
    """A time from a payload or slot: ISO 8601 with its offset, within years 2000-2099; None
    for anything else (naive, malformed, absurd)."""
    try:
        value = datetime.fromisoformat(str(raw))
    except (TypeError, ValueError):
        return None
    if value.tzinfo is None or value.utcoffset() is None or not 2000 <= value.year <= 2099:
        return None
    return value


def day_of(raw: Any) -> Optional[date]:
    """A day from a payload or slot (ISO date within years 2000-2099), else None."""
    try:
        value = date.fromisoformat(str(raw))
    except (TypeError, ValueError):
        return None
    return value if 2000 <= value.year <= 2099 else None


def small_int(raw: Any, default: int = 0) -> int:
    """A page number and the like from a payload: 0..1000, else ``default``."""
    try:
        value = int(float(raw))
    except (TypeError, ValueError, OverflowError):
        return default
    return value if 0 <= value <= 1000 else default


WHATSAPP = "whatsapp"


class UnprovenBusinessError(Exception):
    """A WhatsApp turn whose channel did not say which business number it came to."""


def channel_facts(tracker: Tracker) -> dict[str, Any]:
    """What the channel proved about this message: the WhatsApp channel's metadata (built by
    our channel from a signed webhook, or by the server for payment news). Other channels
    (REST, socket.io, shell) prove nothing: whatever metadata their clients sent is ignored."""
    if tracker.get_latest_input_channel() != WHATSAPP:
        return {}
    metadata = tracker.latest_message.get("metadata")
    return metadata if isinstance(metadata, dict) else {}


def customer_of(tracker: Tracker) -> str:
    """The customer behind a conversation, as *(channel, id)* in one string.

    Only the WhatsApp channel speaks for a phone number: its conversations are the number
    itself (``6281234567890``). Any other channel's visitor is a customer of its own,
    ``<channel>:<sender>`` (``rest:me``), so no REST, socket.io or shell conversation can read,
    cancel or pay for a WhatsApp customer's bookings, whatever sender id it claims.
    """
    channel = tracker.get_latest_input_channel() or "local"
    sender = tracker.sender_id
    if channel == WHATSAPP:
        return sender
    prefix = f"{channel}:"
    return sender if sender.startswith(prefix) else prefix + sender


def business_id_for(tracker: Tracker) -> str:
    """The business of a conversation: for WhatsApp, the one owning the number the customer
    wrote to (the channel looked it up; a turn without it is refused); for every other
    channel the configured default, never a value the client sent."""
    if tracker.get_latest_input_channel() == WHATSAPP:
        business_id = channel_facts(tracker).get("business_id")
        if not isinstance(business_id, str) or not business_id:
            raise UnprovenBusinessError("WhatsApp message without a known business number")
        return business_id
    return os.environ.get("DEFAULT_BUSINESS_ID") or DEFAULT_BUSINESS_ID


def reset_booking() -> list[EventType]:
    """Forget an order in progress (after it ends one way or another)."""
    return [SlotSet(name, None) for name in (
        "service", "staff", "people", "villa", "date", "part_of_day", "slot_time", "slot_chosen_at",
        "slots_page", "flow", "awaiting", "order_id", "booking_code")]


def follow_language(turn: Turn) -> list[EventType]:
    """The language to answer in after the customer's latest message (``booking.language``): a
    telling message changes it, unless the customer chose one; a change is kept for the next
    sessions too."""
    text = turn.text if not turn.text.startswith("/") else ""
    current, chosen, events = turn.slot("language"), language_chosen(turn), []
    if current is None:  # a new conversation: what they spoke last time
        kept = CustomerLanguages(turn.core.db, turn.core.clock).get(turn.business.id,
                                                                    turn.customer_id)
        if kept is not None:
            events = turn.set(language=kept.language, language_chosen=kept.chosen)
            current, chosen = kept.language, kept.chosen
    language = decide(current, chosen, text, turn.business.language)
    if language == current:
        if events:  # a known customer's new session: their record is kept for another while
            remember_language(turn, LanguageChoice(current, chosen))
        return events
    remember_language(turn, LanguageChoice(language, chosen))
    return events + turn.set(language=language)


def language_chosen(turn: Turn) -> bool:
    """Whether the customer chose their language on purpose (a bool slot, set by actions)."""
    return turn.overrides.get("language_chosen",
                              turn.tracker.get_slot("language_chosen")) is True


def remember_language(turn: Turn, choice: LanguageChoice) -> None:
    """Keep the customer's language for their next sessions (best effort: the answer matters
    more)."""
    try:
        CustomerLanguages(turn.core.db, turn.core.clock).set(turn.business.id, turn.customer_id,
                                                             choice)
    except Exception as exc:
        logger.warning("could not keep the customer's language: %s", type(exc).__name__)


def show_menu(turn: Turn) -> List[EventType]:
    """The main menu."""
    turn.say(turn.t("What would you like to do?"), present.main_menu(turn.tx))
    return []


def _flag_failure(tracker: Tracker) -> None:
    """After the apology for a technical failure: the customer waits for a person (best
    effort: the failure may be the database itself)."""
    from booking.conversations import FAILURE, Conversations

    try:
        core = _service_provider()
        facts = channel_facts(tracker)
        Conversations(core.db, core.clock).flag(
            business_id_for(tracker), customer_of(tracker), FAILURE,
            channel=tracker.get_latest_input_channel() or "local",
            phone_number_id=str(facts.get("phone_number_id") or ""),
            customer_name=str(facts.get("profile_name") or ""))
    except Exception as exc:
        logger.warning("could not flag the failed conversation for a person: %r", exc)


class BookingAction(Action, abc.ABC):
    """Base of the custom actions. Abstract, so rasa-sdk does not register it itself.

    A typed message while a booking question is open is first read as its answer
    (``actions.open_question``), whichever action the NLU's intent chose; actions that are
    not a customer's turn (news, the hand back) say ``reads_open_question = False``.
    """

    reads_open_question = True
    digression = False  # an answer in passing (a price): the open question comes back after

    @abc.abstractmethod
    def name(self) -> Text:
        """The action name used in the domain."""

    @abc.abstractmethod
    def act(self, turn: Turn) -> List[EventType]:
        """The action's own work (blocking calls allowed: it runs in a worker thread)."""

    def _run_sync(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> List[EventType]:
        core = _service_provider()
        catalog = core.catalog
        turn = Turn(dispatcher, tracker, core, catalog,
                    catalog.business(business_id_for(tracker)), core.clock())
        language_events = follow_language(turn)
        if self.reads_open_question or self.digression:  # a customer's own message
            from actions.open_question import answer_first, details_first  # (they use actions)

            answered = details_first(turn)
            if answered is None and self.reads_open_question:
                answered = answer_first(turn)
            if answered is not None:
                return language_events + answered
        events = self.act(turn)
        if self.digression:  # answered in passing: the open question is asked again
            from actions.open_question import ask_again

            events = events + ask_again(turn)
        return language_events + events

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        with metrics.ACTION_RUN.labels(self.name()).time():
            return await self._run(dispatcher, tracker)

    async def _run(self, dispatcher: CollectingDispatcher,
                   tracker: Tracker) -> List[Dict[Text, Any]]:
        try:
            return await asyncio.to_thread(self._run_sync, dispatcher, tracker)
        except UnprovenBusinessError:  # refused, not served as the default business
            logger.warning("action %s refused: %s", self.name(), "no business number")
            return []
        except Exception:  # the customer must never be left without an answer
            logger.exception("action %s failed for %s", self.name(),
                             mask_phone(tracker.sender_id))
            dispatcher.utter_message(response="utter_technical_problem")
            await asyncio.to_thread(_flag_failure, tracker)
            return []
