"""Webhook payloads of the WhatsApp Cloud API → typed inbound messages and statuses.

Pure and total: any JSON value gives a result or ``PayloadError``, never another exception.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Optional

SUPPORTED_TYPES = {"text", "interactive", "button", "location"}


class PayloadError(ValueError):
    """The body is JSON but not a WhatsApp webhook envelope."""


@dataclass(frozen=True)
class Inbound:
    """One customer message, reduced to what the bot needs.

    ``text`` is what Rasa receives (typed text, or a tap's payload); None for types the bot
    cannot read (media...), which get a polite reply instead.
    """

    message_id: str
    sender: str
    phone_number_id: str
    kind: str
    text: Optional[str]
    timestamp: int = 0
    profile_name: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Status:
    """A delivery receipt for one of our messages."""

    message_id: str
    status: str
    recipient: str
    timestamp: int = 0
    error_code: Optional[int] = None
    error_title: str = ""
    phone_number_id: str = ""


@dataclass(frozen=True)
class Echo:
    """What the business itself sent from the WhatsApp Business app on the same number
    (coexistence: ``smb_message_echoes``). Outbound: never a customer message."""

    message_id: str
    customer: str
    phone_number_id: str
    kind: str
    text: str
    timestamp: int = 0


@dataclass(frozen=True)
class Webhook:
    """Everything one POST carried."""

    messages: list[Inbound]
    statuses: list[Status]
    echoes: list[Echo] = field(default_factory=list)


def _str(value: Any, limit: int = 4096) -> Optional[str]:
    return value[:limit] if isinstance(value, str) and value else None


def _int(value: Any) -> int:
    """A Unix timestamp or code as sent (a string of ASCII digits, or a number); anything
    else, out of range, or digits of other scripts (``"²"``, ``"١٢"``: ``int`` reads those) is 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return 0
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
        return 0
    try:
        number = int(value)
    except (ValueError, OverflowError):  # OverflowError: int(float("inf"))
        return 0
    return number if 0 <= number < 2 ** 63 else 0  # must fit MongoDB's 64-bit integer


def _coordinate(value: Any, limit: float) -> Optional[float]:
    """A latitude/longitude as a float within ±limit, else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return number if -limit <= number <= limit else None


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def parse_webhook(body: Any) -> Webhook:
    """Every message and status of every entry and change, in order."""
    if not isinstance(body, dict) or body.get("object") != "whatsapp_business_account":
        raise PayloadError("not a whatsapp_business_account webhook")
    if not isinstance(body.get("entry"), list):
        raise PayloadError("'entry' must be a list")
    messages: list[Inbound] = []
    statuses: list[Status] = []
    echoes: list[Echo] = []
    for entry in body["entry"]:
        for change in _list(_dict(entry).get("changes")):
            change = _dict(change)
            value = _dict(change.get("value"))
            phone_number_id = _str(_dict(value.get("metadata")).get("phone_number_id"), 64)
            if change.get("field") == "smb_message_echoes":
                echoes += [e for e in (_echo(raw, phone_number_id)
                                       for raw in map(_dict, _list(value.get("message_echoes"))))
                           if e is not None]
                continue
            if change.get("field") != "messages":
                continue
            names = {_str(c.get("wa_id"), 64): _str(_dict(c.get("profile")).get("name"), 256)
                     for c in map(_dict, _list(value.get("contacts")))}
            for raw in map(_dict, _list(value.get("messages"))):
                message = _message(raw, phone_number_id, names)
                if message is not None:
                    messages.append(message)
            for raw in map(_dict, _list(value.get("statuses"))):
                status = _status(raw, phone_number_id or "")
                if status is not None:
                    statuses.append(status)
    return Webhook(messages, statuses, echoes)


def _echo(raw: dict, phone_number_id: Optional[str]) -> Optional[Echo]:
    """An echo of the owner's own message (``to`` is the customer), or None when it names no
    message, no customer (ASCII digits) or no business number."""
    message_id, customer = _str(raw.get("id"), 256), _str(raw.get("to"), 64)
    if message_id is None or customer is None or phone_number_id is None:
        return None
    if not customer.isascii() or not customer.isdigit() or len(customer) > 20:
        return None
    kind = _str(raw.get("type"), 32) or "unknown"
    text = _str(_dict(raw.get("text")).get("body")) if kind == "text" else None
    caption = _str(_dict(raw.get(kind)).get("caption"), 1024) if kind != "text" else None
    return Echo(message_id, customer, phone_number_id, kind, text or caption or f"({kind})",
                _int(raw.get("timestamp")))


def _message(raw: dict, phone_number_id: Optional[str],
             names: dict[Optional[str], Optional[str]]) -> Optional[Inbound]:
    message_id, sender = _str(raw.get("id"), 256), _str(raw.get("from"), 64)
    kind = _str(raw.get("type"), 32) or "unknown"
    if message_id is None or sender is None or phone_number_id is None:
        return None  # nothing we could answer or de-duplicate
    if not sender.isascii() or not sender.isdigit() or len(sender) > 20:
        return None  # a WhatsApp id is a phone number; never "rest:…" or another channel's
    text, extra = _text_of(kind, raw)
    return Inbound(message_id, sender, phone_number_id, kind, text, _int(raw.get("timestamp")),
                   names.get(sender) or "", extra)


def _text_of(kind: str, raw: dict) -> tuple[Optional[str], dict[str, Any]]:
    if kind == "text":
        return _str(_dict(raw.get("text")).get("body")), {}
    if kind == "button":  # a template quick reply
        button = _dict(raw.get("button"))
        return _str(button.get("payload"), 1024) or _str(button.get("text"), 256), {}
    if kind == "location":
        loc = _dict(raw.get("location"))
        place = ", ".join(p for p in (_str(loc.get("name"), 256), _str(loc.get("address"), 512)) if p)
        extra = {"latitude": _coordinate(loc.get("latitude"), 90),
                 "longitude": _coordinate(loc.get("longitude"), 180), "place": place}
        return f"my location: {place}" if place else "my location", extra
    if kind == "interactive":
        interactive = _dict(raw.get("interactive"))
        itype = interactive.get("type")
        if itype in ("button_reply", "list_reply"):
            reply = _dict(interactive.get(itype))
            return _str(reply.get("id"), 256) or _str(reply.get("title"), 256), {
                "title": _str(reply.get("title"), 256) or ""}
        if itype == "nfm_reply":
            reply = _dict(interactive.get("nfm_reply"))
            try:
                response = json.loads(reply.get("response_json") or "null")
            except (TypeError, ValueError):
                response = None
            if isinstance(response, dict):  # flat strings only: stored as sent, safely
                return None, {"flow_response": {
                    str(k)[:64]: v[:1024] if isinstance(v, str) else json.dumps(v)[:1024]
                    for k, v in list(response.items())[:50]}}
    return None, {}


def _status(raw: dict, phone_number_id: str) -> Optional[Status]:
    message_id, status = _str(raw.get("id"), 256), _str(raw.get("status"), 32)
    if message_id is None or status is None:
        return None
    errors = [_dict(e) for e in _list(raw.get("errors"))]
    code = _int(errors[0].get("code")) if errors else None
    title = (_str(errors[0].get("title"), 256) or "") if errors else ""
    return Status(message_id, status, _str(raw.get("recipient_id"), 64) or "",
                  _int(raw.get("timestamp")), code or None, title, phone_number_id)
