"""What the business's people do in a conversation (the console's inbox): take it, reply, send
a booking card or the approved template, hand it back to the bot.

Messages are not sent from here: each is ``post``ed into the customer's queue (the WhatsApp
channel's inbox, wired by the console), where the Rasa server holding the customer sends it
through the bot's outbound path (retries, deferral, once) and writes it into the customer's
Rasa conversation, in order with the customer's own messages. States: ``booking.conversations``.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Optional, Protocol

from booking.conversations import HUMAN, Conversation, Conversations, HandoffError
from booking.customer_prefs import CustomerLanguages
from booking.i18n import N_, Texts, language_or_default, texts
from booking.models import (CANCELLED, COMPLETED, CONFIRMED, EXPIRED, NO_SHOW, PENDING_PAYMENT,
                            Booking)

MAX_REPLY = 4096  # WhatsApp's text limit
# What the business puts in a customer's queue (the channel's inbox handles these kinds).
STAFF, TEMPLATE, HANDBACK, ECHO = "staff", "template", "handback", "echo"
KINDS = (STAFF, TEMPLATE, HANDBACK, ECHO)


class OutsideWindowError(HandoffError):
    """More than 24 hours since the customer wrote: only an approved template may go."""


class NotTheirsError(HandoffError):
    """A booking of another customer (or business) cannot be sent in this conversation."""


class NotOnWhatsAppError(HandoffError):
    """The customer is on a local chat (REST, shell): the console cannot write to them."""


class Post(Protocol):
    """Queue an item for a customer: (conversation, kind, text, extra, item id) → the item's
    id, or None when that item id was queued before (a form sent twice)."""

    def __call__(self, conversation: Conversation, kind: str, text: str,
                 extra: dict[str, Any], item_id: Optional[str] = None) -> Optional[str]: ...


@dataclass(frozen=True)
class Sent:
    """A queued staff message."""

    item_id: str
    conversation: Conversation


_STATUS = {PENDING_PAYMENT: N_("Waiting for payment"), CONFIRMED: N_("Confirmed"),
           CANCELLED: N_("Cancelled"), EXPIRED: N_("Expired"), COMPLETED: N_("Completed"),
           NO_SHOW: N_("No-show")}


def booking_card(booking: Booking, service: Any, staff_name: str, tz: Any, tx: Texts) -> str:
    """A booking as a staff member sends it to its customer, in the customer's language
    (``service``: the catalog's Service, or just its name)."""
    name = service.name_in(tx.language) if hasattr(service, "name_in") else str(service)
    return tx("Your booking {code}\n{service}, {when} with {staff}\n{status} · {price}",
              code=booking.code, service=name, when=tx.moment(booking.start, tz),
              staff=staff_name, status=tx(_STATUS.get(booking.status, booking.status)),
              price=tx.money(booking.price))


class TeamDesk:
    """The business side of a conversation, over the state machine and the customer queue."""

    def __init__(self, conversations: Conversations, post: Post,
                 clock: Callable[[], datetime]) -> None:
        self.conversations, self.post, self.clock = conversations, post, clock

    def take(self, business_id: str, conversation_id: str, who: str,
             version: int) -> Conversation:
        """``who`` takes the conversation (see ``Conversations.take``); only a WhatsApp one
        (a local chat's bot cannot be silenced from here)."""
        self._on_whatsapp(business_id, conversation_id)
        return self.conversations.take(business_id, conversation_id, who, version)

    def reply(self, business_id: str, conversation_id: str, who: str, text: str,
              key: str = "") -> Sent:
        """Send ``text`` as ``who``; only by the person who has the conversation, inside the
        24-hour window (else ``OutsideWindowError``: offer the template). ``key`` names the
        form it came from: the same form sent twice sends once."""
        text = text.strip()[:MAX_REPLY]
        if not text:
            raise HandoffError("write a message first")
        return self._send(business_id, conversation_id, who, STAFF, text, {}, key)

    def send_booking(self, business_id: str, conversation_id: str, who: str,
                     booking: Booking, service: Any, staff_name: str, tz: Any,
                     key: str = "", default_language: Optional[str] = None) -> Sent:
        """Send one of the customer's bookings as a card, in the customer's language (the
        business's ``default_language`` when none is kept for them)."""
        conversation = self.conversations.get(business_id, conversation_id)
        if booking.business_id != business_id or booking.customer_id != conversation.customer_id:
            raise NotTheirsError("that booking is not this customer's")
        tx = texts(CustomerLanguages(self.conversations.docs.database).language_of(
            business_id, conversation.customer_id, language_or_default(default_language)))
        return self._send(business_id, conversation_id, who, STAFF,
                          booking_card(booking, service, staff_name, tz, tx),
                          {"booking": booking.code}, key)

    def send_template(self, business_id: str, conversation_id: str, who: str,
                      key: str = "") -> Sent:
        """The approved template (outside the 24-hour window: the customer's tap on it
        opens the window again)."""
        return self._send(business_id, conversation_id, who, TEMPLATE, "", {}, key,
                          window=False)

    def hand_back(self, business_id: str, conversation_id: str, who: str) -> Conversation:
        """Back to the bot. From a person, the bot tells the customer it is back (when it may
        still write); a waiting request settled without a reply changes nothing they see."""
        before = self.conversations.get(business_id, conversation_id)
        conversation = self.conversations.hand_back(business_id, conversation_id, who)
        if (before.state == HUMAN and conversation.channel == "whatsapp"
                and conversation.window_open(self.clock())):
            self.post(conversation, HANDBACK, "", {"who": who})
        return conversation

    def _on_whatsapp(self, business_id: str, conversation_id: str) -> Conversation:
        conversation = self.conversations.get(business_id, conversation_id)
        if conversation.channel != "whatsapp":
            raise NotOnWhatsAppError("this customer is on a local chat, not WhatsApp")
        return conversation

    def _send(self, business_id: str, conversation_id: str, who: str, kind: str, text: str,
              extra: dict[str, Any], key: str, window: bool = True) -> Sent:
        conversation = self._on_whatsapp(business_id, conversation_id)
        if window and not conversation.window_open(self.clock()):
            raise OutsideWindowError("more than 24 hours since the customer last wrote")
        conversation = self.conversations.replying(business_id, conversation_id, who)
        item_id = f"{kind}:{conversation.id}:{key}" if key else None
        posted = self.post(conversation, kind, text, {**extra, "who": who}, item_id)
        if posted is None and item_id is None:
            raise HandoffError("the message could not be queued")
        return Sent(posted or item_id or "", conversation)
