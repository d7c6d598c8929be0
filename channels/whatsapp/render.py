"""Rasa bot responses → WhatsApp Cloud API message payloads, always within Meta's limits.

Pure: returns payload dicts (without ``to``/``messaging_product``, which the sender adds).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from booking.i18n import Texts, texts

TEXT_MAX = 4096
BODY_MAX = 1024
BUTTON_TITLE_MAX = 20
BUTTON_ID_MAX = 256
LIST_BUTTON_MAX = 20
ROW_TITLE_MAX = 24
ROW_DESCRIPTION_MAX = 72
ROW_ID_MAX = 200
LIST_ROWS_MAX = 10
CTA_TEXT_MAX = 20
CAPTION_MAX = 1024
SECTION_TITLE_MAX = 24
TEMPLATE_PARAMETER_MAX = 200  # a body variable (the whole body stays within 1024)
MORE_PREFIX = "__more__:"


@dataclass(frozen=True)
class Choice:
    """A tappable option: what it says and what it sends back."""

    title: str
    payload: str


def fit(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when shortened."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def unique_titles(titles: list[str], limit: int, taken: tuple[str, ...] = ()) -> list[str]:
    """Titles fitted to ``limit`` and made unique (" 2", " 3"... when fitting collides), also
    against ``taken`` (a row the renderer adds itself, e.g. "More…")."""
    result: list[str] = []
    for title in titles:
        candidate, n = fit(title, limit), 2
        while candidate in result or candidate in taken:
            suffix = f" {n}"
            candidate = fit(title, limit - len(suffix)) + suffix
            n += 1
        result.append(candidate)
    return result


def split_text(text: str, limit: int = TEXT_MAX) -> list[str]:
    """Text in pieces of at most ``limit`` characters, cut at paragraph, line or word ends."""
    pieces, rest = [], text
    while len(rest) > limit:
        cut = next((c for c in (rest.rfind(sep, 0, limit) for sep in ("\n\n", "\n", " "))
                    if c > limit // 2), limit)  # paragraph, then line, then word end
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    return pieces + ([rest] if rest else [])


def text_message(text: str) -> list[dict[str, Any]]:
    """One or more text messages."""
    return [{"type": "text", "text": {"body": piece, "preview_url": False}}
            for piece in split_text(text)]


def _body_and_lead(text: str, limit: int, tx: Texts) -> tuple[list[dict[str, Any]], str]:
    """Long text goes first as text messages; the interactive body keeps the last part."""
    if len(text) <= limit:
        return [], text or tx("Please choose:")
    pieces = split_text(text, limit)
    return [m for p in pieces[:-1] for m in text_message(p)], pieces[-1]


def choices_message(text: str, choices: list[Choice], page_key: Optional[str] = None,
                    page: int = 0, tx: Texts = texts(None)) -> list[dict[str, Any]]:
    """≤ 3 choices: reply buttons; 4–10: a list; more: a list of 9 plus "More…" that pages
    (the list's own labels in ``tx``'s language)."""
    if len(choices) <= 3:
        lead, body = _body_and_lead(text, BODY_MAX, tx)
        titles = unique_titles([c.title for c in choices], BUTTON_TITLE_MAX)
        return lead + [{"type": "interactive", "interactive": {
            "type": "button", "body": {"text": body},
            "action": {"buttons": [{"type": "reply", "reply": {
                "id": c.payload[:BUTTON_ID_MAX], "title": t}} for c, t in zip(choices, titles)]}}}]
    per_page = LIST_ROWS_MAX if len(choices) <= LIST_ROWS_MAX else LIST_ROWS_MAX - 1
    shown = choices[page * per_page:(page + 1) * per_page]
    more = len(choices) > (page + 1) * per_page and page_key
    rows = [{"id": c.payload[:ROW_ID_MAX], "title": t} for c, t in
            zip(shown, unique_titles([c.title for c in shown], ROW_TITLE_MAX,
                                     (tx("More…"),) if more else ()))]
    for row, choice in zip(rows, shown):
        if fit(choice.title, ROW_TITLE_MAX) != " ".join(choice.title.split()):
            row["description"] = fit(choice.title, ROW_DESCRIPTION_MAX)
    if more:
        rows.append({"id": f"{MORE_PREFIX}{page_key}:{page + 1}", "title": tx("More…"),
                     "description": fit(tx("{count} more options", count=len(choices) - (
                         page + 1) * per_page), ROW_DESCRIPTION_MAX)})
    lead, body = _body_and_lead(text, TEXT_MAX, tx)
    return lead + [{"type": "interactive", "interactive": {
        "type": "list", "body": {"text": body},
        "action": {"button": fit(tx("Choose"), LIST_BUTTON_MAX), "sections": [
            {"title": fit(tx("Options"), SECTION_TITLE_MAX), "rows": rows}]}}}]


def custom_message(custom: dict[str, Any]) -> list[dict[str, Any]]:
    """A custom payload (``{"whatsapp": {...}}`` from an action) for types Rasa has no
    response for: cta_url (payment link), flow, document, template, image."""
    spec = custom.get("whatsapp") if isinstance(custom.get("whatsapp"), dict) else custom
    kind = spec.get("type")
    if kind == "cta_url":
        return [{"type": "interactive", "interactive": {
            "type": "cta_url", "body": {"text": fit(spec.get("text", ""), BODY_MAX)},
            "action": {"name": "cta_url", "parameters": {
                "display_text": fit(spec.get("display_text", "Open"), CTA_TEXT_MAX),
                "url": spec["url"]}}}}]
    if kind == "flow":
        parameters = {"flow_message_version": "3", "flow_token": spec["flow_token"],
                      "flow_id": spec["flow_id"],
                      "flow_cta": fit(spec.get("cta", "Book now"), CTA_TEXT_MAX),
                      "flow_action": spec.get("flow_action", "data_exchange")}
        if spec.get("mode"):
            parameters["mode"] = spec["mode"]
        return [{"type": "interactive", "interactive": {
            "type": "flow", "body": {"text": fit(spec.get("text", ""), BODY_MAX)},
            "action": {"name": "flow", "parameters": parameters}}}]
    if kind == "document":
        document = {k: spec[k] for k in ("id", "link", "filename") if spec.get(k)}
        if spec.get("caption"):
            document["caption"] = fit(spec["caption"], CAPTION_MAX)
        return [{"type": "document", "document": document}]
    if kind == "image":
        image = {k: spec[k] for k in ("id", "link") if spec.get(k)}
        if spec.get("caption"):
            image["caption"] = fit(spec["caption"], CAPTION_MAX)
        return [{"type": "image", "image": image}]
    if kind == "template":
        return [{"type": "template", "template": {
            "name": spec["name"], "language": {"code": spec.get("language", "en")},
            "components": spec.get("components", [])}}]
    raise ValueError(f"unsupported custom WhatsApp message type {kind!r}")


def template_message(name: str, language_code: str, parameters: list[str],
                     payloads: list[str]) -> dict[str, Any]:
    """An approved template with its body's variables (in order) and, for each quick-reply
    button in order, the payload its tap sends back (as a ``button`` message)."""
    components: list[dict[str, Any]] = []
    if parameters:
        components.append({"type": "body", "parameters": [
            {"type": "text", "text": fit(str(p), TEMPLATE_PARAMETER_MAX)} for p in parameters]})
    components += [{"type": "button", "sub_type": "quick_reply", "index": str(i),
                    "parameters": [{"type": "payload", "payload": payload}]}
                   for i, payload in enumerate(payloads)]
    return {"type": "template", "template": {"name": name, "language": {"code": language_code},
                                             "components": components}}
