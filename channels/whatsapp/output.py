"""The Rasa output channel: Rasa responses → Cloud API messages from one business number.

Sending is a network wait: during a turn it gives the turn slot back (``network_wait``), so a
reply held up by Graph's retries (131056 backs off 4^n seconds) never stops other customers.
"""
from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta
from typing import Any, Callable, Dict, Optional, Text

from rasa.core.channels.channel import OutputChannel

from booking.i18n import N_, SOURCE, language_or_default, texts
from booking.logsafe import mask_phone
from channels.http_guard import ascii_digits
from channels.rasa_patches import network_wait
from channels.whatsapp import render
from channels.whatsapp.config import WhatsAppConfig
from channels.whatsapp.errors import (GraphError, OutsideWindowError, RetryableGraphError,
                                      UncertainDeliveryError)
from channels.whatsapp.graph import GraphClient
from channels.whatsapp.inbox import Inbox

logger = logging.getLogger(__name__)
TEMPLATE_NOT_IN_LANGUAGE = 132001  # Graph: no such template in that language
EXPIRED_CHOICES = N_("Those options have expired; please ask again.")


def more_page(text: str) -> Optional[tuple[str, int]]:
    """(saved list key, page) of a "More…" tap's payload; None for any other text. A page that
    is not plain ASCII digits (``"²"``) is page 1."""
    if not text.startswith(render.MORE_PREFIX):
        return None
    key, _, page = text[len(render.MORE_PREFIX):].rpartition(":")
    return key, int(page) if ascii_digits(page, 4) else 1


