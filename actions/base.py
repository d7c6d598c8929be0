"""What every custom action shares: core access off the event loop and failure answers."""
from __future__ import annotations

import abc
import asyncio
import logging
import os
from typing import Any, Callable, Dict, List, Text, TypeVar

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from booking.bookings import BookingService
from booking.runtime import booking_service

logger = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_BUSINESS_ID = "ubud-serenity-spa"


def business_id_for(tracker: Tracker) -> str:
    """The business a conversation belongs to (from channel metadata, else the default)."""
    metadata = tracker.latest_message.get("metadata") or {}
    return metadata.get("business_id") or os.environ.get("DEFAULT_BUSINESS_ID", DEFAULT_BUSINESS_ID)


async def in_thread(call: Callable[[BookingService], T]) -> T:
    """Run a blocking core call in a worker thread, never on the event loop."""
    return await asyncio.to_thread(lambda: call(booking_service()))


class BookingAction(Action, abc.ABC):
    """Base of the custom actions: catches failures at the boundary and answers the customer.

    Abstract, so rasa-sdk does not register it as an action of its own.
    """

    @abc.abstractmethod
    def name(self) -> Text:
        """The action name used in the domain."""

    @abc.abstractmethod
    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        """The action's own work; may raise."""

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        try:
            return await self.act(dispatcher, tracker, domain)
        except Exception:  # the customer must never be left without an answer
            logger.exception("action %s failed for %s", self.name(), tracker.sender_id)
            dispatcher.utter_message(response="utter_technical_problem")
            return []
