"""Actions run for real against a real mongod: a tiny driver that keeps slots between turns."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Optional

import pytest
from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.base import use_booking_service
from booking.bookings import BookingService
from booking.payments import PaymentService, PaymentSettings
from booking.runtime import booking_service, payment_service
from booking.xendit import XenditClient, XenditConfig
from tests.xendit_stub import SECRET_KEY


@pytest.fixture
def core(db, seed_catalog, clock, xendit):
    """The booking core on the test database, seeded, with a settable clock; payments go to
    the Xendit stand-in."""
    service = BookingService(db, seed_catalog, clock=clock)
    payments = PaymentService(service, XenditClient(XenditConfig(
        secret_key=SECRET_KEY, api_url=xendit.url, retry_base_seconds=0.001)),
        PaymentSettings(public_base_url="https://bot.example"))
    payments.ensure_indexes()
    use_booking_service(lambda: service, lambda: payments)
    yield service
    use_booking_service(booking_service, payment_service)


@dataclass
class Chat:
    """One customer's conversation as the action server sees it."""

    sender: str = "6281234567890"
    slots: dict[str, Any] = field(default_factory=dict)
    business_id: Optional[str] = None
    input_channel: Optional[str] = None
    metadata: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)  # events before this message

    def __post_init__(self) -> None:
        if self.input_channel is None:  # a business given is a WhatsApp number's business
            self.input_channel = "whatsapp" if self.business_id or self.metadata else "rest"

    @property
    def customer(self) -> str:
        """The customer id the actions derive: the number on WhatsApp, else ``rest:<id>``."""
        if self.input_channel == "whatsapp":
            return self.sender
        return f"{self.input_channel}:{self.sender}"

    def run(self, action: Action, intent: str, text: str = "", **entities: Any):
        """Run ``action`` for a message; apply its slot events; return (events, messages)."""
        business = self.business_id
        if self.input_channel == "whatsapp" and not business:
            business = "ubud-serenity-spa"  # the number the spa's customers write to
        metadata = {"business_id": business} if business else {}
        metadata.update(self.metadata)
        for name, value in entities.items():  # what Rasa's from_entity mappings do first
            if name in {"service", "staff", "booking_code", "people"}:
                self.slots[name] = value
        tracker = Tracker.from_dict({
            "sender_id": self.sender,
            "slots": dict(self.slots),
            "latest_message": {"intent": {"name": intent, "confidence": 1.0}, "text": text,
                               "entities": [{"entity": k, "value": v} for k, v in entities.items()],
                               "metadata": metadata},
            "events": [*self.history,
                       {"event": "user", "text": text, "input_channel": self.input_channel}],
            "paused": False, "followup_action": None, "active_loop": {},
            "latest_action_name": "action_listen",
        })
        dispatcher = CollectingDispatcher()
        events = asyncio.run(action.run(dispatcher, tracker, {}))
        for event in events:
            if event.get("event") == "slot":
                self.slots[event["name"]] = event["value"]
        return events, dispatcher.messages


@pytest.fixture
def chat() -> Chat:
    """A fresh conversation."""
    return Chat()


def texts(messages: list[dict]) -> list[str]:
    """The texts of the messages."""
    return [m.get("text") or m.get("response") for m in messages]


def buttons(messages: list[dict]) -> list[tuple[str, str]]:
    """(title, payload) of every button of the last message."""
    return [(b["title"], b["payload"]) for b in messages[-1].get("buttons", [])]
