"""A customer's conversation with one business as the console shows it: what Rasa stored (the
customer's messages, the bot's answers, the team's messages), the team's messages still on
their way, and the bookings the customer made, in one timeline.

Rasa's tracker store (``channels.tracker_store``) keeps one document per event,
``{"sender_id", "seq", "at", "event"}``. One WhatsApp number may talk to several businesses in
one tracker: a customer message belongs to its ``metadata.business_id``, a bot message to its
own ``metadata.business_id`` or else to the business of the customer message before it.
Blocking pymongo calls (the console runs them in worker threads); no Rasa import. It lives in
the console, not the core: a read model over Rasa's and the WhatsApp channel's storage, with no
business rule.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable, Iterator, Optional

from pymongo import ASCENDING, DESCENDING
from pymongo.database import Database

from booking.conversations import TO_STAFF_INTENT
from booking.db import with_retries
from booking.handoff import HANDBACK, STAFF as STAFF_ITEM, TEMPLATE
from booking.models import NOT_BOOKINGS, Booking, whatsapp_number_of

CUSTOMER, BOT, STAFF, BOOKING = "customer", "bot", "staff", "booking"
NEWS_TRIGGER = "/EXTERNAL_"  # the server's own news for the dialogue (never a customer's)
TAPPED = "(tapped a button)"
STAFF_KINDS = (STAFF_ITEM, TEMPLATE)  # queued items the transcript shows while on their way
MAX_BOOKINGS = 100
_EPOCH = datetime.fromtimestamp(0, timezone.utc)  # an instant nothing recorded


@dataclass(frozen=True)
class Line:
    """One line of the transcript."""

    at: datetime  # aware UTC
    who: str  # CUSTOMER, BOT, STAFF or BOOKING
    text: str
    buttons: tuple[str, ...] = ()
    staff: str = ""  # who of the team sent it ("WhatsApp Business app" for the owner's echo)
    to_staff: bool = False  # the customer wrote while a person had the chat (no bot answer)
    pending: bool = False  # queued, not sent yet ("sending…")
    failed: bool = False  # could not be sent (``error`` says why)
    booking_code: str = ""
    error: str = ""
    booking: Optional[Booking] = None  # a BOOKING line's booking, as stored now


def _utc(moment: Optional[datetime]) -> Optional[datetime]:
    if moment is not None and moment.tzinfo is None:  # a client without tz_aware
        return moment.replace(tzinfo=timezone.utc)
    return moment


def _when(event: dict[str, Any], doc: dict[str, Any]) -> datetime:
    """An event's instant: its Rasa timestamp, else when it was stored."""
    stamp = event.get("timestamp")
    if isinstance(stamp, (int, float)):
        return datetime.fromtimestamp(stamp, timezone.utc)
    return _utc(doc.get("at")) or _EPOCH


def customer_text(event: dict[str, Any]) -> Optional[str]:
    """What the customer wrote or tapped, as a person reads it; None for the server's own news
    triggers (never shown)."""
    text = event.get("text") or ""
    metadata = event.get("metadata") if isinstance(event.get("metadata"), dict) else {}
    message_id = str(metadata.get("message_id") or "")
    if text.startswith(NEWS_TRIGGER) and (not message_id
                                          or message_id.startswith(f"{HANDBACK}:")):
        return None  # the server's (no customer message id): a customer's own text shows
    title = metadata.get("title")
    if isinstance(title, str) and title.strip():
        return title.strip()
    if metadata.get("kind") == "text":
        return text  # typed, whatever it looks like
    return TAPPED if text.startswith("/") else text


