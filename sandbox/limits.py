"""What the Cloud API refuses: an outbound ``/messages`` body checked against Meta's rules, so
the Graph stand-in answers like Meta and the phone page shows a red bubble naming the rule.

Codes as in Meta's "WhatsApp error codes": 100 (a parameter of the wrong JSON type, or
unsupported), 131008 (a required parameter is missing), 131009 (a value is not valid: lengths,
counts, enums, URLs, duplicates), 132000 (template parameter count mismatch), 132001 (no such
template in that language). Titles are what Graph writes in ``error.message``. Pure: no I/O.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, Optional

INVALID_PARAMETER, MISSING, NOT_VALID = 100, 131008, 131009
PARAM_COUNT, NO_TEMPLATE = 132000, 132001
TITLES = {INVALID_PARAMETER: "Invalid parameter", MISSING: "Required parameter is missing",
          NOT_VALID: "Parameter value is not valid",
          PARAM_COUNT: "Number of parameters does not match the expected number of params",
          NO_TEMPLATE: "Template name does not exist in the translation"}
TEXT_MAX, BODY_MAX, CAPTION_MAX, HEADER_MAX, FOOTER_MAX = 4096, 1024, 1024, 60, 60
MEDIA_HEADERS = ("text", "image", "video", "document")
INTERACTIVE = {"button": (BODY_MAX, MEDIA_HEADERS), "list": (TEXT_MAX, ("text",)),
               "cta_url": (BODY_MAX, MEDIA_HEADERS), "flow": (BODY_MAX, ("text",))}
MEDIA = {"image": True, "video": True, "document": True, "audio": False, "sticker": False}
URL = re.compile(r"https?://[^\s/?#]+\S*\Z", re.IGNORECASE)
PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")
JSON_NAMES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
              int: "a number", float: "a number"}


@dataclass(frozen=True)
class Violation:
    """One broken rule: the Graph error ``code`` Meta would answer, its ``title``, and a short
    sentence naming the field and the limit (``rule``)."""

    code: int
    title: str
    rule: str


def is_read_receipt(body: Any) -> bool:
    """Whether ``body`` marks a customer's message read (``{"status": "read", "message_id"}``,
    optionally with ``typing_indicator``) instead of sending a message."""
    return isinstance(body, dict) and body.get("status") == "read" and "type" not in body


def violations(body: Any, templates: Mapping[str, Mapping[str, dict]]) -> list[Violation]:
    """Every Cloud API rule ``body`` breaks, in field order; empty when Meta would accept it.
    Read receipts get their own rules (``message_id`` required). Never raises.

    ``templates`` are the approved templates, name → language code → ``{"body": text with
    {{1}}…, "header": optional text, "footer": optional, "buttons": [{"type": "QUICK_REPLY" |
    "URL", "text", "url"}]}`` (``sandbox/templates.json``)."""
    check = _Check(templates if isinstance(templates, Mapping) else {})
    check.envelope(body)
    return check.found


def _json_type(value: Any) -> str:
    """The JSON name of ``value``'s type ("an object", "null"…)."""
    return "null" if value is None else JSON_NAMES.get(type(value), type(value).__name__)


def _show(value: Any) -> str:
    """``value`` quoted for a rule, cut to a readable length."""
    try:
        text = repr(value)
    except (ValueError, RecursionError):  # an integer too long to print, or too deep
        text = f"<{_json_type(value)}>"
    return text if len(text) <= 40 else text[:39] + "…"


def _plural(n: int, word: str) -> str:
    """``1 button``, ``3 buttons``."""
    return f"{n} {word}" + ("" if n == 1 else "s")


def _placeholders(text: Any) -> int:
    """How many distinct ``{{1}}`` / ``{{name}}`` variables ``text`` has."""
    return len(set(PLACEHOLDER.findall(text))) if isinstance(text, str) else 0


