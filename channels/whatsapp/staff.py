"""The WhatsApp channel's side of the human handoff (states: ``booking.conversations``).

- A customer message while a person has the conversation runs no bot turn: it is written into
  the Rasa conversation as a message to staff (``channels.history``), for the console to show.
- The business's own items, queued by the console into the customer's inbox (``Inbox.post``)
  and handled here in order with the customer's messages by the server holding their lease:
  a staff reply or the template, sent through the bot's outbound path and written into the
  conversation with who sent it; the hand back, run as the external intent
  ``EXTERNAL_handback`` (the bot says it is back); an echo of the owner's reply from the
  WhatsApp Business app, only written (WhatsApp already delivered it).

Sent at most once: an item is marked before its sending starts, and a retry of a marked item
(the server stopped mid-way) sends nothing again. Graph's answer is kept on the outbound
records under the item's id; when one exists the item went out, else it is reported as maybe
not sent, for the person to decide.
"""
from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any, Awaitable, Callable, Optional

from rasa.core.channels.channel import UserMessage

from booking.conversations import ECHO_AGENT, HUMAN, Conversations
from booking.handoff import ECHO, HANDBACK, TEMPLATE
from channels.history import ConversationHistory, message_to_staff, staff_message
from channels.whatsapp.inbox import Inbox
from channels.whatsapp.output import WhatsAppOutput

logger = logging.getLogger(__name__)
OnNewMessage = Callable[[UserMessage], Awaitable[Any]]
HANDBACK_TEXT = "/EXTERNAL_handback"
MAYBE_NOT_SENT = ("WhatsApp's answer was lost while sending it, so it may not have arrived: "
                  "send it again if the customer did not get it")


def shown_text(doc: dict[str, Any]) -> str:
    """A customer message as a person reads it: a tap's title rather than its payload."""
    extra = doc.get("extra") or {}
    if extra.get("title"):
        return str(extra["title"])
    if extra.get("flow_response"):
        return "(sent the booking form)"
    return doc.get("text") or f"({doc.get('kind') or 'message'})"


class StaffSide:
    """Routes customer messages while a person has the chat, and sends the business's items."""

    def __init__(self, inbox: Callable[[], Inbox], agent_of: Callable[[], Any],
                 idle: timedelta) -> None:
        self._inbox, self.idle = inbox, idle
        self.history = ConversationHistory(
            agent_of, lambda: self._inbox().db[self._inbox().tracker_events])
        self._conversations: Optional[Conversations] = None

    def conversations(self) -> Conversations:
        """The conversations' states (built on first use: call from a worker thread)."""
        if self._conversations is None:
            self._conversations = Conversations(self._inbox().db, idle=self.idle)
        return self._conversations

    async def with_person(self, doc: dict[str, Any]) -> bool:
        """Record a customer message on their conversation; whether a person has it."""
        conversation = await asyncio.to_thread(
            lambda: self.conversations().customer_wrote(
                doc["business_id"], doc["sender"], "whatsapp", doc["phone_number_id"],
                doc.get("profile_name") or "", shown_text(doc)))
        return conversation.state == HUMAN

    async def to_person(self, doc: dict[str, Any], metadata: dict[str, Any]) -> None:
        """Write a customer message into the conversation for the person who has it."""
        await self.history.append(doc["sender"], doc["_id"],
                                  message_to_staff(shown_text(doc), doc["_id"], metadata))

    async def item(self, inbox: Inbox, claim: dict[str, Any], output: WhatsAppOutput,
                   on_new_message: OnNewMessage) -> Optional[str]:
        """Handle one queued item of the business; None when done, else why it failed."""
        kind, sender, item_id = claim["kind"], claim["sender"], claim["_id"]
        extra = claim.get("extra") or {}
        who = str(extra.get("who") or "")
        if kind == HANDBACK:
            await on_new_message(UserMessage(
                HANDBACK_TEXT, output, sender, input_channel="whatsapp", message_id=item_id,
                metadata={"business_id": claim["business_id"],
                          "phone_number_id": claim["phone_number_id"], "message_id": item_id}))
            return None
        if kind == ECHO:  # in the customer's order: what they wrote before it was the bot's
            await asyncio.to_thread(lambda: self.conversations().echoed(
                claim["business_id"], sender, claim["phone_number_id"]))
            await self.history.append(sender, item_id, [staff_message(
                item_id, claim["business_id"], ECHO_AGENT, ECHO, claim.get("text") or "")])
            return None
        if claim.get("sending_at"):  # this item's sending started before: never again
            outcomes = [o["status"] for o in await asyncio.to_thread(inbox.outbound_of, item_id)]
            if not outcomes:
                logger.warning("staff item %s may not have been sent: not sending it twice",
                               item_id)
                return MAYBE_NOT_SENT
        else:
            if not await asyncio.to_thread(inbox.mark_sending, claim):
                return "taken over by another server"
            if kind == TEMPLATE:
                outcomes = [await output.send_template_instead(sender, ref=item_id)]
            else:
                outcomes = await output.send_staff_text(sender, claim.get("text") or "", item_id)
        if any(outcome in ("sent", "retrying") for outcome in outcomes):
            custom = await output.customer_template(sender) if kind == TEMPLATE else None
            await self.history.append(sender, item_id, [staff_message(
                item_id, claim["business_id"], who, kind, claim.get("text") or "", custom)])
        if "uncertain" in outcomes:
            return MAYBE_NOT_SENT
        if "failed" in outcomes:
            return "WhatsApp refused it"
        if "outside_window" in outcomes:
            return ("more than 24 hours since the customer wrote: the template was sent "
                    "instead")
        return None