def custom_text(custom: Any) -> str:
    """A WhatsApp payload of a bot message (pay link, document, Flow, template) in words."""
    if not isinstance(custom, dict):
        return ""
    if isinstance(custom.get("whatsapp"), dict):  # an action's own short form
        custom = custom["whatsapp"]
    kind = custom.get("type")
    if kind == "interactive" and isinstance(custom.get("interactive"), dict):
        interactive = custom["interactive"]
        body = (interactive.get("body") or {}).get("text") or ""
        parameters = (interactive.get("action") or {}).get("parameters") or {}
        label = {"cta_url": parameters.get("display_text"),
                 "flow": parameters.get("flow_cta")}.get(interactive.get("type"))
        return f"{body} [{label}]".strip() if label else body
    if kind in ("cta_url", "flow"):  # the short form: text, display_text / cta
        label = custom.get("display_text") if kind == "cta_url" else custom.get("cta")
        body = custom.get("text") or ""
        return f"{body} [{label}]".strip() if label else body
    if kind == "document":
        document = custom.get("document") if isinstance(custom.get("document"), dict) else custom
        return f"📄 {document.get('filename') or 'document'}"
    if kind == "template":
        template = custom.get("template") if isinstance(custom.get("template"), dict) else custom
        return f"Template: {template.get('name') or ''}".strip()
    text = custom.get("text")
    if isinstance(text, dict):
        text = text.get("body")
    return text if isinstance(text, str) else ""


def bot_line(event: dict[str, Any], at: datetime) -> Optional[Line]:
    """A bot event as a line (a team member's when ``metadata.staff`` says who); None when it
    shows nothing."""
    data = event.get("data") if isinstance(event.get("data"), dict) else {}
    metadata = event.get("metadata") if isinstance(event.get("metadata"), dict) else {}
    buttons = tuple(str(b.get("title") or "") for b in data.get("buttons") or []
                    if isinstance(b, dict) and b.get("title"))
    parts = [p for p in (event.get("text") or "", custom_text(data.get("custom"))) if p]
    staff = metadata.get("staff")
    if not parts and staff and metadata.get("kind") == "template":
        parts = ["Template"]
    if not parts and not buttons:
        return None
    if isinstance(staff, str) and staff:
        return Line(at, STAFF, "\n".join(parts), buttons, staff=staff)
    return Line(at, BOT, "\n".join(parts), buttons)


def _customer_channel(customer_id: str) -> tuple[list[str], str]:
    """The tracker ids a customer id may be stored under, and its channel."""
    if whatsapp_number_of(customer_id):
        return [customer_id], "whatsapp"
    channel, _, sender = customer_id.partition(":")
    return ([customer_id, sender] if sender else [customer_id]), channel if sender else ""


