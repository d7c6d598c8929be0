"""Writes into a customer's Rasa conversation what happened outside a bot turn: a staff
member's reply, the owner's own reply from the WhatsApp Business app, a customer's message to
a person while the bot is silent. So the conversation is whole when the bot resumes, and the
console reads one transcript.

The events go through the Rasa agent's own tracker store under its lock for the conversation
(the WhatsApp channel calls this while holding the customer's lease, so no other server runs a
turn for the customer's messages meanwhile; news the server starts, payment or booking news,
may still run its own turn, and appends after or before). Each event names the queued item or
message it records (a staff message's ``metadata.item``, a customer message's
``message_id``): found already written, it is not written again, so a retry records once.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable, Optional

from rasa.shared.core.events import ActionExecuted, BotUttered, Event, UserUttered

from booking.conversations import TO_STAFF_INTENT

logger = logging.getLogger(__name__)


def staff_message(item_id: str, business_id: str, who: str, kind: str, text: str,
                  custom: Optional[dict[str, Any]] = None) -> BotUttered:
    """A message the business sent by hand, as a bot event that says who sent it."""
    return BotUttered(text or None, data={"custom": custom} if custom else {},
                      metadata={"staff": who, "kind": kind, "item": item_id,
                                "business_id": business_id})


def message_to_staff(text: str, message_id: str, metadata: dict[str, Any]) -> list[Event]:
    """A customer message the bot did not answer (a person has the chat): the message and
    the bot listening again, as a turn that predicted nothing."""
    parse = {"intent": {"name": TO_STAFF_INTENT, "confidence": 1.0}, "entities": [], "text": text}
    return [UserUttered(text, parse["intent"], [], parse, input_channel="whatsapp",
                        message_id=message_id, metadata=metadata),
            ActionExecuted("action_listen")]


class ConversationHistory:
    """Appends events to Rasa conversations through the running agent."""

    def __init__(self, agent_of: Callable[[], Any], events: Callable[[], Any]) -> None:
        """``agent_of``: the Rasa agent (``app.ctx.agent``, set once the model is loaded);
        ``events``: the tracker store's event collection (to find what is already written)."""
        self.agent_of, self.events = agent_of, events

    def written(self, sender_id: str, item_id: str) -> bool:
        """Whether an event recording ``item_id`` is in the conversation (blocking)."""
        events = self.events()
        return (events.find_one({"sender_id": sender_id, "event.event": "bot",
                                 "event.metadata.item": item_id}, {"_id": 1}) is not None
                or events.find_one({"event.event": "user", "event.message_id": item_id},
                                   {"_id": 1}) is not None)

    async def append(self, sender_id: str, record: str, events: list[Event]) -> None:
        """Append ``events`` (recording the item or message ``record``) unless already there."""
        agent = self.agent_of()
        if agent is None or agent.processor is None:
            raise RuntimeError("the Rasa agent is not loaded yet")
        async with agent.lock_store.lock(sender_id):
            if await asyncio.to_thread(self.written, sender_id, record):
                return
            tracker = await agent.processor.get_tracker(sender_id)
            for event in events:
                tracker.update(event)
            await agent.processor.save_tracker(tracker)