class WhatsAppOutput(OutputChannel):
    """Sends Rasa responses as Cloud API messages from one business number."""

    @classmethod
    def name(cls) -> Text:
        """The channel's name, as Rasa knows it."""
        return "whatsapp"

    def __init__(self, graph: GraphClient, inbox: Inbox, config: WhatsAppConfig,
                 phone_number_id: str,
                 language_of: Optional[Callable[[str, str], str]] = None) -> None:
        """``language_of(phone_number_id, customer)``: blocking, the customer's language (for
        the template sent outside the 24-hour window); without it, English."""
        self.graph, self.inbox, self.config = graph, inbox, config
        self.phone_number_id = phone_number_id
        self.language_of = language_of
        self._receipt: Optional[asyncio.Future[Any]] = None

    def after(self, receipt: "asyncio.Future[Any]") -> "WhatsAppOutput":
        """Send nothing before ``receipt`` is done: a turn's read receipt and typing indicator
        go while its turn runs, and never after its first reply ("typing…" under an answer)."""
        self._receipt = receipt
        return self

    async def _receipt_sent(self) -> None:
        receipt, self._receipt = self._receipt, None
        if receipt is not None:
            await receipt

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        """Text, split within Meta's limit."""
        await self._send_all(recipient_id, render.text_message(text))

    async def send_text_with_buttons(self, recipient_id: Text, text: Text,
                                     buttons: list[Dict[Text, Any]], **kwargs: Any) -> None:
        """Reply buttons, a list, or a list that pages with "More…"."""
        choices = [render.Choice(b.get("title", ""), b.get("payload", "")) for b in buttons]
        language = language_or_default(kwargs.get("language"))  # the action's (Turn.say)
        key = None
        if len(choices) > render.LIST_ROWS_MAX:
            key = uuid.uuid4().hex[:16]
            async with network_wait():
                await asyncio.to_thread(self.inbox.save_choices, key, text,
                                        [{"title": c.title, "payload": c.payload}
                                         for c in choices], language)
        instead = self._template_for(kwargs.get("outside_window"))
        await self._send_all(recipient_id, render.choices_message(text, choices, key,
                                                                  tx=texts(language)),
                             instead=instead)

    async def send_custom_json(self, recipient_id: Text, json_message: Dict[Text, Any],
                               **kwargs: Any) -> None:
        """An action's own WhatsApp payload (pay link, Flow, document, template, image)."""
        await self._send_all(recipient_id, render.custom_message(json_message))

    async def send_image_url(self, recipient_id: Text, image: Text, **kwargs: Any) -> None:
        """An image by link."""
        await self._send_all(recipient_id, render.custom_message({"type": "image", "link": image}))

    async def send_page(self, recipient_id: str, key: str, page: int) -> None:
        """Page ``page`` of a saved long list ("More…" was tapped)."""
        async with network_wait():
            saved = await asyncio.to_thread(self.inbox.load_choices, key)
        if saved is None:  # (the list, and the language it was in, are gone: the customer's)
            await self.send_text_message(recipient_id,
                                         await self.in_their_language(recipient_id,
                                                                      EXPIRED_CHOICES))
            return
        choices = [render.Choice(c["title"], c["payload"]) for c in saved["choices"]]
        await self._send_all(recipient_id, render.choices_message(
            saved["text"], choices, key, page, texts(saved.get("language"))))

    async def send_staff_text(self, recipient_id: str, text: str, ref: str) -> list[str]:
        """A staff member's text (``ref``: its queued item, kept on the outbound records);
        what became of each part (``sent``, ``retrying``, ``outside_window``, ``failed``)."""
        return await self._send_all(recipient_id, render.text_message(text), ref)

    async def _send_all(self, recipient_id: str, messages: list[dict[str, Any]],
                        ref: Optional[str] = None,
                        instead: Optional[Callable[[str], dict[str, Any]]] = None) -> list[str]:
        outcomes = []
        for message in messages:
            async with network_wait():
                outcomes.append(await self._send(recipient_id, message, ref, instead))
        return outcomes

    def _template_for(self, outside_window: Any) -> Optional[Callable[[str], dict[str, Any]]]:
        """The message's own template outside the 24-hour window (an action's
        ``outside_window``: which of the channel's templates, its variables and its buttons'
        payloads), by the customer's language; ``None`` for the configured fallback one."""
        name = self.config.template(outside_window.get("template")) if isinstance(
            outside_window, dict) else ""
        if not name:
            return None
        parameters = [str(p) for p in outside_window.get("parameters") or []]
        payloads = [str(p) for p in outside_window.get("payloads") or []]
        return lambda language: render.template_message(
            name, self.config.template_language(language), parameters, payloads)

    async def _send(self, recipient_id: str, message: dict[str, Any],
                    ref: Optional[str] = None,
                    instead: Optional[Callable[[str], dict[str, Any]]] = None) -> str:
        kind = message["type"]
        await self._receipt_sent()
        try:
            wamid = await self.graph.send(self.phone_number_id, recipient_id, message)
            # its own template, should Meta refuse it later (a failed status, 131047)
            own = instead(await asyncio.to_thread(self._customer_language, recipient_id)) \
                if instead else None
            await asyncio.to_thread(self.inbox.record_outbound, wamid, recipient_id, kind, "sent",
                                    "", ref, own)
            return "sent"
        except OutsideWindowError as exc:
            await asyncio.to_thread(self.inbox.record_outbound, None, recipient_id, kind,
                                    "outside_window", str(exc), ref)
            await self.send_template_instead(recipient_id, template=instead)
            return "outside_window"
        except RetryableGraphError as exc:  # not taken (429/5xx past the retries): kept
            logger.warning("Graph would not take %s to %s yet (%s); sending it later", kind,
                           mask_phone(recipient_id), exc)
            await asyncio.to_thread(self.inbox.defer_outbound, recipient_id,
                                    self.phone_number_id, message, str(exc),
                                    timedelta(seconds=self.config.resend_seconds), ref)
            return "retrying"
        except UncertainDeliveryError as exc:  # it may have reached Meta: never again
            logger.error("sending %s to %s may have failed: %s", kind, mask_phone(recipient_id),
                         exc)
            await asyncio.to_thread(self.inbox.record_outbound, None, recipient_id, kind,
                                    "uncertain", str(exc), ref)
            return "uncertain"
        except GraphError as exc:
            logger.error("could not send %s to %s: %s", kind, mask_phone(recipient_id), exc)
            await asyncio.to_thread(self.inbox.record_outbound, None, recipient_id, kind,
                                    "failed", str(exc), ref)
            return "failed"

    def template(self, language: str = SOURCE) -> dict[str, Any]:
        """The configured template message (the only kind allowed outside the window) in the
        language of a customer speaking ``language``."""
        return {"type": "template", "template": {
            "name": self.config.fallback_template,
            "language": {"code": self.config.template_language(language)}}}

    def _customer_language(self, recipient_id: str) -> str:
        """Blocking: the customer's language as the channel knows it (``language_of``);
        English when it cannot be looked up (a template in English beats none at all)."""
        if not self.language_of:
            return SOURCE
        try:
            return self.language_of(self.phone_number_id, recipient_id)
        except Exception as exc:  # (a database outage: the message matters more)
            logger.warning("customer language unavailable, English used: %s",
                           type(exc).__name__)
            return SOURCE

    async def in_their_language(self, recipient_id: str, message: str) -> str:
        """A message of the channel's own (``N_``) in the customer's language."""
        language = await asyncio.to_thread(self._customer_language, recipient_id)
        return texts(language)(message)

    async def customer_template(self, recipient_id: str) -> dict[str, Any]:
        """The template message in the customer's language."""
        return self.template(await asyncio.to_thread(self._customer_language, recipient_id))

    async def send_template_instead(
            self, recipient_id: str, ref: Optional[str] = None,
            template: Optional[Callable[[str], dict[str, Any]]] = None) -> str:
        """A template, the only thing allowed outside the 24-hour window: ``template(language)``
        (the message's own) or else the configured fallback, in the customer's language, or in
        English when it is not approved in theirs (132001)."""
        make = template or self.template
        async with network_wait():
            await self._receipt_sent()
            try:
                message = make(await asyncio.to_thread(self._customer_language, recipient_id))
                try:
                    wamid = await self.graph.send(self.phone_number_id, recipient_id, message)
                except GraphError as exc:
                    if exc.code != TEMPLATE_NOT_IN_LANGUAGE or message == make(SOURCE):
                        raise
                    # not approved in the customer's language (132001): the English one
                    wamid = await self.graph.send(self.phone_number_id, recipient_id,
                                                  make(SOURCE))
                await asyncio.to_thread(self.inbox.record_outbound, wamid, recipient_id,
                                        "template", "sent", "", ref)
                return "sent"
            except GraphError as exc:
                await asyncio.to_thread(self.inbox.record_outbound, None, recipient_id,
                                        "template", "failed", str(exc), ref)
                return "failed"