class _Check:
    """The violations of one body. Accessors take any value: a parent that is not an object
    was reported already, so its fields are skipped silently."""

    def __init__(self, templates: Mapping) -> None:
        self.templates = templates
        self.found: list[Violation] = []

    def add(self, code: int, rule: str) -> None:
        """Record one broken rule under its Graph code."""
        self.found.append(Violation(code, TITLES[code], rule))

    def field(self, parent: Any, key: str, base: str, kind: Any, required: bool = True) -> Any:
        """``parent[key]`` when present with JSON type ``kind`` (a type or tuple); otherwise
        None, reported as missing (when ``required``) or as the wrong type."""
        if not isinstance(parent, dict):
            return None
        value, path = parent.get(key), f"{base}.{key}" if base else key
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if value is None and required:
            self.add(MISSING, f"{path}: required")
        elif value is not None and (not isinstance(value, kinds)
                                    or isinstance(value, bool) and bool not in kinds):
            self.add(INVALID_PARAMETER, f"{path}: must be {JSON_NAMES[kinds[0]]} "
                                        f"(got {_json_type(value)})")
            return None
        return value

    def text(self, parent: Any, key: str, base: str, most: Optional[int] = None,
             least: int = 1, required: bool = True) -> Optional[str]:
        """A string field of ``least``..``most`` characters."""
        value = self.field(parent, key, base, str, required)
        if value is not None:
            self.size(len(value), f"{base}.{key}" if base else key, least, most, "character")
        return value

    def size(self, n: Any, path: str, least: int, most: Optional[int], unit: str) -> None:
        """``n`` (a count, or a list to count; None was reported) in ``least``..``most``."""
        n = len(n) if isinstance(n, list) else n
        if n is None:
            return
        if n < least:
            self.add(NOT_VALID, f"{path}: at least {_plural(least, unit)} (got {n})")
        elif most is not None and n > most:
            self.add(NOT_VALID, f"{path}: at most {_plural(most, unit)} (got {n})")

    def choice(self, parent: Any, key: str, base: str, allowed: tuple,
               required: bool = True, fold: bool = False) -> Optional[str]:
        """A string field that must be one of ``allowed`` (lower-cased first when ``fold``)."""
        value = self.field(parent, key, base, str, required)
        value = value.lower() if fold and value is not None else value
        if value is not None and value not in allowed:
            self.add(NOT_VALID, f"{base + '.' if base else ''}{key}: must be "
                                f"{' or '.join(map(repr, allowed))} (got {_show(value)})")
            return None
        return value

    def items(self, values: Any, path: str) -> Iterator[tuple[str, dict]]:
        """``(path[i], item)`` for each object of the list ``values``; others are reported."""
        for i, item in enumerate(values if isinstance(values, list) else []):
            if isinstance(item, dict):
                yield f"{path}[{i}]", item
            else:
                self.add(INVALID_PARAMETER, f"{path}[{i}]: must be an object "
                                            f"(got {_json_type(item)})")

    def unique(self, pairs: list[tuple[str, Optional[str]]]) -> None:
        """Each non-None value only once; ``pairs`` are ``(path, value)``."""
        seen: dict[str, str] = {}
        for path, value in pairs:
            if value is not None and value in seen:
                self.add(NOT_VALID, f"{path}: must be unique ({_show(value)} repeats "
                                    f"{seen[value]})")
            elif value is not None:
                seen[value] = path

    def url(self, value: Optional[str], path: str) -> None:
        """An http(s) URL (None was reported already)."""
        if value is not None and not URL.match(value):
            self.add(NOT_VALID, f"{path}: must be an http(s) URL (got {_show(value)})")

    def media(self, media: Any, base: str) -> None:
        """A media object: exactly one of ``id`` (uploaded media) or ``link`` (http(s) URL)."""
        ident = self.text(media, "id", base, required=False)
        link = self.text(media, "link", base, required=False)
        if isinstance(media, dict) and media.get("id") is None and media.get("link") is None:
            self.add(MISSING, f"{base}: id or link is required")
        elif ident is not None and link is not None:
            self.add(NOT_VALID, f"{base}: give id or link, not both")
        self.url(link, f"{base}.link")

    def envelope(self, body: Any) -> None:
        """``messaging_product``, then a read receipt or ``to``, ``type`` and its object."""
        if not isinstance(body, dict):
            return self.add(INVALID_PARAMETER, f"body: must be a JSON object "
                                               f"(got {_json_type(body)})")
        product = body.get("messaging_product")
        if product != "whatsapp":
            self.add(INVALID_PARAMETER, "messaging_product: required, must be 'whatsapp'"
                     + ("" if product is None else f" (got {_show(product)})"))
        if "status" in body and "type" not in body:
            self.choice(body, "status", "", ("read",))
            self.text(body, "message_id", "")
            typing = self.field(body, "typing_indicator", "", dict, required=False)
            self.choice(typing, "type", "typing_indicator", ("text",))
            return None
        self.choice(body, "recipient_type", "", ("individual", "group"), required=False)
        self.text(body, "to", "")
        kind = "text" if body.get("type") is None else body["type"]  # Meta's default type
        if not isinstance(kind, str):
            return self.add(INVALID_PARAMETER, f"type: must be a string (got {_json_type(kind)})")
        if kind not in MESSAGES:
            return self.add(NOT_VALID, f"type: must be one of {', '.join(MESSAGES)} "
                                       f"(got {_show(kind)})")
        payload = self.field(body, kind, "", list if kind == "contacts" else dict)
        if payload is not None:
            MESSAGES[kind](self, payload)

    def text_message(self, text: dict) -> None:
        """``body`` of 1..4096 characters; ``preview_url`` a boolean when given."""
        self.text(text, "body", "text", TEXT_MAX)
        self.field(text, "preview_url", "text", bool, required=False)

    def media_message(self, kind: str, media: dict) -> None:
        """image, video, document (these with a caption), audio, sticker."""
        self.media(media, kind)
        if MEDIA[kind]:
            self.text(media, "caption", kind, CAPTION_MAX, least=0, required=False)
        elif "caption" in media:
            self.add(INVALID_PARAMETER, f"{kind}.caption: {kind} messages take no caption")
        if kind == "document":
            self.text(media, "filename", kind, required=False)

    def location(self, location: dict) -> None:
        """Latitude and longitude (numbers, or numeric strings) in range; name, address."""
        for key, bound in (("latitude", 90), ("longitude", 180)):
            value = self.field(location, key, "location", (float, int, str))
            try:
                number = 0.0 if value is None else float(value)
            except (ValueError, OverflowError):
                number = math.nan
            if not (math.isfinite(number) and abs(number) <= bound):
                self.add(NOT_VALID, f"location.{key}: a number from -{bound} to {bound} "
                                    f"(got {_show(value)})")
        for key in ("name", "address"):
            self.text(location, key, "location", least=0, required=False)

    def reaction(self, reaction: dict) -> None:
        """The ``message_id`` reacted to and the ``emoji``."""
        self.text(reaction, "message_id", "reaction")
        self.text(reaction, "emoji", "reaction", least=0)  # "" takes the reaction back

    def contacts(self, contacts: list) -> None:
        """At least one contact card, each with ``name.formatted_name``."""
        self.size(contacts, "contacts", 1, None, "contact")
        for path, contact in self.items(contacts, "contacts"):
            self.text(self.field(contact, "name", path, dict), "formatted_name", f"{path}.name")

    def interactive(self, inter: dict) -> None:
        """Reply buttons, list, CTA URL or Flow: body, footer, header, then the action."""
        kind = self.choice(inter, "type", "interactive", tuple(INTERACTIVE))
        if kind is None:
            return
        body_max, header_types = INTERACTIVE[kind]
        self.text(self.field(inter, "body", "interactive", dict), "text", "interactive.body",
                  body_max)
        self.text(self.field(inter, "footer", "interactive", dict, required=False), "text",
                  "interactive.footer", FOOTER_MAX)
        header = self.field(inter, "header", "interactive", dict, required=False)
        part = self.choice(header, "type", "interactive.header", header_types)
        if part == "text":
            self.text(header, "text", "interactive.header", HEADER_MAX)
        elif part is not None:
            self.media(self.field(header, part, "interactive.header", dict),
                       f"interactive.header.{part}")
        action = self.field(inter, "action", "interactive", dict)
        if action is not None:
            getattr(self, f"{kind}_action")(action)

    def button_action(self, action: dict) -> None:
        """1..3 reply buttons; ids of 1..256 and titles of 1..20 characters, each unique."""
        buttons = self.field(action, "buttons", "interactive.action", list)
        self.size(buttons, "interactive.action.buttons", 1, 3, "button")
        ids, titles = [], []
        for path, button in self.items(buttons, "interactive.action.buttons"):
            self.choice(button, "type", path, ("reply",))
            reply = self.field(button, "reply", path, dict)
            ids.append((f"{path}.reply.id", self.text(reply, "id", f"{path}.reply", 256)))
            titles.append((f"{path}.reply.title", self.text(reply, "title", f"{path}.reply", 20)))
        self.unique(ids)
        self.unique(titles)

    def list_action(self, action: dict) -> None:
        """The list button text, 1..10 sections (titled when several), 10 rows in all."""
        self.text(action, "button", "interactive.action", 20)
        sections = self.field(action, "sections", "interactive.action", list)
        self.size(sections, "interactive.action.sections", 1, 10, "section")
        ids, total = [], 0
        for path, section in self.items(sections, "interactive.action.sections"):
            self.text(section, "title", path, 24, required=len(sections) > 1)
            rows = self.field(section, "rows", path, list)
            self.size(rows, f"{path}.rows", 1, None, "row")
            total += len(rows or [])
            for row_path, row in self.items(rows, f"{path}.rows"):
                ids.append((f"{row_path}.id", self.text(row, "id", row_path, 200)))
                self.text(row, "title", row_path, 24)
                self.text(row, "description", row_path, 72, least=0, required=False)
        if total > 10:
            self.add(NOT_VALID, f"interactive.action.sections: at most 10 rows in total "
                                f"(got {total})")
        self.unique(ids)

    def cta_url_action(self, action: dict) -> None:
        """``name`` "cta_url", a ``display_text`` of 1..20 characters and an http(s) URL."""
        self.choice(action, "name", "interactive.action", ("cta_url",))
        parameters = self.field(action, "parameters", "interactive.action", dict)
        self.text(parameters, "display_text", "interactive.action.parameters", 20)
        self.url(self.field(parameters, "url", "interactive.action.parameters", str),
                 "interactive.action.parameters.url")

    def flow_action(self, action: dict) -> None:
        """``name`` "flow" and the Flow parameters of ``flow_message_version`` "3"."""
        self.choice(action, "name", "interactive.action", ("flow",))
        base = "interactive.action.parameters"
        params = self.field(action, "parameters", "interactive.action", dict)
        if params is None:
            return
        self.choice(params, "flow_message_version", base, ("3",))
        flow_id = self.text(params, "flow_id", base, required=False)
        flow_name = self.text(params, "flow_name", base, required=False)
        if params.get("flow_id") is None and params.get("flow_name") is None:
            self.add(MISSING, f"{base}: flow_id or flow_name is required")
        elif flow_id is not None and flow_name is not None:
            self.add(NOT_VALID, f"{base}: give flow_id or flow_name, not both")
        self.text(params, "flow_token", base, required=False)  # Meta's default: "unused"
        self.text(params, "flow_cta", base, 20)  # "no emoji" is only Meta's advice
        self.choice(params, "mode", base, ("published", "draft"), required=False)
        flow_action = self.choice(params, "flow_action", base, ("navigate", "data_exchange"),
                                  required=False) or params.get("flow_action") or "navigate"
        payload = self.field(params, "flow_action_payload", base, dict, required=False)
        if flow_action == "data_exchange" and payload is not None:
            self.add(NOT_VALID, f"{base}.flow_action_payload: only with flow_action 'navigate'")
        elif flow_action == "navigate" and params.get("flow_action_payload") is None:
            self.add(MISSING, f"{base}.flow_action_payload: required with flow_action 'navigate'")
        elif flow_action == "navigate":
            self.text(payload, "screen", f"{base}.flow_action_payload")
            if self.field(payload, "data", f"{base}.flow_action_payload", dict, False) == {}:
                self.add(NOT_VALID, f"{base}.flow_action_payload.data: not empty when given")

    def template(self, template: dict) -> None:
        """An approved template in an approved language, with one parameter per variable."""
        name = self.text(template, "name", "template", 512)
        code = self.text(self.field(template, "language", "template", dict), "code",
                         "template.language")
        components = self.field(template, "components", "template", list, required=False)
        if name is None or code is None:
            return
        translations = self.templates.get(name)
        if not isinstance(translations, Mapping):
            return self.add(NO_TEMPLATE, f"template.name: no approved template {_show(name)}")
        approved = translations.get(code)
        if not isinstance(approved, Mapping):
            return self.add(NO_TEMPLATE, f"template.language.code: {name} does not exist in "
                            f"{_show(code)} (approved: {', '.join(map(str, translations))})")
        buttons = approved.get("buttons") if isinstance(approved.get("buttons"), list) else []
        buttons = [b for b in buttons if isinstance(b, Mapping)]
        sent: dict[str, int] = {}
        for path, component in self.items(components, "template.components"):
            kind = self.choice(component, "type", path, ("header", "body", "button"), fold=True)
            if kind is None:
                continue
            if kind == "button":
                index, count = self.template_button(component, path, buttons)
                if index is None:
                    continue
                key = f"button {index}"
            else:
                key, count = kind, self.parameters(component, path)
            if key in sent:
                self.add(NOT_VALID, f"{path}: {key} is given twice")
            sent[key] = count
        expected = {"header": approved.get("header"), "body": approved.get("body")}
        expected.update({f"button {i}": b.get("url") for i, b in enumerate(buttons)
                         if str(b.get("type", "")).upper() == "URL"})
        for key, text in expected.items():
            if _placeholders(text) != sent.get(key, 0):
                self.add(PARAM_COUNT, f"template.components[{key}].parameters: {name} ({code}) "
                                      f"{key} takes {_placeholders(text)} (got {sent.get(key, 0)})")

    def template_button(self, component: dict, path: str,
                        buttons: list) -> tuple[Optional[int], int]:
        """A button component, whose ``index`` names a button of that ``sub_type``: the
        index (None when not valid) and how many parameters it sends."""
        sub_type = self.choice(component, "sub_type", path, ("quick_reply", "url"), fold=True)
        index = self.field(component, "index", path, (str, int))
        count = self.parameters(component, path)
        i = index if isinstance(index, int) else \
            int(index) if isinstance(index, str) and index.isdecimal() and len(index) < 9 else -1
        if index is not None and not 0 <= i < len(buttons):
            self.add(NOT_VALID, f"{path}.index: the template has "
                                f"{_plural(len(buttons), 'button')} (got {_show(index)})")
        elif index is not None and sub_type and str(buttons[i].get("type")).lower() != sub_type:
            self.add(NOT_VALID, f"{path}.sub_type: button {i} is "
                                f"{str(buttons[i].get('type')).upper()} (got {_show(sub_type)})")
        return (i if 0 <= i < len(buttons) else None), count

    def parameters(self, component: dict, path: str) -> int:
        """How many parameters a component sends; each typed, a text one not empty."""
        parameters = self.field(component, "parameters", path, list)
        for param_path, parameter in self.items(parameters, f"{path}.parameters"):
            if self.field(parameter, "type", param_path, str) == "text":
                self.text(parameter, "text", param_path)
        return len(parameters or [])


MESSAGES: dict[str, Callable[[_Check, Any], None]] = {
    "text": _Check.text_message, "interactive": _Check.interactive, "template": _Check.template,
    **{kind: (lambda check, media, kind=kind: check.media_message(kind, media)) for kind in MEDIA},
    "location": _Check.location, "reaction": _Check.reaction, "contacts": _Check.contacts}