class Transcript:
    """Reads a customer's conversation with a business for the console."""

    def __init__(self, db: Database, events_collection: str = "trackers_events",
                 default_business_id: Optional[str] = None) -> None:
        """``default_business_id``: the business of customers on a local chat (REST, shell),
        whose messages name none (``DEFAULT_BUSINESS_ID``)."""
        self.db, self.events = db, db[events_collection]
        self.default_business_id = default_business_id

    def lines(self, business_id: str, customer_id: str, limit: int = 300) -> list[Line]:
        """The latest ``limit`` events of the customer's tracker that belong to the business,
        oldest first, with their bookings; then the team's messages not sent yet."""
        senders, channel = _customer_channel(customer_id)
        sources: list[list[Line]] = []
        written: set[str] = set()
        first: Optional[datetime] = None
        cut = False
        for sender in senders:
            docs = with_retries(lambda: list(self.events.find(
                {"sender_id": sender}, {"_id": 0, "seq": 1, "at": 1, "event": 1}).sort(
                "seq", DESCENDING).limit(limit)))
            docs.reverse()
            if not docs:
                continue
            cut = cut or len(docs) == limit
            start = (self._business_before(sender, docs[0]["seq"], channel) if docs[0]["seq"]
                     else None)
            lines = list(self._tracker_lines(docs, business_id, channel, start, written))
            sources.append(lines)
            if lines:
                first = lines[0].at if first is None else min(first, lines[0].at)
        sources.append(self._booking_lines(business_id, customer_id, first if cut else None))
        sources.append(self._queued(business_id, customer_id, written))
        return list(heapq.merge(*sources, key=lambda line: line.at))

    def _owner(self, event: dict[str, Any], channel: str) -> Optional[str]:
        """The business a customer message was written to (None: none, or another channel's
        visitor under the same tracker id)."""
        metadata = event.get("metadata") if isinstance(event.get("metadata"), dict) else {}
        business_id = metadata.get("business_id")
        if isinstance(business_id, str) and business_id:
            return business_id
        if channel == "whatsapp" or event.get("input_channel") == "whatsapp":
            return None  # a WhatsApp message of no known business number was refused
        if channel and event.get("input_channel") not in (None, channel):
            return None
        return self.default_business_id

    def _business_before(self, sender: str, seq: int, channel: str) -> Optional[str]:
        """The business of the latest customer message before ``seq`` (the first bot lines
        of a cut transcript belong to it)."""
        doc = with_retries(lambda: self.events.find_one(
            {"sender_id": sender, "seq": {"$lt": seq}, "event.event": "user"},
            {"event": 1}, sort=[("seq", DESCENDING)]))
        return None if doc is None else self._owner(doc["event"], channel)

    def _tracker_lines(self, docs: Iterable[dict[str, Any]], business_id: str, channel: str,
                       current: Optional[str], written: set[str]) -> Iterator[Line]:
        for doc in docs:
            event = doc.get("event") if isinstance(doc.get("event"), dict) else {}
            kind = event.get("event")
            if kind == "user":
                current = self._owner(event, channel)
                text = customer_text(event)
                if current != business_id or text is None:
                    continue
                intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
                yield Line(_when(event, doc), CUSTOMER, text, to_staff=intent == TO_STAFF_INTENT)
            elif kind == "bot":
                metadata = event.get("metadata") if isinstance(event.get("metadata"), dict) else {}
                owner = metadata.get("business_id") or current
                if isinstance(metadata.get("item"), str):
                    written.add(metadata["item"])
                line = bot_line(event, _when(event, doc))
                if owner == business_id and line is not None:
                    yield line

    def _booking_lines(self, business_id: str, customer_id: str,
                       since: Optional[datetime]) -> list[Line]:
        """The customer's bookings with the business, by when they were made (from ``since``
        when the transcript is cut)."""
        query: dict[str, Any] = {"business_id": business_id, "customer_id": customer_id,
                                 "status": {"$nin": list(NOT_BOOKINGS)}}  # (offers)
        if since is not None:
            query["created_at"] = {"$gte": since}
        docs = with_retries(lambda: list(self.db.bookings.find(query).sort(
            "created_at", DESCENDING).limit(MAX_BOOKINGS)))
        bookings = [Booking.from_doc(d) for d in reversed(docs)]
        return [Line(_utc(b.created_at) or _EPOCH, BOOKING, f"Booked {b.code}",
                     booking_code=b.code, booking=b) for b in bookings]

    def _queued(self, business_id: str, customer_id: str, written: set[str]) -> list[Line]:
        """The team's messages still queued for the customer, or that failed."""
        docs = with_retries(lambda: list(self.db.wa_inbox.find(
            {"sender": customer_id, "business_id": business_id,
             "kind": {"$in": list(STAFF_KINDS)}, "status": {"$ne": "done"}}).sort(
            "seq", ASCENDING)))
        lines = []
        for doc in docs:
            if doc["_id"] in written:
                continue  # already in the conversation, its status not updated yet
            extra = doc.get("extra") if isinstance(doc.get("extra"), dict) else {}
            failed = doc.get("status") == "failed"
            text = doc.get("text") or ("Template" if doc.get("kind") == TEMPLATE else "")
            lines.append(Line(_utc(doc.get("received_at")) or _EPOCH,
                              STAFF, text, staff=str(extra.get("who") or ""),
                              pending=not failed, failed=failed,
                              booking_code=str(extra.get("booking") or ""),
                              error=(doc.get("error") or "unknown error") if failed else ""))
        return lines
