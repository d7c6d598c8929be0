"""What a customer can send, built the way the WhatsApp client builds it: typed text, a shared
location, a photo, and taps on what the bot sent. A tap is answered from the bot's own message
(the reply id, title and description the bot gave, the payload of the template's button), so
the phone page can no more invent a reply id or a Flow completion than a WhatsApp user can.
Fields are whitelisted and held to WhatsApp's sizes; anything else is ``Refused`` (a 400)."""
from __future__ import annotations

import math
from typing import Any, Callable, Optional

TEXT_MAX = 4096
NAME_MAX, ADDRESS_MAX, CAPTION_MAX = 256, 512, 1024
KINDS = ("text", "interactive", "button", "location", "image")
Lookup = Callable[[str], Optional[dict[str, Any]]]  # message id -> kept message of this chat


class Refused(ValueError):
    """Not something a customer could send."""


def content(raw: Any, find: Lookup, templates: dict[str, Any]) -> tuple[str, dict, Optional[str]]:
    """(type, that type's object, quoted message id) of what the page sent; ``find`` gives a
    message kept in this chat by id. Images come back with their ``data_url`` to store."""
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str) or \
            raw["type"] not in KINDS:
        raise Refused(f"message.type must be one of {list(KINDS)}")
    kind, given = raw["type"], raw.get(raw["type"])
    if not isinstance(given, dict):
        raise Refused(f"message.{kind} must be an object")
    context = raw.get("context")
    quoted = context.get("id") if isinstance(context, dict) else None
    if quoted is not None and (not isinstance(quoted, str) or find(quoted) is None):
        raise Refused("context.id must name a message of this chat")
    if kind in ("interactive", "button"):
        bot = find(quoted) if quoted else None
        if bot is None or bot.get("direction") != "out":
            raise Refused("a tap must quote (context.id) the bot message it answers")
        return kind, tap(kind, given, bot["message"], templates), quoted
    builders = {"text": _text, "location": _location, "image": _image}
    return kind, builders[kind](given), quoted


def _text(given: dict[str, Any]) -> dict[str, Any]:
    body = given.get("body")
    if not isinstance(body, str) or not 0 < len(body) <= TEXT_MAX:
        raise Refused(f"message.text.body must be 1 to {TEXT_MAX} characters")
    return {"body": body}


def _location(given: dict[str, Any]) -> dict[str, Any]:
    place: dict[str, Any] = {}
    for axis, limit in (("latitude", 90), ("longitude", 180)):
        value = given.get(axis)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                not math.isfinite(value) or abs(value) > limit:
            raise Refused(f"message.location.{axis} must be a number within ±{limit}")
        place[axis] = value
    for field, limit in (("name", NAME_MAX), ("address", ADDRESS_MAX)):
        if isinstance(given.get(field), str) and given[field]:
            place[field] = given[field][:limit]
    return place


def _image(given: dict[str, Any]) -> dict[str, Any]:
    image = {"data_url": given.get("data_url")}  # checked and stored by the phone
    if isinstance(given.get("caption"), str) and given["caption"]:
        image["caption"] = given["caption"][:CAPTION_MAX]
    return image


def tap(kind: str, given: dict[str, Any], bot: dict[str, Any],
        templates: dict[str, Any]) -> dict[str, Any]:
    """The reply WhatsApp sends for a tap on ``bot`` (the Graph body the bot sent)."""
    if kind == "button":
        return _quick_reply(given, bot, templates)
    reply_kind = given.get("type")
    chosen = given.get(reply_kind) if isinstance(reply_kind, str) else None
    reply_id = chosen.get("id") if isinstance(chosen, dict) else None
    interactive = bot.get("interactive") if bot.get("type") == "interactive" else None
    offered = _offered(interactive or {}, reply_kind)
    match = next((o for o in offered if o["id"] == reply_id), None)
    if match is None:
        raise Refused(f"the quoted message offers no {reply_kind} with that id")
    return {"type": reply_kind, reply_kind: match}


def _offered(interactive: dict[str, Any], reply_kind: Any) -> list[dict[str, Any]]:
    action = interactive.get("action") or {}
    if reply_kind == "button_reply" and interactive.get("type") == "button":
        return [{"id": b["reply"]["id"], "title": b["reply"]["title"]}
                for b in action.get("buttons") or []]
    if reply_kind == "list_reply" and interactive.get("type") == "list":
        return [{k: row[k] for k in ("id", "title", "description") if k in row}
                for section in action.get("sections") or [] for row in section.get("rows") or []]
    return []


def _quick_reply(given: dict[str, Any], bot: dict[str, Any],
                 templates: dict[str, Any]) -> dict[str, Any]:
    template = bot.get("template") if bot.get("type") == "template" else None
    if not isinstance(template, dict):
        raise Refused("a template button must quote the template")
    language = (template.get("language") or {}).get("code")
    definition = (templates.get(template.get("name")) or {}).get(language) or {}
    buttons = definition.get("buttons") or []
    index = next((i for i, b in enumerate(buttons) if b.get("type") == "QUICK_REPLY"
                  and b.get("text") == given.get("text")), None)
    if index is None:
        raise Refused("the quoted template has no quick reply with that text")
    payload = buttons[index]["text"]
    for component in template.get("components") or []:
        if str(component.get("type")).lower() == "button" and \
                str(component.get("index")) == str(index):
            parameters = component.get("parameters") or [{}]
            payload = parameters[0].get("payload") or payload
    return {"payload": payload, "text": buttons[index]["text"]}
